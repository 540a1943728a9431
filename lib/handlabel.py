"""Hand-labelled recordings become first-class data: a recorded split and named datasets.

Labels are Audacity label files beside the recordings (:mod:`lib.labels`). This module

- scans a folder of recordings (:func:`scan_recordings`): each file's state, duration,
  labels and speaker group; unreadable audio and malformed label files are listed, skipped;
- splits the labelled recordings into train/dev/test by **group** (:func:`split_recordings`),
  so near-duplicates (the same speaker, the same session) never sit on both sides;
- writes the split to ``<recordings>/split.json`` and keeps it: a recording once assigned
  stays in its split while the seed, fractions and grouping rule stay the same, and new
  recordings join the split that is furthest below its share (:func:`write_split`);
- builds one named dataset per split (``hand_train``, ``hand_dev``, ``hand_test``) in the
  same on-disk format as the synthetic ones (:mod:`lib.datasets`): fixed-length windows of
  ``example_seconds``, features with the synthesis :class:`~lib.features.FeatureConfig`, label
  tracks from :func:`lib.synth.labels_from_events` with the synthesis label settings, so
  ``lib.datasets.open_dataset("hand_train")`` opens them and a trainer can mix them in;
- pre-fills suggested spans from a trigger model's detections (:func:`suggest_spans`).

**Grouping rule** (``group_by: auto``): a recording in a sub-folder belongs to the group of
its top folder (``speakerA/anything.wav`` → ``speakerA``); a recording at the top level
belongs to the group named by its file name up to the first underscore
(``speakerA_session1_003.wav`` → ``speakerA``); a name without an underscore is its own group.
``group_by: folder`` uses only folders, ``prefix`` only name prefixes, ``none`` makes every
recording its own group.

**Windows**: a recording shorter than ``example_seconds`` is zero-padded at the end; a longer
one is covered by windows starting every ``example_seconds`` (the last one ending with the
recording), plus one window centred on any labelled span no window holds whole. Inside a
window a label counts as a trigger when its end lies inside the window (its start may be cut).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lib import paths
from lib.errors import AudioError, ConfigError, DatasetError, HeyJoeError
from lib.files import write_json
from lib.labels import Label, LabelFileError, label_path, label_state, read_labels

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_FILE = "split.json"


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class HandLabelConfig:
    """Settings of the ``hand_label`` stage (``configs/hand_label.yaml`` documents each key)."""

    recordings_dir: str | None = None
    demo_recordings: int = 12
    use_demo_truth: bool = False
    group_by: Literal["auto", "folder", "prefix", "none"] = "auto"
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0
    dataset_prefix: str = "hand"
    suggest: bool = True
    suggest_model: str | None = None
    suggest_threshold: float | None = None
    suggest_span_seconds: float = 0.6

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"hand_label parameter {key!r} {why}, got {getattr(self, key)!r}")

        if self.demo_recordings < 0:
            raise bad("demo_recordings", "must be 0 or more")
        fr = self.split_fractions
        if any(f < 0 or not math.isfinite(f) for f in fr) or not math.isclose(sum(fr), 1.0):
            raise bad(
                "split_fractions", "must be three fractions >= 0 (train, dev, test) adding to 1"
            )
        p = self.dataset_prefix
        if not p or p.startswith(".") or any(c in p for c in "/\\: "):
            raise bad("dataset_prefix", "must be a plain name (no '/', spaces or leading '.')")
        if self.suggest_threshold is not None and not 0.0 < self.suggest_threshold < 1.0:
            raise bad("suggest_threshold", "must be None or in (0, 1)")
        if not 0.05 <= self.suggest_span_seconds <= 5.0:
            raise bad("suggest_span_seconds", "must be in [0.05, 5] seconds")

    def folder(self) -> Path:
        """The recordings folder these settings name."""
        return (
            Path(self.recordings_dir).expanduser()
            if self.recordings_dir
            else paths.recordings_dir()
        )


# ---------------------------------------------------------------------------- scanning


@dataclass
class Recording:
    """One recording of a scanned folder."""

    path: Path
    rel: str  # path relative to the folder, POSIX separators
    group: str
    state: str  # "unlabelled", "no_trigger" or "labelled"
    duration: float
    sample_rate: int
    labels: list[Label] = field(default_factory=list)


@dataclass
class Scan:
    """What :func:`scan_recordings` found."""

    folder: Path
    recordings: list[Recording]
    unreadable: list[tuple[Path, str]]  # audio files that could not be read, and why
    malformed: list[tuple[Path, str]]  # label files with bad lines, and the message

    @property
    def labelled(self) -> list[Recording]:
        """Recordings checked by a person (with triggers or marked as having none)."""
        return [r for r in self.recordings if r.state != "unlabelled"]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("unlabelled", "no_trigger", "labelled")}
        for r in self.recordings:
            out[r.state] += 1
        return {
            "recordings": len(self.recordings),
            **out,
            "spans": sum(len(r.labels) for r in self.recordings),
            "unreadable": len(self.unreadable),
            "malformed": len(self.malformed),
        }


def recording_group(rel: str | Path, group_by: str = "auto") -> str:
    """The group (speaker or session) of a recording, from its path relative to the folder."""
    parts = Path(rel).parts
    stem = Path(rel).stem
    if group_by == "none":
        return Path(rel).as_posix()
    if len(parts) > 1 and group_by in ("auto", "folder"):
        return parts[0]
    if group_by in ("auto", "prefix") and "_" in stem.strip("_"):
        return stem.strip("_").split("_", 1)[0]
    return Path(rel).with_suffix("").as_posix()


def scan_recordings(folder: str | Path | None = None, group_by: str = "auto") -> Scan:
    """Every audio file under ``folder`` with its label state, duration, labels and group.

    Unreadable audio files and malformed label files are listed (one warning each kind)
    and left out of ``recordings``.
    """
    from lib.audio import find_audio_files, read_audio

    folder = Path(folder) if folder is not None else paths.recordings_dir()
    recordings, unreadable, malformed = [], [], []
    for path in find_audio_files(folder):
        rel = path.relative_to(folder)
        if rel.parts[0].startswith("."):
            continue  # hidden folders (.truth/) hold no recordings
        try:
            audio, sr = read_audio(path)
        except AudioError as exc:
            unreadable.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        try:
            state = label_state(path)
            labels = read_labels(label_path(path)) if state == "labelled" else []
        except LabelFileError as exc:
            malformed.append((path, str(exc)))
            continue
        recordings.append(
            Recording(
                path,
                rel.as_posix(),
                recording_group(rel, group_by),
                state,
                len(audio) / sr,
                sr,
                labels,
            )
        )
    if unreadable:
        log.warning(
            "skipped %d unreadable audio file(s):\n%s",
            len(unreadable),
            "\n".join(f"  {p}: {why}" for p, why in unreadable),
        )
    if malformed:
        log.warning(
            "skipped %d recording(s) with malformed label files (fix them first):\n%s",
            len(malformed),
            "\n".join(f"  {why}" for _, why in malformed),
        )
    return Scan(folder, recordings, unreadable, malformed)


def summary_rows(scan: Scan) -> list[dict[str, Any]]:
    """One row per recording (for a table): name, group, state, seconds, spans."""
    rows = [
        {
            "recording": r.rel,
            "group": r.group,
            "state": r.state,
            "seconds": f"{r.duration:.2f}",
            "spans": " ".join(f"{lab.start:.2f}–{lab.end:.2f}" for lab in r.labels),
        }
        for r in scan.recordings
    ]
    rows += [
        {"recording": str(p.relative_to(scan.folder)), "state": f"unreadable: {why}"}
        for p, why in scan.unreadable
    ]
    rows += [
        {"recording": str(p.relative_to(scan.folder)), "state": "malformed labels"}
        for p, _ in scan.malformed
    ]
    return rows


def summary(scan: Scan) -> dict[str, Any]:
    """Counts and durations of a scan (for metrics)."""
    spans = [lab for r in scan.recordings for lab in r.labels]
    durations = [lab.duration for lab in spans]
    return {
        **scan.counts(),
        "groups": len({r.group for r in scan.recordings}),
        "seconds_total": round(sum(r.duration for r in scan.recordings), 3),
        "seconds_labelled": round(sum(r.duration for r in scan.labelled), 3),
        "span_seconds_mean": round(float(np.mean(durations)), 3) if durations else None,
    }


def plot_summary(scan: Scan) -> Any:
    """Histograms of where labels end (seconds into the recording), span lengths and
    recording lengths."""
    from lib.plots import _pyplot

    plt = _pyplot()
    spans = [lab for r in scan.recordings for lab in r.labels]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    axes[0].hist(
        [lab.end for lab in spans] or [0], bins=20, color="tab:green", alpha=0.9 if spans else 0.0
    )
    axes[0].set_xlabel("label end, seconds into the recording")
    axes[0].set_ylabel("labels")
    axes[1].hist(
        [lab.duration for lab in spans] or [0],
        bins=15,
        color="tab:blue",
        alpha=0.9 if spans else 0.0,
    )
    axes[1].set_xlabel("span length, seconds")
    axes[2].hist([r.duration for r in scan.recordings] or [0], bins=15, color="0.4")
    axes[2].set_xlabel("recording length, seconds")
    fig.suptitle(f"{len(spans)} labels in {len(scan.labelled)} checked recordings")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- split


def split_recordings(
    recordings: list[Recording],
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    previous: dict[str, str] | None = None,
) -> dict[str, str]:
    """Assign each recording's group to train/dev/test → ``{rel: split}``.

    Groups in ``previous`` (rel → split, from the recorded split) keep their split. The other
    groups, in an order fixed by ``seed`` (a hash of seed and group name, so independent of
    what else is in the folder), go first to any split with a positive share that is still
    empty, then to the split furthest below its share of recordings.
    """
    groups: dict[str, list[Recording]] = {}
    for r in recordings:
        groups.setdefault(r.group, []).append(r)
    previous = previous or {}
    assigned: dict[str, str] = {}
    counts = dict.fromkeys(SPLITS, 0)
    for group, members in groups.items():
        old = {previous[r.rel] for r in members if r.rel in previous} & set(SPLITS)
        if len(old) == 1:
            assigned[group] = old.pop()
            counts[assigned[group]] += len(members)

    def key(group: str) -> str:
        return hashlib.sha1(f"{seed}\0{group}".encode()).hexdigest()

    total = len(recordings)
    for group in sorted((g for g in groups if g not in assigned), key=key):
        empty = [s for s, f in zip(SPLITS, fractions, strict=True) if f > 0 and counts[s] == 0]
        if empty:
            choice = empty[0]
        else:
            deficit = {s: f * total - counts[s] for s, f in zip(SPLITS, fractions, strict=True)}
            choice = max(SPLITS, key=lambda s: (deficit[s], -SPLITS.index(s)))
        assigned[group] = choice
        counts[choice] += len(groups[group])
    return {r.rel: assigned[r.group] for r in recordings}


def split_path(folder: str | Path | None = None) -> Path:
    return (Path(folder) if folder is not None else paths.recordings_dir()) / SPLIT_FILE


def read_split(folder: str | Path | None = None) -> dict[str, Any] | None:
    """The recorded split of a folder, or None."""
    path = split_path(folder)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the recorded split ({exc})") from None


def write_split(scan: Scan, cfg: HandLabelConfig) -> dict[str, Any]:
    """Split the checked recordings of ``scan`` and record it in ``<folder>/split.json``.

    Recordings already in the recorded split keep their split when the seed, fractions and
    grouping rule are unchanged. Returns the record written.
    """
    old = read_split(scan.folder)
    same = old is not None and (
        old.get("seed") == cfg.split_seed
        and old.get("fractions") == list(cfg.split_fractions)
        and old.get("group_by") == cfg.group_by
    )
    previous = {rel: v["split"] for rel, v in old["recordings"].items()} if same else None
    chosen = scan.labelled
    assignment = split_recordings(chosen, cfg.split_fractions, cfg.split_seed, previous)
    record = {
        "seed": cfg.split_seed,
        "fractions": list(cfg.split_fractions),
        "group_by": cfg.group_by,
        "rule": "group = top folder, else file name up to the first '_', else the file; "
        "whole groups go to one split (lib.handlabel)",
        "written": _now(),
        "counts": {s: sum(v == s for v in assignment.values()) for s in SPLITS},
        "recordings": {
            r.rel: {"split": assignment[r.rel], "group": r.group, "state": r.state}
            for r in sorted(chosen, key=lambda r: r.rel)
        },
    }
    write_json(split_path(scan.folder), record)
    log.info("split %d checked recordings: %s", len(chosen), record["counts"])
    return record


# ---------------------------------------------------------------------------- windows


def windows_for(duration: float, spans: list[Label], window: float) -> list[float]:
    """Start times (seconds) of the fixed-length windows cut from a recording (module doc)."""
    if duration <= window:
        return [0.0]
    starts = list(np.arange(0.0, duration - window, window)) + [duration - window]
    starts = sorted({round(float(s), 6) for s in starts})
    for lab in spans:
        if not any(s <= lab.start and lab.end <= s + window for s in starts):
            centre = (lab.start + lab.end) / 2
            starts.append(round(min(max(centre - window / 2, 0.0), duration - window), 6))
    return sorted(set(starts))


def window_examples(
    audio: np.ndarray, sample_rate: int, spans: list[Label], window: float
) -> list[tuple[float, np.ndarray, list[tuple[str, float, float, str]]]]:
    """``(start, window audio, events)`` for each window; events are
    ``("activate", start, end, "")`` relative to the window, for labels whose end lies in it."""
    n = int(round(window * sample_rate))
    out = []
    for s in windows_for(len(audio) / sample_rate, spans, window):
        i = int(round(s * sample_rate))
        chunk = np.zeros(n, dtype=np.float32)
        piece = audio[i : i + n]
        chunk[: len(piece)] = piece
        events = [
            ("activate", max(lab.start - s, 0.0), lab.end - s, "")
            for lab in spans
            if s < lab.end <= s + window
        ]
        out.append((s, chunk, events))
    return out


# ---------------------------------------------------------------------------- datasets


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fingerprint(items: list[Recording], params: dict[str, Any]) -> str:
    h = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode())
    for r in sorted(items, key=lambda r: r.rel):
        st = r.path.stat()
        h.update(f"{r.rel}|{st.st_size}|{st.st_mtime_ns}|".encode())
        h.update(repr([(lab.start, lab.end) for lab in r.labels]).encode())
    return h.hexdigest()[:16]


def build_hand_dataset(
    name: str, items: list[Recording], synthesis: Any, split: str = "train"
) -> Any:
    """Build (or reuse) the named dataset ``name`` from checked recordings.

    ``synthesis``: a :class:`lib.synth.SynthesisConfig` giving example_seconds, sample rate,
    features and label settings. A dataset of that name built from the same recordings,
    labels and settings is reused; one built from other labels is replaced (it is derived
    from the label files, which are the record); a synthetic dataset of that name is never
    touched (DatasetError).
    """
    from numpy.lib.format import open_memmap

    from lib import datasets
    from lib.audio import load_audio
    from lib.config import to_dict
    from lib.features import compute_features
    from lib.synth import labels_from_events

    if not items:
        raise DatasetError(f"dataset {name!r}: no checked recordings to build it from")
    cfg = synthesis
    fc = cfg.feature_config()
    params = {
        k: v
        for k, v in to_dict(cfg).items()
        if k
        in (
            "example_seconds",
            "label_steps",
            "label_ones",
            "sample_rate",
            "feature_kind",
            "n_mels",
            "window_seconds",
            "hop_seconds",
            "store_audio",
            "store_features",
        )
    }
    fingerprint = _fingerprint(items, params)
    root = datasets.dataset_dir(name)
    old_manifest = root / datasets.MANIFEST
    if old_manifest.is_file():
        try:
            old = json.loads(old_manifest.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("kind") != "hand_labelled":
            raise DatasetError(
                f"dataset {name!r} ({root}) exists and is not a hand-labelled dataset; choose "
                "another dataset_prefix"
            )
        if old.get("sources", {}).get("fingerprint") == fingerprint:
            log.info("dataset %r is up to date with the labels: reusing %s", name, root)
            return datasets.open_dataset(root)
    elif root.exists() and any(root.iterdir()):
        raise DatasetError(f"cannot build dataset {name!r}: {root} exists and is not a dataset")

    t0 = time.perf_counter()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root.parent))
    try:
        examples = []
        for r in sorted(items, key=lambda r: r.rel):
            audio = load_audio(r.path, cfg.sample_rate)
            for start, chunk, events in window_examples(
                audio, cfg.sample_rate, r.labels, cfg.example_seconds
            ):
                examples.append((r, start, chunk, events))
        n = len(examples)
        shard = tmp / "shard-00000"
        shard.mkdir()
        frames = fc.frames_for(cfg.n_samples)
        audio_mm = open_memmap(shard / "audio.npy", "w+", np.int16, (n, cfg.n_samples))
        feat_mm = open_memmap(shard / "features.npy", "w+", np.float16, (n, frames, fc.n_bins))
        labels = np.zeros((n, cfg.label_steps), dtype=np.uint8)
        activates = 0
        with open(shard / "events.jsonl", "w") as fh:
            for j, (r, start, chunk, events) in enumerate(examples):
                audio_mm[j] = datasets._to_int16(chunk[: cfg.n_samples])
                feat_mm[j] = compute_features(chunk[: cfg.n_samples], fc)
                labels[j] = labels_from_events(
                    events, cfg.label_steps, cfg.example_seconds, cfg.label_ones
                )
                activates += len(events)
                record = {
                    "index": j,
                    "background": r.rel,
                    "events": [[k, round(s, 6), round(e, 6), r.rel] for k, s, e, _ in events],
                    "dropped": 0,
                    "peak_limited": False,
                    "recording": r.rel,
                    "window_start": round(start, 6),
                    "group": r.group,
                }
                fh.write(json.dumps(record) + "\n")
        del audio_mm, feat_mm
        np.save(shard / "labels.npy", labels)
        stats = {
            "shard": "shard-00000",
            "offset": 0,
            "examples": n,
            "activates": activates,
            "negatives": 0,
            "dropped": 0,
            "peak_limited": 0,
        }
        (shard / "stats.json").write_text(json.dumps(stats))
        per_example = datasets.bytes_per_example(cfg)
        manifest = {
            "name": name,
            "kind": "hand_labelled",
            "format": datasets.FORMAT_VERSION,
            "created": _now(),
            "heyjoe_version": datasets._package_version(),
            "seed": None,
            "split": split,
            "parameters": {**params, "store_audio": True, "store_features": True},
            "features": fc.to_dict(),
            "feature_shape": [frames, fc.n_bins],
            "audio": {
                "sample_rate": cfg.sample_rate,
                "samples": cfg.n_samples,
                "dtype": "int16",
                "stored": True,
            },
            "labels": {
                "label_steps": cfg.label_steps,
                "label_ones": cfg.label_ones,
                "example_seconds": cfg.example_seconds,
                "rule": "label_ones ones from step int(end_s * label_steps / example_seconds) "
                "of each hand-labelled span ending inside the window "
                "(lib.synth.labels_from_events)",
            },
            "sources": {
                "fingerprint": fingerprint,
                "recordings_dir": str(items[0].path.parent),
                "recordings": [
                    {
                        "path": r.rel,
                        "group": r.group,
                        "state": r.state,
                        "seconds": round(r.duration, 3),
                        "labels": [[lab.start, lab.end] for lab in r.labels],
                    }
                    for r in sorted(items, key=lambda r: r.rel)
                ],
                "groups": sorted({r.group for r in items}),
            },
            "counts": {
                "examples": n,
                "activates": activates,
                "negatives": 0,
                "dropped": 0,
                "peak_limited": 0,
                "recordings": len(items),
                "seconds": round(n * cfg.example_seconds, 3),
            },
            "bytes_per_example": per_example,
            "estimated_bytes": per_example["total"] * n,
            "shards": [{"name": "shard-00000", "offset": 0, "examples": n}],
            "build": {
                "workers": 1,
                "seconds": round(time.perf_counter() - t0, 2),
                "resumed_shards": 0,
            },
        }
        write_json(tmp / datasets.MANIFEST, manifest)
        if root.exists():
            aside = root.with_name(f".{name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            os.rename(root, aside)
            os.rename(tmp, root)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built hand-labelled dataset %r: %d windows from %d recordings", name, n, len(items))
    return datasets.open_dataset(root)


def build_split_datasets(
    scan: Scan, split: dict[str, Any], cfg: HandLabelConfig, synthesis: Any
) -> dict[str, Any]:
    """One dataset ``<dataset_prefix>_<split>`` per non-empty split → ``{split: Dataset}``."""
    by_rel = {r.rel: r for r in scan.labelled}
    out = {}
    for s in SPLITS:
        items = [
            by_rel[rel]
            for rel, v in split["recordings"].items()
            if v["split"] == s and rel in by_rel
        ]
        if items:
            out[s] = build_hand_dataset(f"{cfg.dataset_prefix}_{s}", items, synthesis, s)
    return out


# ---------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    """A span a trigger model proposes: ``end`` is where it fired; ``start`` is estimated."""

    start: float
    end: float
    score: float


def load_suggester(name: str | None = None) -> Any:
    """The trigger model that suggests spans, or None (no model yet, or it cannot be loaded)."""
    try:
        from lib.trigger import load_model
    except ImportError:
        log.info("no trigger model package yet: labelling without suggestions")
        return None
    try:
        return load_model(name)
    except (HeyJoeError, OSError, ValueError) as exc:
        log.info("no trigger model to suggest spans (%s): labelling without suggestions", exc)
        return None


def detections(
    scores: np.ndarray,
    hop_seconds: float,
    offset_seconds: float,
    threshold: float,
    span_seconds: float = 0.6,
    refractory_seconds: float = 1.0,
) -> list[Suggestion]:
    """Suggestions from a model's score track: each run of scores ≥ ``threshold`` starts where
    the trigger ended (the label track turns on right after it); merged within the refractory
    time; the start is ``span_seconds`` before the end. Score = the run's peak."""
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    above = s >= threshold
    out: list[Suggestion] = []
    i = 0
    while i < len(s):
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(s) and above[j + 1]:
            j += 1
        end = offset_seconds + i * hop_seconds
        peak = float(s[i : j + 1].max())
        if out and end - out[-1].end < refractory_seconds:
            last = out[-1]
            out[-1] = Suggestion(last.start, last.end, max(last.score, peak))
        else:
            out.append(Suggestion(max(0.0, end - span_seconds), max(end, 1e-3), peak))
        i = j + 1
    return out


