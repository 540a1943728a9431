"""Run a benchmark script in its quick mode, as the benchmark tests do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lib import paths


def run_benchmark(name: str, *args: str, timeout: float = 600) -> dict:
    """``benchmarks/<name> --quick ARGS`` in a subprocess: it must exit 0 and end with one
    JSON line of figures, which is returned."""
    done = subprocess.run(
        [sys.executable, str(paths.PROJ_ROOT / "benchmarks" / name), "--quick", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
