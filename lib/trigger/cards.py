"""Model directories, model cards and lineage.

Every trained trigger model is a directory::

    <name>/
        model.keras        the Keras model (weights + architecture; loaded with safe_mode=True)
        model_card.json    what it is and where it came from (validated on every read)
        run/               the run record of the training run (params, environment, metrics, logs)

The card makes the notes' naming scheme (``my_model18_14002c_30e_100b_hl1and2_sagem``) data:
parent model, datasets and their proportions, epochs, batch size, learning rate, seed, where it
was trained, metrics, trigger phrase, feature settings and detection threshold.

Models live under the repository's ``checkpoints/trigger/`` (shipped) and under
``paths.checkpoints_dir()/trigger/`` (trained here); :func:`list_models` lists both.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

from lib import paths
from lib.errors import ConfigError, HeyJoeError
from lib.files import write_json

log = logging.getLogger(__name__)

CARD = "model_card.json"
MODEL_FILE = "model.keras"
DEFAULT_MODEL = "hey_joe"

#: Fields every model card must have.
REQUIRED_FIELDS = (
    "name",
    "created",
    "trigger_phrase",
    "architecture",
    "n_parameters",
    "parent",
    "datasets",
    "epochs",
    "batch_size",
    "learning_rate",
    "seed",
    "trained_on",
    "metrics",
    "features",
    "threshold",
    "model_file",
)


class ModelError(HeyJoeError, ValueError):
    """A trigger model directory, file or card cannot be used; the message names the file."""


def shipped_dir() -> Path:
    """The repository's shipped trigger models (``checkpoints/trigger``)."""
    return paths.PROJ_ROOT / "checkpoints" / "trigger"


