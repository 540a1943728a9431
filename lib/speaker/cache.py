"""Features computed once: every utterance's log-mel, in one compact store.

``paths.data_dir()/speaker_cache/<db_name>/`` holds

- ``features.npy``  float16 ``(total_frames, n_mels)``: all utterances end to end
- ``index.json``    per utterance: path, speaker, split, first frame, frames
- ``settings.json`` the feature settings and the database fingerprint it was built from

Written last and atomically, ``settings.json`` marks a complete cache. A cache whose
settings or database differ from what is asked is rebuilt; a model trained with other
feature settings than a cache refuses it (:func:`check_compatible`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib import audio, paths
from lib.errors import AudioError, ConfigError, DatasetError
from lib.features import FeatureConfig, compute_features
from lib.files import atomic_path, write_json
from lib.speaker.database import SpeakerDatabase

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class CacheEntry:
    path: str
    speaker: str
    split: str
    start: int
    frames: int


@dataclass
class FeatureCache:
    """A loaded cache: the feature matrix (memory-mapped) and the per-utterance index."""

    dir: Path
    features: np.ndarray
    entries: list[CacheEntry]
    feature_config: FeatureConfig
    db_fingerprint: str
    skipped: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.entries)

    def utterance(self, i: int) -> np.ndarray:
        e = self.entries[i]
        return np.asarray(self.features[e.start : e.start + e.frames], dtype=np.float32)

    def indices(self, split: str | None = None) -> list[int]:
        return [i for i, e in enumerate(self.entries) if split in (None, e.split)]

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())


def cache_dir(db_name: str) -> Path:
    return paths.data_dir() / "speaker_cache" / db_name


def check_compatible(cache_fc: FeatureConfig, model_fc: FeatureConfig, where: str) -> None:
    """Raise ConfigError listing every feature setting on which cache and model differ."""
    a, b = cache_fc.to_dict(), model_fc.to_dict()
    diff = [f"{k}: cache {a[k]!r} vs model {b[k]!r}" for k in a if a[k] != b.get(k)]
    if diff:
        raise ConfigError(
            f"{where}: the feature cache was computed with other settings than the model "
            f"expects ({'; '.join(diff)}); rebuild the cache with the model's settings"
        )


def _settings(fc: FeatureConfig, db: SpeakerDatabase) -> dict[str, Any]:
    return {"version": CACHE_VERSION, "features": fc.to_dict(), "db_fingerprint": db.fingerprint()}


def build_cache(
    db: SpeakerDatabase,
    fc: FeatureConfig,
    folder: Path | None = None,
    progress: bool = False,
) -> FeatureCache:
    """Compute each utterance's features once (or reuse a matching cache) and load the cache.

    Unreadable or too-short files are skipped and listed; nothing is silently dropped.
    """
    folder = Path(folder) if folder is not None else cache_dir(db.name)
    wanted = _settings(fc, db)
    settings_path = folder / "settings.json"
    if settings_path.is_file():
        have = json.loads(settings_path.read_text())
        if have == wanted:
            return load_cache(folder)
        log.info("feature cache %s is for other settings or another database: rebuilding", folder)
        settings_path.unlink()
    started = time.perf_counter()
    parts: list[np.ndarray] = []
    entries: list[CacheEntry] = []
    skipped: list[tuple[str, str]] = []
    start = 0
    items = db.utterances
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="features", unit="utt")
    for u in items:
        try:
            x = audio.load_audio(db.full_path(u), fc.sample_rate)
        except AudioError as exc:
            skipped.append((u.path, str(exc)))
            continue
        feats = compute_features(x, fc)
        if len(feats) < 1:
            skipped.append((u.path, "shorter than one analysis window"))
            continue
        parts.append(feats.astype(np.float16))
        entries.append(CacheEntry(u.path, u.speaker, u.split, start, len(feats)))
        start += len(feats)
    if not entries:
        raise DatasetError(f"{folder}: no usable utterance in database {db.name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "features.npy", suffix=".npy") as tmp:
        np.save(tmp, np.concatenate(parts))
    write_json(
        folder / "index.json",
        {"entries": [e.__dict__ for e in entries], "skipped": [list(s) for s in skipped]},
    )
    write_json(settings_path, wanted)
    if skipped:
        log.warning("feature cache: skipped %d utterance(s):\n  %s", len(skipped),
                    "\n  ".join(f"{p}: {w}" for p, w in skipped[:20]))  # fmt: skip
    log.info("feature cache %s: %d utterances, %d frames in %.1f s", folder, len(entries),
             start, time.perf_counter() - started)  # fmt: skip
    return load_cache(folder)


def load_cache(folder: Path, expect: FeatureConfig | None = None) -> FeatureCache:
    """Open a complete cache (memory-mapped); with ``expect``, refuse other feature settings."""
    folder = Path(folder)
    settings_path = folder / "settings.json"
    if not settings_path.is_file():
        raise DatasetError(f"{settings_path}: no complete feature cache here; build it first")
    try:
        settings = json.loads(settings_path.read_text())
        index = json.loads((folder / "index.json").read_text())
        fc = FeatureConfig.from_dict(settings["features"])
        features = np.load(folder / "features.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(
            f"{folder}: damaged feature cache ({exc}); delete it to rebuild"
        ) from None
    if expect is not None:
        check_compatible(fc, expect, str(settings_path))
    entries = [CacheEntry(**e) for e in index["entries"]]
    if features.ndim != 2 or features.shape[1] != fc.n_bins:
        raise DatasetError(f"{folder / 'features.npy'}: shape {features.shape} does not match")
    return FeatureCache(
        folder, features, entries, fc, settings.get("db_fingerprint", ""),
        [tuple(s) for s in index.get("skipped", [])],
    )  # fmt: skip


def write_cache(
    folder: Path,
    utterances: list[tuple[str, str, str, np.ndarray]],
    fc: FeatureConfig,
    fingerprint: str = "synthetic",
) -> FeatureCache:
    """A cache from ready features ``(path, speaker, split, features)`` (benchmarks, tests)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries, start = [], 0
    for path, speaker, split, feats in utterances:
        entries.append(CacheEntry(path, speaker, split, start, len(feats)))
        start += len(feats)
    with atomic_path(folder / "features.npy", suffix=".npy") as tmp:
        np.save(tmp, np.concatenate([f.astype(np.float16) for *_, f in utterances]))
    write_json(folder / "index.json", {"entries": [e.__dict__ for e in entries], "skipped": []})
    write_json(
        folder / "settings.json",
        {"version": CACHE_VERSION, "features": fc.to_dict(), "db_fingerprint": fingerprint},
    )
    return load_cache(folder)
