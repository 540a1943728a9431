"""From nothing to the first score: seconds and memory to start listening for the trigger.

Each system starts in a fresh Python process, loads its model, makes its detector and scores
one 80 ms chunk; the benchmark measures the wall time from starting the process to that first
score and the process's peak resident memory (``os.wait4``'s ``ru_maxrss``):

- ours, Keras folder: ``lib.trigger.load_model()`` on the shipped ``checkpoints/trigger/hey_joe``
  (imports TensorFlow to read ``model.keras``), then the streaming detector;
- ours, exported: the same model exported by ``heyjoe export`` to one ``.npz`` file (weights
  with BatchNorm folded in), loaded with numpy only — the streaming detector is the same code;
- openWakeWord 0.5.1 with its bundled ONNX ``hey_jarvis`` model (onnxruntime), if importable
  (``pip install -e .[bench]``); otherwise the JSON says why and still reports ours.

Each is started ``--repeats`` times (the median time and the largest memory are reported);
the first start of each warms the file cache and is not counted.
Usage: .venv/bin/python benchmarks/startup.py [--quick] [--repeats 5]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OURS = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from lib.trigger import StreamingDetector, load_model
det = StreamingDetector(load_model({model!r}))
det.process(np.zeros(1280, np.float32))
print("tensorflow" in sys.modules)
"""

OWW = """
import sys
import numpy as np
import openwakeword
from openwakeword.model import Model
paths = [p for p in openwakeword.get_pretrained_model_paths("onnx") if "hey_jarvis" in p]
model = Model(wakeword_models=paths, inference_framework="onnx")
model.predict(np.zeros(1280, np.int16))
print("tensorflow" in sys.modules)
"""


def start(code: str) -> tuple[float, float, bool]:
    """(seconds to the first score, peak memory MB, whether TensorFlow was imported)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own resource usage
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"the start failed:\n{err.read()[-2000:]}")
        lines = out.read().strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, bool(lines) and lines[-1] == "True"


def measure(code: str, repeats: int) -> dict:
    start(code)  # warm the file cache
    runs = [start(code) for _ in range(repeats)]
    return {
        "seconds": round(statistics.median(r[0] for r in runs), 3),
        "rss_mb": round(max(r[1] for r in runs), 1),
        "tensorflow": any(r[2] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one start each")
    parser.add_argument("--repeats", type=int, default=5, help="starts per system")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "hey_joe.npz"
        subprocess.run([sys.executable, "-m", "lib", "export", "--out", str(npz)], cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
        results = {
            "ours_keras": measure(OURS.format(root=str(ROOT), model=None), repeats),
            "ours_export": measure(OURS.format(root=str(ROOT), model=str(npz)), repeats),
        }
        try:
            import openwakeword  # noqa: F401
        except Exception as exc:  # noqa: BLE001 — not installed, or its imports fail
            results["openwakeword"] = {"seconds": None, "rss_mb": None,
                                       "note": f"openwakeword not importable ({exc})"}  # fmt: skip
        else:
            results["openwakeword"] = measure(OWW, repeats)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    k, e, o = results["ours_keras"], results["ours_export"], results["openwakeword"]
    figures = {
        "benchmark": "startup",
        "repeats": repeats,
        "ours_keras_seconds": k["seconds"],
        "ours_export_seconds": e["seconds"],
        "openwakeword_seconds": o["seconds"],
        "ours_keras_rss_mb": k["rss_mb"],
        "ours_export_rss_mb": e["rss_mb"],
        "openwakeword_rss_mb": o["rss_mb"],
        "export_imports_tensorflow": e["tensorflow"],
        "seconds_ratio_export_over_keras": ratio(e["seconds"], k["seconds"]),
        "seconds_ratio_export_over_openwakeword": ratio(e["seconds"], o["seconds"]),
        "rss_ratio_export_over_keras": ratio(e["rss_mb"], k["rss_mb"]),
        "rss_ratio_export_over_openwakeword": ratio(e["rss_mb"], o["rss_mb"]),
        "openwakeword_note": o.get("note"),
        "quick": args.quick,
    }
    print(f"{'system':<24} {'s to 1st score':>15} {'peak MB':>9}", file=sys.stderr)
    for name, r in results.items():
        s = "n/a" if r["seconds"] is None else f"{r['seconds']:.2f}"
        m = "n/a" if r["rss_mb"] is None else f"{r['rss_mb']:.0f}"
        print(f"{name:<24} {s:>15} {m:>9}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