def local_dir() -> Path:
    """Trigger models trained here (``paths.checkpoints_dir()/trigger``)."""
    return paths.checkpoints_dir() / "trigger"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def validate_card(card: Any, where: str | Path) -> dict[str, Any]:
    """Check a card has every required field of the right kind; returns it."""
    if not isinstance(card, dict):
        raise ModelError(f"{where}: a model card must be a JSON object, got {type(card).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in card]
    if missing:
        raise ModelError(f"{where}: model card lacks field(s) {', '.join(missing)}")
    problems = []
    if not isinstance(card["features"], dict):
        problems.append("features must be an object of feature settings")
    if not isinstance(card["architecture"], dict):
        problems.append("architecture must be an object")
    if not isinstance(card["datasets"], dict):
        problems.append("datasets must map dataset names to proportions")
    if not isinstance(card["metrics"], dict):
        problems.append("metrics must be an object")
    thr = card["threshold"]
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0.0 <= thr <= 1.0:
        problems.append(f"threshold must be a number in [0, 1], got {thr!r}")
    if problems:
        raise ModelError(f"{where}: invalid model card: {'; '.join(problems)}")
    return card


def read_card(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The validated model card of ``model_dir``."""
    path = Path(model_dir) / CARD
    if not path.is_file():
        raise ModelError(f"{path}: no model card (is {model_dir} a trigger model directory?)")
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model card ({exc})") from None
    return validate_card(card, path)


def write_card(model_dir: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Validate and write ``model_dir/model_card.json`` atomically."""
    path = Path(model_dir) / CARD
    validate_card(card, path)
    return write_json(path, card)


def update_card(model_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Change some fields of a card (``metrics`` is merged, not replaced); returns the card."""
    card = read_card(model_dir)
    if "metrics" in fields and isinstance(fields["metrics"], dict):
        fields["metrics"] = {**card.get("metrics", {}), **fields["metrics"]}
    card.update(fields)
    write_card(model_dir, card)
    return card


def _model_dirs() -> list[Path]:
    seen: set[Path] = set()
    out = []
    for root in (shipped_dir(), local_dir()):
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / CARD).is_file():
                real = d.resolve()
                if real not in seen:
                    seen.add(real)
                    out.append(d)
    return out


def list_models() -> list[dict[str, Any]]:
    """The cards of every model directory (shipped and local), each with ``path`` and
    ``shipped`` added. Unreadable cards are skipped with a warning."""
    rows = []
    for d in _model_dirs():
        try:
            card = read_card(d)
        except ModelError as exc:
            log.warning("skipping %s", exc)
            continue
        rows.append(
            {**card, "path": str(d), "shipped": d.resolve().is_relative_to(shipped_dir().resolve())}
        )
    return rows


def find_model_dir(name_or_dir: str | os.PathLike | None = None) -> Path:
    """A model directory from a name (see :func:`list_models`), a path, or None (the default)."""
    if name_or_dir is None:
        return shipped_dir() / DEFAULT_MODEL
    candidate = Path(name_or_dir).expanduser()
    if candidate.is_dir():
        return candidate
    text = str(name_or_dir)
    if os.sep in text or candidate.is_absolute():
        raise ModelError(f"{candidate}: no such model directory")
    for root in (local_dir(), shipped_dir()):
        if (root / text).is_dir():
            return root / text
    for d in _model_dirs():
        try:
            if read_card(d).get("name") == text:
                return d
        except ModelError:
            continue
    names = sorted({d.name for d in _model_dirs()})
    raise ModelError(
        f"no trigger model {text!r} (looked in {local_dir()} and {shipped_dir()}); "
        f"models: {', '.join(names) if names else 'none'}"
    )


def load_keras(path: Path) -> Any:
    """Load a ``.keras`` file with ``safe_mode=True`` (never runs code from the file)."""
    import keras

    if not path.is_file():
        raise ModelError(f"{path}: the model file is missing")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a Keras model file (corrupt or truncated)")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: cannot load the model ({type(exc).__name__}: {first})") from None


class TriggerModel:
    """A loaded trigger model: the Keras network plus its card."""

    def __init__(self, path: Path, card: dict[str, Any], keras_model: Any) -> None:
        from lib.features import FeatureConfig
        from lib.trigger.model import ArchSpec, output_timing

        self.path = Path(path)
        self.card = card
        self.keras_model = keras_model
        self.name: str = str(card["name"])
        self.arch = ArchSpec.from_dict(card["architecture"], where=str(self.path / CARD))
        try:
            self.feature_config = FeatureConfig.from_dict(card["features"])
        except ConfigError as exc:
            raise ModelError(f"{self.path / CARD}: bad feature settings ({exc})") from None
        self.sample_rate: int = self.feature_config.sample_rate
        self.threshold: float = float(card["threshold"])
        self.hop_seconds, self.offset_seconds = output_timing(self.feature_config, self.arch)

    def __repr__(self) -> str:
        return f"TriggerModel({self.name!r}, {self.arch.name}, {self.path})"

    def predict_features(self, features: Any) -> Any:
        """Offline scores for features ``(frames, bins)`` or ``(b, frames, bins)``."""
        import numpy as np

        x = np.asarray(features, dtype=np.float32)
        single = x.ndim == 2
        out = self.keras_model.predict(x[None] if single else x, verbose=0)[..., 0]
        return out[0] if single else out

    def check_features(self, fc: Any, what: str) -> None:
        """Raise ModelError naming ``what`` if its feature settings differ from the model's."""
        diff = feature_differences(self.feature_config.to_dict(), fc.to_dict())
        if diff:
            raise ModelError(
                f"{what} has other feature settings than model {self.name!r} "
                f"({self.path}): {'; '.join(diff)}"
            )


def feature_differences(model: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Differing feature settings as ``key (model value vs other value)``."""
    keys = sorted(set(model) | set(other))
    return [
        f"{k} (model {model.get(k)!r}, data {other.get(k)!r})"
        for k in keys
        if model.get(k) != other.get(k)
    ]


def load_model(
    name_or_dir: str | os.PathLike | None = None, feature_config: Any = None
) -> TriggerModel:
    """Load a trigger model directory by name or path (None → the shipped ``hey_joe``), or
    an exported ``.npz`` file (:mod:`lib.trigger.export`: for the streaming detector only).

    The card is validated, the file loaded with Keras safe mode, and the network checked
    against the architecture and feature settings the card states; ``feature_config``, if
    given, must match too. Any problem is one ModelError naming the file and the mismatch.
    """
    from lib.trigger.export import is_export, load_exported  # numpy only: no TensorFlow
    from lib.trigger.model import architecture_differences

    if name_or_dir is not None and is_export(name_or_dir):
        exported = load_exported(name_or_dir)
        if feature_config is not None:
            exported.check_features(feature_config, "the requested feature configuration")
        return exported  # type: ignore[return-value]
    model_dir = find_model_dir(name_or_dir)
    card = read_card(model_dir)
    model_path = model_dir / str(card.get("model_file") or MODEL_FILE)
    keras_model = load_keras(model_path)
    model = TriggerModel(model_dir, card, keras_model)
    shape = keras_model.input_shape
    n_bins = shape[-1] if isinstance(shape, tuple) else None
    if n_bins != model.feature_config.n_bins:
        raise ModelError(
            f"{model_path}: the network takes {n_bins} feature bins per frame but its card's "
            f"feature settings give {model.feature_config.n_bins} (another feature setting)"
        )
    diffs = architecture_differences(keras_model, model.arch, model.feature_config.n_bins)
    if diffs:
        raise ModelError(
            f"{model_path}: the network is not the architecture its card states "
            f"({model.arch.name}): {'; '.join(diffs[:4])}"
        )
    if feature_config is not None:
        model.check_features(feature_config, "the requested feature configuration")
    return model


def lineage_tree(rows: list[dict[str, Any]] | None = None) -> str:
    """The models as a tree of parent → children (by card name)."""
    rows = list_models() if rows is None else rows
    names = {r["name"] for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = r.get("parent")
        children.setdefault(parent if parent in names else None, []).append(r)
    lines: list[str] = []

    def label(r: dict[str, Any]) -> str:
        m = r.get("metrics", {}) or {}
        frr = m.get("dev_frr_at_0.5_fa_per_hour", m.get("dev_false_reject_rate"))
        bits = [r.get("trigger_phrase", "?"), r.get("architecture", {}).get("name", "?")]
        bits.append(f"{r.get('epochs')} epochs")
        if frr is not None:
            bits.append(f"FRR {frr}")
        if r.get("parent") and r.get("parent") not in names:
            bits.append(f"parent {r['parent']} (not found)")
        return f"{r['name']} [{', '.join(str(b) for b in bits)}]"

    def walk(parent: str | None, prefix: str) -> None:
        kids = sorted(children.get(parent, []), key=lambda r: r["name"])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(r)}")
            if r["name"] != parent:
                walk(r["name"], prefix + ("    " if last else "│   "))

    walk(None, "")
    return "\n".join(lines)


def model_rows(rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One flat row per model, for ``heyjoe models``."""
    rows = list_models() if rows is None else rows
    out = []
    for r in rows:
        m = r.get("metrics", {}) or {}
        out.append(
            {
                "name": r["name"],
                "phrase": r.get("trigger_phrase"),
                "arch": (r.get("architecture") or {}).get("name"),
                "params": r.get("n_parameters"),
                "parent": r.get("parent") or "-",
                "datasets": ",".join(f"{k}:{v}" for k, v in (r.get("datasets") or {}).items()),
                "epochs": r.get("epochs"),
                "batch": r.get("batch_size"),
                "lr": r.get("learning_rate"),
                "seed": r.get("seed"),
                "threshold": r.get("threshold"),
                "dev_frr": m.get("dev_frr_at_0.5_fa_per_hour", "-"),
                "test_frr": m.get("test_frr_at_threshold", "-"),  # at its threshold
                "where": (r.get("trained_on") or {}).get("summary", "-"),
                "shipped": r.get("shipped"),
                "created": r.get("created"),
            }
        )
    return out
