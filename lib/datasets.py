"""Named datasets: built once from a :class:`~lib.synth.SynthesisConfig`, sharded, read lazily.

Layout of ``paths.datasets_dir() / <name>``::

    manifest.json          written last: the dataset is complete once it exists
    shard-00000/           one folder per ``shard_size`` examples, renamed into place whole
        audio.npy          int16 (n, samples)          if store_audio
        features.npy       float16 (n, frames, bins)   if store_features
        labels.npy         uint8 (n, label_steps)
        events.jsonl       one line per example: background, overlaid clips (seconds), dropped
        stats.json         counts for the manifest
    build.json             while building: the parameters, so an interrupted build can resume

Shard ``k`` draws from ``np.random.SeedSequence(seed).spawn(n_shards)[k]``, so shards are
independent: they can be built in any order, by any number of processes, and an interrupted
build resumes by writing only the missing shards; the result is identical either way.

Nothing is overwritten silently. Building a name that exists with other parameters (or from a
changed raw corpus) raises DatasetError listing what differs; ``overwrite=True`` moves the old
dataset aside to ``.<name>.replaced-<time>``, builds the new one, then deletes the old one (if
the build fails, the old one is put back; if the process is killed, it stays in that hidden
folder). The same parameters with a complete dataset reuse it without work.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import lib
from lib import paths
from lib.config import to_dict
from lib.errors import DatasetError
from lib.files import write_json
from lib.synth import Corpus, Event, Example, SynthesisConfig, corpus_for, source_fingerprint

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
BUILD_STATE = "build.json"
FORMAT_VERSION = 1
#: Settings that change how a dataset is built but not what it holds.
_NOT_COMPARED = ("workers",)


def dataset_dir(name: str) -> Path:
    """Where the dataset ``name`` lives."""
    return paths.datasets_dir() / name


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def _shard_sizes(n_examples: int, shard_size: int) -> list[int]:
    n_shards = math.ceil(n_examples / shard_size)
    return [min(shard_size, n_examples - k * shard_size) for k in range(n_shards)]


def _compared(cfg: SynthesisConfig, fingerprint: str) -> dict[str, Any]:
    values = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_COMPARED}
    values["source clips"] = fingerprint
    return values


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [
        f"{k} ({old.get(k, '<unset>')!r} -> {new.get(k, '<unset>')!r})"
        for k in keys
        if old.get(k) != new.get(k)
    ]


def _with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored parameters, with settings added since the build at their defaults (which were
    in effect then), so a new setting does not make every existing dataset differ."""
    params = {k: v for k, v in stored.items() if k not in _NOT_COMPARED}
    for k, v in to_dict(SynthesisConfig()).items():
        if k not in _NOT_COMPARED:
            params.setdefault(k, v)
    return params


def _stored_params(manifest: dict[str, Any]) -> dict[str, Any]:
    params = _with_defaults(manifest.get("parameters", {}))
    params["source clips"] = manifest.get("sources", {}).get("fingerprint")
    return params


def bytes_per_example(cfg: SynthesisConfig) -> dict[str, int]:
    """Bytes one example takes on disk (and a worker holds per example of its shard)."""
    fc = cfg.feature_config()
    audio = 2 * cfg.n_samples if cfg.store_audio else 0
    features = 2 * fc.frames_for(cfg.n_samples) * fc.n_bins if cfg.store_features else 0
    return {
        "audio": audio,
        "features": features,
        "labels": cfg.label_steps,
        "total": audio + features + cfg.label_steps,
    }


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread: the feature matmuls are small, and BLAS threads fighting the
    worker processes for the cores made builds up to 1.7x slower. No-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _init_worker(cfg: SynthesisConfig, corpus: Corpus, root: str) -> None:
    _WORKER["blas"] = _one_blas_thread()  # kept for the worker's life
    _WORKER.update(cfg=cfg, corpus=corpus, root=Path(root), fc=cfg.feature_config())


def _worker_build(job: tuple[int, int, int, np.random.SeedSequence]) -> dict[str, Any]:
    k, offset, n, seed_seq = job
    w = _WORKER
    return write_shard(w["cfg"], w["corpus"], w["root"], k, offset, n, seed_seq, fc=w["fc"])


