"""Shared fixtures: every test works in its own data, checkpoint and run folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point data/, checkpoints/ and runs/ at temporary folders so tests never touch the repo."""
    root = tmp_path_factory.mktemp("heyjoe")
    for name, sub in (
        ("HEYJOE_DATA_DIR", "data"),
        ("HEYJOE_CHECKPOINTS_DIR", "checkpoints"),
        ("HEYJOE_RUNS_DIR", "runs"),
    ):
        (root / sub).mkdir()
        monkeypatch.setenv(name, str(root / sub))
    monkeypatch.delenv("HEYJOE_RUN_DIR", raising=False)
    return root


@pytest.fixture
def data_dir(isolated_dirs: Path) -> Path:
    return isolated_dirs / "data"
