"""Where things live. Every other module asks here; no notebook builds paths by hand.

The data, checkpoint and run folders can be moved with environment variables
(``HEYJOE_DATA_DIR``, ``HEYJOE_CHECKPOINTS_DIR``, ``HEYJOE_RUNS_DIR``) so tests and
SageMaker jobs work on their own copies without touching the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
CONFIGS_DIR = PROJ_ROOT / "configs"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of raw clips, recordings and built datasets (``data/``)."""
    return _dir("HEYJOE_DATA_DIR", PROJ_ROOT / "data")


def raw_dir() -> Path:
    """The raw corpus: ``activates/``, ``negatives/``, ``backgrounds/`` and ``manifest.csv``."""
    return data_dir() / "raw"


def datasets_dir() -> Path:
    """Named, built datasets, one folder each."""
    return data_dir() / "datasets"


def recordings_dir() -> Path:
    """Real recordings dropped in by the user (hand-labelling)."""
    return data_dir() / "recordings"


def checkpoints_dir() -> Path:
    """Trained models, one folder each, with their model cards."""
    return _dir("HEYJOE_CHECKPOINTS_DIR", PROJ_ROOT / "checkpoints")


def runs_dir() -> Path:
    """Run records written by ``heyjoe run`` and by notebooks run interactively."""
    return _dir("HEYJOE_RUNS_DIR", PROJ_ROOT / "runs")