def _to_int16(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Float audio in [-1, 1] → int16 (rounded, clipped), into ``out`` if given."""
    if out is None or x.dtype != np.float32:
        y = np.clip(np.rint(x * np.float32(32768.0)), -32768, 32767).astype(np.int16)
        if out is None:
            return y
        out[...] = y
        return out
    scaled = x * np.float32(32768.0)  # the same steps in place: one buffer, no temporaries
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)
    np.copyto(out, scaled, casting="unsafe")
    return out


#: float32 bit patterns: |x| below the smallest normal float16 (2**-14), and |x| from which
#: float16 rounds to infinity (65520): outside these the bit arithmetic below does not apply.
_F16_LOW, _F16_HIGH = 0x38800000, 0x477FF000
_F16_ROUND = np.uint32((0x0FFF - (112 << 23)) & 0xFFFFFFFF)
_F16_BLOCK = 1 << 17


def _to_float16(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = x`` for float32 ``x`` and float16 ``out``, bit for bit as numpy casts.

    numpy's float32 → float16 cast is scalar code (about 4 ns a value, the largest cost of
    storing 44.1 kHz spectrograms); this rounds to nearest-even with integer operations on the
    bit patterns, in cache-sized blocks (about 2x faster), and lets numpy cast the rare values
    that are subnormal, zero, overflowing or not finite in float16.
    """
    if (
        x.dtype != np.float32
        or out.dtype != np.float16
        or x.shape != out.shape
        or not (x.flags.c_contiguous and out.flags.c_contiguous)
    ):
        np.copyto(out, x, casting="unsafe")
        return out
    src, dst = x.reshape(-1), out.reshape(-1)
    bits, half = src.view(np.uint32), dst.view(np.uint16)
    size = min(_F16_BLOCK, len(bits))
    magnitude, result = np.empty(size, np.uint32), np.empty(size, np.uint32)
    for i in range(0, len(bits), _F16_BLOCK):
        b = bits[i : i + _F16_BLOCK]
        n = len(b)
        a, r = magnitude[:n], result[:n]
        np.bitwise_and(b, 0x7FFFFFFF, out=a)
        special = n and (a.min() < _F16_LOW or a.max() >= _F16_HIGH)
        np.right_shift(a, 13, out=r)
        np.bitwise_and(r, 1, out=r)  # round half to even: add 0xFFF, plus 1 if the kept lsb is odd
        r += a
        r += _F16_ROUND  # and rebias the exponent from 127 to 15
        np.right_shift(r, 13, out=r)
        np.right_shift(b, 16, out=a)
        np.bitwise_and(a, 0x8000, out=a)
        r |= a
        np.copyto(half[i : i + n], r, casting="unsafe")
        if special:
            mag = b & np.uint32(0x7FFFFFFF)
            idx = i + np.flatnonzero((mag < _F16_LOW) | (mag >= _F16_HIGH))
            with np.errstate(over="ignore"):
                dst[idx] = src[idx].astype(np.float16)
    return out


def write_shard(
    cfg: SynthesisConfig,
    corpus: Corpus,
    root: Path,
    k: int,
    offset: int,
    n: int,
    seed_seq: np.random.SeedSequence,
    *,
    fc: Any = None,
) -> dict[str, Any]:
    """Synthesize shard ``k`` (``n`` examples from ``seed_seq``) into ``root/shard-<k>/``.

    Written into a hidden temporary folder beside it, then renamed into place in one step.
    Arrays go straight to disk row by row, so memory stays about one example.
    Returns the shard's counts.
    """
    from lib.synth import synthesize_example

    fc = fc or cfg.feature_config()
    final = root / _shard_name(k)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_shard_name(k)}.", suffix=".tmp", dir=root))
    audio = features = None
    try:
        rng = np.random.default_rng(seed_seq)
        if cfg.store_audio:
            audio = _NpyRows(tmp / "audio.npy", np.int16, (n, cfg.n_samples))
        if cfg.store_features:
            shape = (n, fc.frames_for(cfg.n_samples), fc.n_bins)
            features = _NpyRows(tmp / "features.npy", np.float16, shape)
        labels = np.zeros((n, cfg.label_steps), dtype=np.uint8)
        stats = {
            "shard": _shard_name(k),
            "offset": offset,
            "examples": n,
            "activates": 0,
            "negatives": 0,
            "dropped": 0,
            "peak_limited": 0,
        }
        with open(tmp / "events.jsonl", "w") as fh:
            for j in range(n):
                ex = synthesize_example(
                    cfg, corpus, rng, feature_config=fc, compute_features=cfg.store_features
                )
                if audio is not None:
                    audio.write(_to_int16(ex.audio, audio.row))
                if features is not None:
                    features.write(_to_float16(ex.features, features.row))
                labels[j] = ex.labels
                stats["activates"] += sum(e.kind == "activate" for e in ex.events)
                stats["negatives"] += sum(e.kind == "negative" for e in ex.events)
                stats["dropped"] += ex.dropped
                stats["peak_limited"] += int(ex.peak_limited)
                fh.write(json.dumps(_example_record(offset + j, ex)) + "\n")
        # No msync/fsync: the rename makes the shard appear whole; the page cache writes it out
        # while the next shard is computed (a power cut may need the shard deleted and rebuilt).
        for array in (audio, features):
            if array is not None:
                array.close()
        np.save(tmp / "labels.npy", labels)
        (tmp / "stats.json").write_text(json.dumps(stats))
        os.rename(tmp, final)
    except BaseException:
        for array in (audio, features):
            if array is not None:
                array.fh.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats


class _NpyRows:
    """An ``.npy`` file of ``shape`` written one row at a time through ``row``, a reused buffer.

    Sequential writes cost about half what filling a fresh memory map does (no page faults).
    """

    def __init__(self, path: Path, dtype: Any, shape: tuple[int, ...]) -> None:
        from numpy.lib import format as npy

        self.path, self.shape = path, tuple(int(d) for d in shape)
        self.row = np.zeros(self.shape[1:], dtype=dtype)
        self.written = 0
        self.fh = open(path, "wb")
        header = {"descr": npy.dtype_to_descr(self.row.dtype), "fortran_order": False}
        npy.write_array_header_1_0(self.fh, {**header, "shape": self.shape})

    def write(self, row: np.ndarray) -> None:
        """Append ``row`` (normally :attr:`row` itself, filled in place)."""
        if row.shape != self.row.shape or row.dtype != self.row.dtype:
            raise ValueError(f"{self.path}: row of {row.dtype} {row.shape}, expected "
                             f"{self.row.dtype} {self.row.shape}")  # fmt: skip
        self.fh.write(np.ascontiguousarray(row).data)
        self.written += 1

    def close(self) -> None:
        """Close the file; every row must have been written."""
        self.fh.close()
        if self.written != self.shape[0]:
            raise RuntimeError(f"{self.path}: {self.written} of {self.shape[0]} rows written")


def _example_record(index: int, ex: Example) -> dict[str, Any]:
    return {
        "index": index,
        "background": ex.background,
        "events": [[e.kind, round(e.start_s, 6), round(e.end_s, 6), e.clip] for e in ex.events],
        "dropped": ex.dropped,
        "peak_limited": ex.peak_limited,
    }


def _start_method(name: str | None) -> str:
    methods = multiprocessing.get_all_start_methods()
    if name is not None:
        if name not in methods:
            raise ValueError(f"start_method must be one of {', '.join(methods)}, got {name!r}")
        return name
    return "fork" if "fork" in methods else "spawn"


