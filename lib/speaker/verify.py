"""Inference: load a speaker model, embed audio, verify, enroll, embed a folder.

Long audio is embedded as in the notes' backlog: trim silence with a simple energy voice-
activity detector (10 ms frames within ``vad_threshold_db`` of the loudest frame), cut the
speech into windows (``window_seconds_embed`` long, overlapping by ``window_overlap``),
embed each window, average, and L2-normalise. Audio with less than ``min_speech_seconds`` of
speech is refused with a message naming it.

A model folder holds ``model.keras`` (the embedder, loaded with Keras ``safe_mode``) and
``model_card.json`` (feature settings, inference settings, calibrated threshold, metrics).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib import audio, paths
from lib.errors import AudioError, ConfigError, HeyJoeError
from lib.features import FeatureConfig, compute_features
from lib.files import atomic_path, read_json_dict, write_json

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CARD_FILE = "model_card.json"
DEFAULT_NAME = "default"
VAD_FLOOR_DBFS = -60.0


@dataclass
class SpeakerModel:
    """A loaded embedder with its card."""

    name: str
    path: Path
    card: dict[str, Any]
    keras_model: Any
    feature_config: FeatureConfig
    weights_sha256: str = ""  # of the model file: which weights a profile's embedding came from

    @property
    def sample_rate(self) -> int:
        return self.feature_config.sample_rate

    @property
    def threshold(self) -> float:
        return float(self.card.get("threshold", 0.5))

    @property
    def inference(self) -> dict[str, float]:
        return {
            "window_seconds": 2.0,
            "window_overlap": 0.5,
            "vad_threshold_db": 35.0,
            "min_speech_seconds": 0.5,
            **self.card.get("inference", {}),
        }

    def predictor(self) -> Any:
        """The embedder as a compiled function of ``(windows, frames, bins)`` (traced once)."""
        if getattr(self, "_predict", None) is None:
            import tensorflow as tf

            km = self.keras_model
            spec = tf.TensorSpec((None, None, self.feature_config.n_bins), tf.float32)
            self._predict = tf.function(lambda x: km(x, training=False), input_signature=[spec])
        return self._predict

    @property
    def embedding_dim(self) -> int:
        return int(self.keras_model.output.shape[-1])


def model_dirs() -> list[Path]:
    """Speaker model folders: the repo's shipped ones and the user's trained ones."""
    roots = [paths.PROJ_ROOT / "checkpoints" / "speaker", paths.checkpoints_dir() / "speaker"]
    seen, out = set(), []
    for root in roots:
        if root.is_dir():
            for d in sorted(root.iterdir()):
                if (d / CARD_FILE).is_file() and d.resolve() not in seen:
                    seen.add(d.resolve())
                    out.append(d)
    return out


def model_rows() -> list[dict[str, Any]]:
    """One row per speaker model (shipped and trained here) from its card: name, when made,
    parent, dev and test equal error rates, training speakers, threshold, size, folder.
    A card that cannot be read is skipped with a warning naming it."""
    shipped = (paths.PROJ_ROOT / "checkpoints" / "speaker").resolve()
    rows = []
    for d in model_dirs():
        try:
            card = json.loads((d / CARD_FILE).read_text(encoding="utf-8"))
            if not isinstance(card, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            log.warning("skipping %s: unreadable model card (%s)", d / CARD_FILE, exc)
            continue
        m = card.get("metrics") or {}
        training = card.get("training") or {}
        model_file = d / str(card.get("model_file") or "model.keras")
        rows.append({
            "name": card.get("name", d.name),
            "created": str(card.get("created_utc", ""))[:16],
            "parent": card.get("parent"),
            "dev_eer": m.get("dev_eer"),
            "test_eer": m.get("test_eer"),
            "train_speakers": training.get("train_speakers"),
            "threshold": card.get("threshold"),
            "size_mb": round(model_file.stat().st_size / 1e6, 2) if model_file.is_file() else None,
            "shipped": d.resolve().is_relative_to(shipped),
            "path": str(d),
        })  # fmt: skip
    return rows


def resolve_model_dir(name_or_dir: str | Path | None = None) -> Path:
    """None → the shipped default; a folder path; or a model name (user's first, then repo)."""
    if name_or_dir is None:
        return paths.PROJ_ROOT / "checkpoints" / "speaker" / DEFAULT_NAME
    candidate = Path(name_or_dir).expanduser()
    if candidate.is_dir():
        return candidate
    for root in (paths.checkpoints_dir() / "speaker", paths.PROJ_ROOT / "checkpoints" / "speaker"):
        if (root / str(name_or_dir)).is_dir():
            return root / str(name_or_dir)
    names = ", ".join(d.name for d in model_dirs()) or "(none)"
    raise ConfigError(f"no speaker model {str(name_or_dir)!r}; models are: {names}")


def load_model(name_or_dir: str | Path | None = None) -> SpeakerModel:
    """Load a speaker model (None → ``checkpoints/speaker/default``), safely."""
    folder = resolve_model_dir(name_or_dir)
    card_path, model_path = folder / CARD_FILE, folder / MODEL_FILE
    for p in (card_path, model_path):
        if not p.is_file():
            raise HeyJoeError(
                f"{p}: missing; {folder} is not a complete speaker model (train one with "
                "notebook 04_train_speaker)"
            )
    try:
        card = json.loads(card_path.read_text())
        fc = FeatureConfig.from_dict(card["feature_config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HeyJoeError(f"{card_path}: unreadable model card ({exc})") from None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines on the terminal
    import keras

    import lib.speaker.model  # noqa: F401  (registers the custom layers)

    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise HeyJoeError(f"{model_path}: cannot load the speaker model ({exc})") from None
    if int(model.input.shape[-1]) != fc.n_bins:
        raise ConfigError(
            f"{model_path}: the model takes {model.input.shape[-1]} feature bins but its card "
            f"says {fc.n_bins}"
        )
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    return SpeakerModel(card.get("name", folder.name), folder, card, model, fc, digest)


# ---------------------------------------------------------------------------- embedding


def vad_trim(
    x: np.ndarray,
    sample_rate: int,
    threshold_db: float = 35.0,
    frame_seconds: float = 0.01,
    max_pause_seconds: float = 0.5,
) -> np.ndarray:
    """Keep the 10 ms frames within ``threshold_db`` of the loudest (and above -60 dBFS),
    and pauses up to ``max_pause_seconds`` between them."""
    x = np.asarray(x, dtype=np.float32)
    frame = max(1, int(round(frame_seconds * sample_rate)))
    n = len(x) // frame
    if n == 0:
        return x[:0]
    frames = x[: n * frame].reshape(n, frame)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    keep = level > max(level.max() - threshold_db, VAD_FLOOR_DBFS)
    # keep pauses shorter than ``max_pause_seconds`` (speech has them, and so had the
    # training utterances); only longer silences are cut out
    idx = np.flatnonzero(keep)
    max_gap = int(round(max_pause_seconds / frame_seconds))
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= max_gap:
            keep[a:b] = True
    return frames[keep].reshape(-1)


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """First frames of windows covering ``n_frames`` (the last one flush with the end)."""
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return starts


def embed_features(
    predict: Any, feats: np.ndarray, window_frames: int, hop_frames: int
) -> np.ndarray:
    """Average of the L2-normalised window embeddings of one utterance, L2-normalised.

    ``predict`` maps a ``(windows, frames, bins)`` batch to embeddings (a Keras model or
    :meth:`SpeakerModel.predictor`)."""
    feats = np.asarray(feats, dtype=np.float32)
    starts = window_starts(len(feats), window_frames, hop_frames)
    width = min(window_frames, len(feats))
    batch = np.stack([feats[s : s + width] for s in starts])
    emb = np.asarray(predict(batch), dtype=np.float64).mean(axis=0)
    return (emb / max(np.linalg.norm(emb), 1e-12)).astype(np.float32)


def embed_audio(
    model: SpeakerModel, x: np.ndarray, sample_rate: int, name: str = "audio"
) -> np.ndarray:
    """The L2-normalised embedding of a clip of any length (VAD, windows, average)."""
    inf = model.inference
    x = audio.resample(np.asarray(x, dtype=np.float32), int(sample_rate), model.sample_rate)
    speech = vad_trim(x, model.sample_rate, inf["vad_threshold_db"])
    seconds = len(speech) / model.sample_rate
    if (
        seconds < inf["min_speech_seconds"]
        or float(np.max(np.abs(speech), initial=0)) < audio.SILENCE_PEAK
    ):
        raise AudioError(
            f"{name}: only {seconds:.2f} s of speech found; at least "
            f"{inf['min_speech_seconds']:g} s is needed to embed a speaker"
        )
    fc = model.feature_config
    feats = compute_features(speech, fc)
    window = int(round(inf["window_seconds"] * fc.frame_rate))
    hop = max(1, int(round(window * (1 - inf["window_overlap"]))))
    return embed_features(model.predictor(), feats, window, hop)


def embed_file(model: SpeakerModel, path: str | Path) -> np.ndarray:
    """The L2-normalised embedding of an audio file."""
    x, sr = audio.read_audio(path)
    return embed_audio(model, x, sr, name=str(path))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"embeddings differ in size: {a.shape[0]} vs {b.shape[0]}")
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else 0.0


def verify(model: SpeakerModel, path_a: str | Path, path_b: str | Path) -> dict[str, Any]:
    """Score two files: ``{"score", "threshold", "same"}`` at the model's calibrated threshold."""
    score = cosine(embed_file(model, path_a), embed_file(model, path_b))
    return {"score": score, "threshold": model.threshold, "same": bool(score >= model.threshold)}


# ---------------------------------------------------------------------------- profiles


def profiles_dir() -> Path:
    return paths.data_dir() / "speakers"


def enroll(
    name: str, files: list[str | Path], model: SpeakerModel | None = None, overwrite: bool = False
) -> Path:
    """Store a speaker profile (mean of the files' embeddings) as ``data/speakers/NAME.json``.

    Refuses to replace an existing profile unless ``overwrite``. Unusable files are skipped
    and named; if none is usable, nothing is written.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise ConfigError(f"speaker name {name!r}: use letters, digits, _ . - (max 64)")
    if not files:
        raise ConfigError("enroll needs at least one audio file")
    out = profiles_dir() / f"{name}.json"
    if out.exists() and not overwrite:
        raise HeyJoeError(f"{out}: a profile named {name!r} exists; pass --overwrite to replace it")
    model = model or load_model()
    embs, used, skipped = [], [], []
    for f in files:
        try:
            embs.append(embed_file(model, f))
            used.append(str(f))
        except AudioError as exc:
            skipped.append(str(exc))
    if skipped:
        log.warning(
            "enroll %s: skipped %d file(s):\n  %s", name, len(skipped), "\n  ".join(skipped)
        )
    if not embs:
        raise AudioError(f"enroll {name}: no usable audio among {len(files)} file(s)")
    mean = np.mean(embs, axis=0)
    mean /= max(np.linalg.norm(mean), 1e-12)
    write_json(
        out,
        {
            "name": name,
            "model": model.name,
            "model_path": str(model.path),
            "model_sha256": model.weights_sha256,
            "threshold": model.threshold,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": used,
            "skipped": skipped,
            "embedding": [round(float(v), 6) for v in mean],
        },
    )
    return out


def load_profile(name: str) -> dict[str, Any]:
    path = profiles_dir() / f"{name}.json"
    if not path.is_file():
        raise HeyJoeError(f"{path}: no speaker profile named {name!r}")
    profile = read_json_dict(path)
    if not isinstance(profile.get("embedding"), list) or not profile["embedding"]:
        raise HeyJoeError(f"{path}: not a speaker profile (unreadable, or no embedding); enroll "
                          f"{name!r} again")  # fmt: skip
    return profile


def check_profile_model(profile: dict[str, Any], model: SpeakerModel) -> None:
    """Refuse a profile enrolled with other weights than ``model``'s: its embedding lives in
    another space, so every score against it would be meaningless. (Profiles from before the
    weights were recorded are used with a warning.)"""
    name = profile.get("name", "?")
    again = f"enroll it again: heyjoe enroll {name} FILES... --overwrite"
    files = profile.get("files") or []
    if files:
        again += f" (it was enrolled from {', '.join(map(str, files[:3]))}"
        again += ", ...)" if len(files) > 3 else ")"
    if len(profile["embedding"]) != model.embedding_dim:
        raise HeyJoeError(f"speaker profile {name!r}: embedding length does not match {model.path}")
    recorded = profile.get("model_sha256")
    if not recorded:
        log.warning(
            "speaker profile %r does not record which model weights it was enrolled with; "
            "if %s has been retrained since, %s", name, model.path, again,
        )  # fmt: skip
        return
    if recorded != model.weights_sha256:
        raise HeyJoeError(
            f"speaker profile {name!r} was enrolled with other weights than the model in "
            f"{model.path} has now (retrained or replaced since); {again}"
        )


def embed_folder(model: SpeakerModel, folder: str | Path, out: str | Path) -> dict[str, Any]:
    """Embed every audio file under ``folder`` into JSON lines ``{"file", "embedding"}``
    (``file`` relative to the folder), written atomically. Unusable files are skipped, named."""
    folder = Path(folder)
    files = audio.find_audio_files(folder)
    if not files:
        raise AudioError(f"{folder}: no audio files ({', '.join(audio.SUPPORTED_EXTENSIONS)})")
    skipped, n = [], 0
    with atomic_path(out, suffix=".jsonl") as tmp, open(tmp, "w") as fh:
        for f in files:
            try:
                e = embed_file(model, f)
            except AudioError as exc:
                skipped.append(str(exc))
                continue
            rel = f.relative_to(folder).as_posix()
            fh.write(json.dumps({"file": rel, "embedding": [round(float(v), 6) for v in e]}) + "\n")
            n += 1
    if skipped:
        log.warning("embed: skipped %d file(s):\n  %s", len(skipped), "\n  ".join(skipped))
    return {"out": str(out), "embedded": n, "skipped": skipped}
