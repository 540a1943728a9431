"""A trigger model as one small numpy file, for listening without TensorFlow.

:func:`export_model` writes what the streaming detector runs — the network's weights with every
BatchNorm already folded in (:class:`lib.trigger.stream.StreamWeights`), as float32 arrays —
and what it needs to know (feature settings, architecture, threshold, trigger phrase, the name
and card fingerprint of the model it came from) into ``NAME.npz``. :func:`load_exported` reads
it back with ``allow_pickle=False`` (nothing in the file can run code) into an
:class:`ExportedModel`, which the streaming detector, scoring, evaluation and ``heyjoe listen``
take wherever they take a trigger model: pass the ``.npz`` path as the model. Its scores equal
those of the model it came from (the same arrays; tested bit for bit). Training, fine-tuning
and offline ``predict`` need the Keras model folder.

Why: loading the Keras model imports TensorFlow, which takes seconds and hundreds of MB before
the first score; the exported file needs numpy and scipy only (``benchmarks/startup.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lib.errors import ConfigError
from lib.files import atomic_path
from lib.trigger.cards import ModelError, TriggerModel

log = logging.getLogger(__name__)

#: the version of the file layout below
FORMAT = "heyjoe-trigger-export-1"
SUFFIX = ".npz"
#: an export kept inside its model folder (``heyjoe export MODEL --keep``), which listening
#: uses instead of the Keras file while it was made from that folder's current model file
FOLDER_EXPORT = "model.npz"


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an exported model file (by its suffix)."""
    return Path(path).suffix == SUFFIX


def _card_fingerprint(card: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (a committed export names no
    machine's folders), else absolute."""
    from lib import paths

    try:
        return Path(path).resolve().relative_to(paths.PROJ_ROOT.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def _file_sha1(path: Path) -> str | None:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None


def export_model(model: Any, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the loaded trigger ``model`` (a :class:`~lib.trigger.TriggerModel`) as ``out``
    (a ``.npz`` path), atomically; an existing file is kept unless ``overwrite``."""
    from lib.trigger.stream import StreamWeights

    out = Path(out)
    if getattr(model, "keras_model", None) is None:
        raise ConfigError(f"{model.path} is already an exported model: export a model folder")
    if out.suffix != SUFFIX:
        raise ConfigError(f"{out}: an exported model is a {SUFFIX} file")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists: pass overwrite=True (--overwrite) to replace it")
    weights = StreamWeights.from_keras(model.keras_model, len(model.arch.gru_units))
    card = model.card
    meta = {
        "format": FORMAT,
        "name": model.name,
        "trigger_phrase": card.get("trigger_phrase"),
        "threshold": float(model.threshold),
        "features": model.feature_config.to_dict(),
        "architecture": model.arch.to_dict(),
        "n_parameters": card.get("n_parameters"),
        "exported_from": _shown(model.path),
        "card_fingerprint": _card_fingerprint(card),
        "source_sha1": _file_sha1(model.path / str(card.get("model_file") or "model.keras")),
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    arrays = {f"w_{k}": v for k, v in weights.arrays().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=SUFFIX) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
    log.info("exported %s to %s (%.0f kB)", model.name, out, out.stat().st_size / 1e3)
    return out


class ExportedModel:
    """A trigger model read from an exported file: everything the streaming detector needs,
    no Keras model (``keras_model`` is None)."""

    keras_model = None

    def __init__(self, path: Path, meta: dict[str, Any], weights: Any) -> None:
        from lib.features import FeatureConfig
        from lib.trigger.model import ArchSpec, output_timing

        self.path = Path(path)
        self.card = {**meta, "model_file": self.path.name, "parent": None}
        self.name: str = str(meta["name"])
        self.arch = ArchSpec.from_dict(meta["architecture"], where=str(self.path))
        self.feature_config = FeatureConfig.from_dict(meta["features"])
        self.sample_rate: int = self.feature_config.sample_rate
        self.threshold: float = float(meta["threshold"])
        self.hop_seconds, self.offset_seconds = output_timing(self.feature_config, self.arch)
        self.stream_weights = weights

    def __repr__(self) -> str:
        return f"ExportedModel({self.name!r}, {self.arch.name}, {self.path})"

    def predict_features(self, features: Any) -> Any:
        raise ModelError(
            f"{self.path}: an exported model scores audio through the streaming detector; "
            "offline predict needs the Keras model folder it came from"
        )

    check_features = TriggerModel.check_features


def load_exported(path: str | os.PathLike) -> ExportedModel:
    """Read an exported model file; any problem is one ModelError naming the file."""
    from lib.trigger.stream import StreamWeights

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such exported model file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"{path}: not an exported trigger model ({exc})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not an exported trigger model (no meta: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(f"{path}: an exported model of format {FORMAT!r} expected, got {found!r}")
    missing = [k for k in ("name", "threshold", "features", "architecture") if k not in meta]
    if missing:
        raise ModelError(f"{path}: the export lacks {', '.join(missing)}")
    weights_arrays = {k[2:]: v for k, v in arrays.items() if k.startswith("w_")}
    try:
        model = ExportedModel(path, meta, None)
        model.stream_weights = StreamWeights.from_arrays(
            weights_arrays, len(model.arch.gru_units), model.feature_config.n_bins
        )
    except (ConfigError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: the export does not hold a usable model ({exc})") from None
    return model


def load_for_listening(name_or_dir: str | os.PathLike | None = None) -> Any:
    """The trigger model for the streaming detector, loaded the cheapest way that gives the
    same scores: an exported ``.npz`` path as it is; a model folder (a name, a path or None for
    the shipped one) through the export kept inside it (:data:`FOLDER_EXPORT`) when that was
    made from the folder's current model file with the same architecture and features — numpy
    only, with the card's name and threshold; otherwise the Keras model
    (:func:`lib.trigger.cards.load_model`), with a note of why."""
    from lib.features import FeatureConfig
    from lib.trigger import cards
    from lib.trigger.model import ArchSpec

    if name_or_dir is not None and is_export(name_or_dir):
        return cards.load_model(name_or_dir)
    model_dir = cards.find_model_dir(name_or_dir)
    kept = model_dir / FOLDER_EXPORT
    if kept.is_file():
        try:
            card = cards.read_card(model_dir)
            exported = load_exported(kept)
            model_file = model_dir / str(card.get("model_file") or cards.MODEL_FILE)
            same = (
                exported.card.get("source_sha1") == _file_sha1(model_file)
                and exported.arch == ArchSpec.from_dict(card["architecture"])
                and exported.feature_config == FeatureConfig.from_dict(card["features"])
            )
        except (ModelError, ConfigError) as exc:
            log.warning("%s cannot be used (%s): loading the Keras model", kept, exc)
        else:
            if same:
                exported.name = str(card["name"])
                exported.threshold = float(card["threshold"])
                exported.card = {**card, "listening_from": str(kept)}
                return exported
            log.info("%s was exported from another model file: loading the Keras model", kept)
    return cards.load_model(model_dir)