def _prepare_root(root: Path, params: dict[str, Any], overwrite: bool) -> tuple[str, Path | None]:
    """Decide what to do with ``root``: "reuse", "resume" or "new"; plus a folder moved aside."""
    name = root.name
    manifest = root / MANIFEST
    aside: Path | None = None
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{manifest}: cannot read the dataset manifest ({exc})") from None
        diff = _differences(_stored_params(old), params)
        if not diff:
            return "reuse", None
        if not overwrite:
            raise DatasetError(
                f"dataset {name!r} ({root}) exists with different parameters: {'; '.join(diff)}. "
                "Choose another dataset_name, or pass overwrite=True to replace it"
            )
        aside = root.with_name(f".{name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.rename(root, aside)
        log.info("moved the old dataset %s aside to %s until the new one is complete", root, aside)
    elif root.exists():
        state = root / BUILD_STATE
        if state.is_file():
            try:
                old_params = _with_defaults(json.loads(state.read_text())["parameters"])
            except (OSError, json.JSONDecodeError, KeyError) as exc:
                old_params, why = None, f"unreadable {BUILD_STATE} ({exc})"
            if old_params is not None:
                diff = _differences(old_params, params)
                if not diff:
                    return "resume", None
                why = f"it was started with different parameters: {'; '.join(diff)}"
        elif any(root.iterdir()):
            why = f"it is not a dataset folder (no {MANIFEST}, no {BUILD_STATE})"
        else:
            return "new", None
        if not overwrite:
            raise DatasetError(
                f"cannot build dataset {name!r}: {root} holds an incomplete build and {why}. "
                "Pass overwrite=True to delete it, or choose another dataset_name"
            )
        shutil.rmtree(root)
    return "new", aside


def build_dataset(
    cfg: SynthesisConfig,
    raw_dir: Path | str | None = None,
    workers: int | None = None,
    progress: bool = True,
    *,
    overwrite: bool = False,
    corpus: Corpus | None = None,
    start_method: str | None = None,
) -> Dataset:
    """Build (or reuse, or resume) the dataset ``cfg.dataset_name``; returns it opened.

    ``workers``: processes (default ``cfg.workers``; 0 = one per CPU); the data does not
    depend on it. ``corpus``: clips already loaded (default: load ``cfg.split`` from
    ``raw_dir``, the raw corpus folder). ``start_method``: "fork" (default where available)
    or "spawn". See the module docstring for reuse, resume and ``overwrite``.
    """
    if not isinstance(cfg, SynthesisConfig):
        raise TypeError(f"cfg must be a SynthesisConfig, got {type(cfg).__name__}")
    root = dataset_dir(cfg.dataset_name)
    if corpus is not None:
        if corpus.sample_rate != cfg.sample_rate:
            raise DatasetError(
                f"the corpus is at {corpus.sample_rate} Hz but sample_rate is {cfg.sample_rate}"
            )
        fingerprint = corpus.fingerprint
    else:
        fingerprint = source_fingerprint(raw_dir, cfg.split, cfg.engines, cfg.exclude_phrases)
    params = _compared(cfg, fingerprint)
    root.parent.mkdir(parents=True, exist_ok=True)
    action, aside = _prepare_root(root, params, overwrite)
    if action == "reuse":
        log.info("dataset %r is already built with these parameters: reusing %s", root.name, root)
        return open_dataset(root)
    try:
        ds = _build(cfg, root, params, raw_dir, workers, progress, corpus, start_method)
    except BaseException:
        if aside is not None:
            shutil.rmtree(root, ignore_errors=True)
            os.rename(aside, root)
            log.warning("the build failed: put the old dataset back at %s", root)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return ds


def _build(
    cfg: SynthesisConfig,
    root: Path,
    params: dict[str, Any],
    raw_dir: Path | str | None,
    workers: int | None,
    progress: bool,
    corpus: Corpus | None,
    start_method: str | None,
) -> Dataset:
    t0 = time.perf_counter()
    corpus = corpus if corpus is not None else corpus_for(cfg, raw_dir)
    corpus.check(need_activates=cfg.activates_per_example[1] > 0)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".shard-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    write_json(root / BUILD_STATE, {"parameters": params, "started": _now()})

    sizes = _shard_sizes(cfg.n_examples, cfg.shard_size)
    seeds = np.random.SeedSequence(cfg.seed).spawn(len(sizes))
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    jobs = [
        (k, offsets[k], sizes[k], seeds[k])
        for k in range(len(sizes))
        if not (root / _shard_name(k) / "stats.json").is_file()
    ]
    resumed = len(sizes) - len(jobs)
    if resumed:
        log.info("resuming %s: %d of %d shards already written", root, resumed, len(sizes))
    n_workers = workers if workers is not None else cfg.workers
    n_workers = (os.cpu_count() or 1) if n_workers == 0 else n_workers
    if n_workers < 0:
        raise ValueError(f"workers must be 0 (one per CPU) or more, got {n_workers}")
    n_workers = max(1, min(n_workers, len(jobs)))

    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(j[2] for j in jobs), desc=f"building {root.name}", unit="example")
    try:
        if n_workers == 1:
            fc = cfg.feature_config()
            with _one_blas_thread():
                for job in jobs:
                    stats = write_shard(cfg, corpus, root, *job, fc=fc)
                    if bar is not None:
                        bar.update(stats["examples"])
        else:
            ctx = multiprocessing.get_context(_start_method(start_method))
            with ctx.Pool(n_workers, _init_worker, (cfg, corpus, str(root))) as pool:
                for stats in pool.imap_unordered(_worker_build, jobs):
                    if bar is not None:
                        bar.update(stats["examples"])
    finally:
        if bar is not None:
            bar.close()

    shard_stats = [
        json.loads((root / _shard_name(k) / "stats.json").read_text()) for k in range(len(sizes))
    ]
    manifest = _manifest(cfg, corpus, shard_stats, n_workers, time.perf_counter() - t0, resumed)
    write_json(root / MANIFEST, manifest)
    (root / BUILD_STATE).unlink(missing_ok=True)
    log.info(
        "built dataset %r: %d examples in %d shards at %s",
        root.name,
        cfg.n_examples,
        len(sizes),
        root,
    )
    return open_dataset(root)