def suggest_spans(
    model: Any,
    audio: np.ndarray,
    sample_rate: int,
    threshold: float | None = None,
    span_seconds: float = 0.6,
) -> list[Suggestion]:
    """Spans the trigger ``model`` detects in ``audio`` (empty if ``model`` is None)."""
    if model is None:
        return []
    from lib.audio import resample
    from lib.trigger import score_audio

    x = resample(audio, sample_rate, int(model.sample_rate))
    scores = score_audio(model, x)
    offset = getattr(model, "offset_seconds", None)
    if offset is None:
        from lib.trigger import StreamingDetector

        offset = StreamingDetector(model).offset_seconds
    thr = float(threshold if threshold is not None else model.threshold)
    duration = len(audio) / sample_rate
    return [
        Suggestion(round(min(s.start, duration), 3), round(min(s.end, duration), 3), s.score)
        for s in detections(scores, float(model.hop_seconds), float(offset), thr, span_seconds)
        if s.start < duration
    ]


# ---------------------------------------------------------------------------- notebook helpers


def prepare_folder(cfg: HandLabelConfig) -> Path:
    """The recordings folder of ``cfg``, with demo recordings made if it holds no audio, and
    (``use_demo_truth``) their ground truth copied in where nothing is labelled yet."""
    from lib.audio import find_audio_files
    from lib.recordings import copy_truth_labels, make_demo_recordings

    folder = cfg.folder()
    folder.mkdir(parents=True, exist_ok=True)
    visible = [
        p for p in find_audio_files(folder) if not p.relative_to(folder).parts[0].startswith(".")
    ]
    if not visible and cfg.demo_recordings > 0:
        log.info("%s holds no recordings: making %d demo recordings", folder, cfg.demo_recordings)
        make_demo_recordings(folder, n=cfg.demo_recordings)
    if cfg.use_demo_truth:
        copied = copy_truth_labels(folder)
        if copied:
            log.info("copied the ground truth of %d demo recordings in as labels", len(copied))
    return folder


def dataset_rows(built: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per built hand-labelled dataset (for a table)."""
    return [
        {
            "split": s,
            "dataset": ds.name,
            "recordings": ds.manifest["counts"]["recordings"],
            "windows": len(ds),
            "triggers": ds.manifest["counts"]["activates"],
            "groups": ", ".join(ds.manifest["sources"]["groups"]),
            "path": str(ds.path),
        }
        for s, ds in built.items()
    ]