def _package_version() -> str:
    version = getattr(lib, "__version__", None)
    if version:
        return str(version)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("heyjoe")
    except PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _manifest(
    cfg: SynthesisConfig,
    corpus: Corpus,
    shard_stats: list[dict[str, Any]],
    workers: int,
    seconds: float,
    resumed: int,
) -> dict[str, Any]:
    fc = cfg.feature_config()
    keys = ("examples", "activates", "negatives", "dropped", "peak_limited")
    totals = {key: sum(s[key] for s in shard_stats) for key in keys}
    per_example = bytes_per_example(cfg)
    return {
        "name": cfg.dataset_name,
        "kind": "synthetic",
        "format": FORMAT_VERSION,
        "created": _now(),
        "heyjoe_version": _package_version(),
        "seed": cfg.seed,
        "split": cfg.split,
        "parameters": to_dict(cfg),
        "features": fc.to_dict(),
        "feature_shape": [fc.frames_for(cfg.n_samples), fc.n_bins],
        "audio": {
            "sample_rate": cfg.sample_rate,
            "samples": cfg.n_samples,
            "dtype": "int16",
            "stored": cfg.store_audio,
        },
        "labels": {
            "label_steps": cfg.label_steps,
            "label_ones": cfg.label_ones,
            "example_seconds": cfg.example_seconds,
            "rule": "label_ones ones from step int(end_s * label_steps / example_seconds) "
            "of each activate (lib.synth.labels_from_events)",
        },
        "sources": corpus.summary(),
        "counts": {**totals, "seconds": round(totals["examples"] * cfg.example_seconds, 3)},
        "bytes_per_example": per_example,
        "estimated_bytes": per_example["total"] * cfg.n_examples,
        "shards": [
            {"name": s["shard"], "offset": s["offset"], "examples": s["examples"]}
            for s in shard_stats
        ],
        "build": {"workers": workers, "seconds": round(seconds, 2), "resumed_shards": resumed},
    }


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class Shard:
    """One shard folder; arrays are opened as read-only memory maps on first use."""

    def __init__(self, path: Path, offset: int, n: int) -> None:
        self.path, self.offset, self.n = path, offset, n
        self._arrays: dict[str, np.ndarray] = {}
        self._events: list[dict[str, Any]] | None = None

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            self._arrays[name] = np.load(self.path / f"{name}.npy", mmap_mode="r")
        return self._arrays[name]

    def records(self) -> list[dict[str, Any]]:
        if self._events is None:
            with open(self.path / "events.jsonl") as fh:
                self._events = [json.loads(line) for line in fh if line.strip()]
        return self._events

    def __repr__(self) -> str:
        return f"Shard({self.path.name}, offset={self.offset}, n={self.n})"


class Dataset:
    """A built dataset: examples by index, batches, and a ``tf.data`` pipeline."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        from lib.features import FeatureConfig

        self.root = root
        self.manifest = manifest
        self.name: str = manifest["name"]
        self.feature_config = FeatureConfig.from_dict(manifest["features"])
        self.label_steps: int = manifest["labels"]["label_steps"]
        self.shards = [
            Shard(root / s["name"], s["offset"], s["examples"]) for s in manifest["shards"]
        ]
        self._offsets = np.array([s.offset for s in self.shards], dtype=np.int64)
        self._n = sum(s.n for s in self.shards)
        self.has_audio = bool(manifest["audio"]["stored"])
        self.has_features = bool(manifest["parameters"]["store_features"])

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {self._n} examples, {len(self.shards)} shards, {self.root})"

    @property
    def path(self) -> Path:
        """The dataset's folder (same as ``root``)."""
        return self.root

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["audio"]["sample_rate"])

    @property
    def feature_shape(self) -> tuple[int, int]:
        return tuple(self.manifest["feature_shape"])  # type: ignore[return-value]

    def _locate(self, i: int) -> tuple[Shard, int]:
        i = int(i)
        if not -self._n <= i < self._n:
            raise IndexError(f"example {i} out of range for dataset {self.name!r} ({self._n})")
        i %= self._n
        k = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self.shards[k], i - self.shards[k].offset

    def audio(self, i: int) -> np.ndarray:
        """Example ``i``'s audio, float32 in [-1, 1)."""
        if not self.has_audio:
            raise DatasetError(f"dataset {self.name!r} was built with store_audio: false")
        shard, j = self._locate(i)
        return shard.array("audio")[j].astype(np.float32) / np.float32(32768.0)

    def features(self, i: int) -> np.ndarray:
        """Example ``i``'s features, float32 ``(frames, bins)`` (from audio if not stored)."""
        shard, j = self._locate(i)
        if self.has_features:
            return shard.array("features")[j].astype(np.float32)
        from lib.features import compute_features

        return compute_features(self.audio(i), self.feature_config)

    def labels(self, i: int) -> np.ndarray:
        """Example ``i``'s label track, uint8 ``(label_steps,)``."""
        shard, j = self._locate(i)
        return np.asarray(shard.array("labels")[j])

    def events(self, i: int) -> list[Event]:
        """What was overlaid in example ``i`` (seconds), for regenerating labels."""
        shard, j = self._locate(i)
        return [Event(k, float(s), float(e), c) for k, s, e, c in shard.records()[j]["events"]]

    def features_and_events(self, i: int) -> tuple[np.ndarray, list[Event]]:
        """(features, events) of example ``i``: what training reads (as from a FreshSource)."""
        return self.features(i), self.events(i)

    def example(self, i: int) -> dict[str, Any]:
        """Everything about example ``i``: audio (if stored), features, labels, events."""
        shard, j = self._locate(i)
        record = shard.records()[j]
        return {
            "index": int(i),
            "audio": self.audio(i) if self.has_audio else None,
            "features": self.features(i),
            "labels": self.labels(i),
            "events": self.events(i),
            "background": record["background"],
        }

    def gather(self, indexes: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features float32 (b, frames, bins), labels float32 (b, label_steps, 1))."""
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        frames, bins = self.feature_shape
        x = np.empty((len(idx), frames, bins), dtype=np.float32)
        y = np.empty((len(idx), self.label_steps, 1), dtype=np.float32)
        for row, i in enumerate(idx):
            x[row] = self.features(int(i))
            y[row, :, 0] = self.labels(int(i))
        return x, y

    def iter_batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches of (features, labels[..., None]) as float32; the last may be smaller.

        Reads through memory maps: memory stays about one batch.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = np.arange(self._n)
        if shuffle:
            if seed is None:
                raise ValueError("iter_batches(shuffle=True) needs a seed (no hidden randomness)")
            order = np.random.default_rng(seed).permutation(self._n)
        for start in range(0, self._n, batch_size):
            yield self.gather(order[start : start + batch_size])

    def as_tf_dataset(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, repeat: bool = False
    ) -> Any:
        """A ``tf.data.Dataset`` of (features float32 (b, frames, bins), labels (b, steps, 1)).

        Shuffles example indexes (reshuffled every pass, fixed by ``seed``), then reads each
        batch from the memory maps, so memory stays about a few batches.
        """
        import tensorflow as tf

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        frames, bins = self.feature_shape
        ds = tf.data.Dataset.range(self._n)
        if shuffle:
            ds = ds.shuffle(self._n, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size)

        def load(idx: Any) -> tuple[Any, Any]:
            x, y = tf.numpy_function(self.gather, [idx], (tf.float32, tf.float32))
            x.set_shape((None, frames, bins))
            y.set_shape((None, self.label_steps, 1))
            return x, y

        return ds.map(load).prefetch(tf.data.AUTOTUNE)

    def size_bytes(self) -> int:
        """Bytes on disk."""
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())


def available_datasets() -> list[str]:
    """Names of the folders in the datasets directory that hold a manifest."""
    root = paths.datasets_dir()
    if not root.is_dir():
        return []
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).is_file()
    )


def open_dataset(name_or_path: str | os.PathLike) -> Dataset:
    """Open a built dataset by name (in ``paths.datasets_dir()``) or by folder path.

    Raises DatasetError naming the folder and what is missing when it is absent or incomplete.
    """
    text = str(name_or_path)
    candidate = Path(name_or_path).expanduser()
    is_path = os.sep in text or (os.altsep and os.altsep in text) or candidate.is_absolute()
    root = candidate if is_path else dataset_dir(text)
    if not root.is_dir():
        names = available_datasets()
        raise DatasetError(
            f"no dataset {text!r} (looked in {root}); available: "
            + (", ".join(names) if names else f"none in {paths.datasets_dir()}")
        )
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        hint = (
            " (an interrupted build: run build_dataset again with the same settings to resume)"
            if (root / BUILD_STATE).is_file()
            else ""
        )
        raise DatasetError(f"dataset {root} is incomplete: {MANIFEST} is missing{hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{manifest_path}: cannot read the dataset manifest ({exc})") from None
    required = ("name", "features", "labels", "shards", "audio", "parameters", "feature_shape")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise DatasetError(f"{manifest_path}: manifest lacks {', '.join(missing)}")
    params = manifest["parameters"]
    wanted = ["labels"] + (["audio"] if params.get("store_audio") else [])
    wanted += ["features"] if params.get("store_features") else []
    for s in manifest["shards"]:
        folder = root / s["name"]
        absent = [f"{a}.npy" for a in wanted if not (folder / f"{a}.npy").is_file()]
        absent += [] if (folder / "events.jsonl").is_file() else ["events.jsonl"]
        if absent:
            raise DatasetError(
                f"dataset {root} is incomplete: {folder.name} lacks {', '.join(absent)}"
            )
        rows = np.load(folder / "labels.npy", mmap_mode="r").shape[0]
        if rows != s["examples"]:
            raise DatasetError(
                f"dataset {root} is damaged: {folder.name}/labels.npy has {rows} examples, "
                f"the manifest says {s['examples']}"
            )
    try:
        return Dataset(root, manifest)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{manifest_path}: malformed manifest ({exc})") from None


def list_datasets() -> list[dict[str, Any]]:
    """One row per built dataset (for ``heyjoe datasets``); broken folders are skipped, warned."""
    root = paths.datasets_dir()
    rows: list[dict[str, Any]] = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            ds = open_dataset(folder)
        except DatasetError as exc:
            log.warning("skipping %s: %s", folder, exc)
            continue
        m = ds.manifest
        rows.append(
            {
                "name": ds.name,
                "kind": m.get("kind", "?"),
                "examples": len(ds),
                "split": m.get("split"),
                "seed": m.get("seed"),
                "feature_kind": ds.feature_config.kind,
                "created": m.get("created"),
                "size_bytes": ds.size_bytes(),
                "path": str(folder),
            }
        )
    return rows
