"""False-accept mining: find where a trigger model fires on audio with no trigger in it, and keep
those moments as labelled negative examples to train on (Mycroft Precise's "incremental
training", openWakeWord's false-positive mining).

- :func:`mine_false_accepts` streams audio files through the model (the one detector path,
  :mod:`lib.trigger.stream`), turns the scores into events with the evaluation's rule
  (:func:`lib.metrics.scores_to_events`) and writes one window of ``window_seconds`` around
  each event into a folder of recordings (default ``data/mined/``, kept apart from
  ``data/recordings/`` so the hand-labelled splits do not take them in),
  ``<source>_<seconds>s.wav`` (``sub__file_...`` for ``sub/file.wav`` of a folder), with an
  empty Audacity label file beside it (= no trigger), so notebook 02 can review them like any
  recording (``recordings_dir: data/mined``). The event sits at a seeded random place in the
  last 10–90 % of its window (the model heard what led up to it). A source file with a label
  file of its own has its labelled spans respected: events within ``tolerance`` after a
  labelled span are detections, not false accepts, and windows that would hold a labelled
  span are not written. Source audio without a label file is taken to hold no trigger.
- Mining is idempotent and never overwrites: a window already in the folder is reused (a
  person may have labelled it since), so a second run over the same audio only adds what is
  new; the windows are written atomically.
- :func:`build_mined_dataset` turns the folder into a named dataset (the hand-labelled kind,
  :func:`lib.handlabel.build_hand_dataset`) with the model's feature settings, to mix into
  training at a chosen share (``datasets: {..., mined_negatives: 0.1}``).

Where the audio comes from is the user's: room recordings, radio, podcasts, anything known to
hold no "hey joe". :func:`lib.evalsets.make_long_negatives` with ``split="train"`` makes such
audio from the corpus's training voices (never from the dev voices the evaluation uses).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib import audio, metrics, paths
from lib.errors import AudioError, ConfigError, DatasetError
from lib.labels import LabelFileError, label_path, read_labels, write_labels

log = logging.getLogger(__name__)

#: default folder (under data/) of the mined windows
MINED_FOLDER = "mined"
#: default name of the dataset built from them
MINED_DATASET = "mined_negatives"


@dataclass
class MiningReport:
    """What :func:`mine_false_accepts` found and wrote."""

    folder: Path
    threshold: float
    files: int = 0
    audio_seconds: float = 0.0
    false_accepts: int = 0
    written: list[Path] = field(default_factory=list)
    reused: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    @property
    def false_accepts_per_hour(self) -> float | None:
        return self.false_accepts / (self.audio_seconds / 3600) if self.audio_seconds else None

    def to_dict(self) -> dict[str, Any]:
        fa_h = self.false_accepts_per_hour
        return {
            "folder": str(self.folder),
            "threshold": self.threshold,
            "files": self.files,
            "audio_hours": round(self.audio_seconds / 3600, 4),
            "false_accepts": self.false_accepts,
            "false_accepts_per_hour": None if fa_h is None else round(fa_h, 2),
            "written": len(self.written),
            "reused": len(self.reused),
            "skipped": [{"file": f, "why": why} for f, why in self.skipped],
        }


def mined_dir(name: str = MINED_FOLDER) -> Path:
    """``data/<name>/``: where mined windows go by default."""
    return paths.data_dir() / name


def _sources(sources: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """``(file, name)`` for every audio file of ``sources``; the name (what mined windows
    are called after) is the file's path inside its folder, ``/`` as ``__``, without suffix,
    so files of the same name in different sub-folders keep apart."""
    if not sources:
        raise ConfigError("false-accept mining: give at least one audio file or folder")
    files: list[tuple[Path, str]] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found = [f for f in audio.find_audio_files(p) if not f.name.startswith(".")]
            if not found:
                raise AudioError(f"{p}: no audio files ({', '.join(audio.SUPPORTED_EXTENSIONS)})")
            files += [(f, "__".join(f.relative_to(p).with_suffix("").parts)) for f in found]
        elif p.is_file():
            files.append((p, p.stem))
        else:
            raise AudioError(f"{p}: no such audio file or folder")
    return files


def _source_spans(path: Path) -> list[tuple[float, float]]:
    txt = label_path(path)
    if not txt.is_file():
        return []
    try:
        return [(lab.start, lab.end) for lab in read_labels(txt)]
    except LabelFileError as exc:
        raise DatasetError(f"{txt}: cannot read its trigger labels ({exc})") from None


def _window_start(t: float, duration: float, window: float, rng: np.random.Generator) -> float:
    """Start of a window holding event time ``t`` in its last 10–90 %, inside the file."""
    if duration <= window:
        return 0.0
    start = t - rng.uniform(0.1, 0.9) * window
    return float(min(max(start, 0.0), duration - window))


def mine_false_accepts(
    model: Any,
    sources: Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    threshold: float | None = None,
    window_seconds: float = 10.0,
    tolerance: float = 1.0,
    max_per_file: int | None = None,
    seed: int = 0,
    chunk_seconds: float = 1.0,
    detector: Any = None,
) -> MiningReport:
    """Stream ``sources`` (audio files or folders) through the trigger ``model`` (a loaded
    :class:`~lib.trigger.TriggerModel`, a name, a folder or None for the shipped one) and
    write a window around each false accept at ``threshold`` (default: the model's) into
    ``out_dir`` (default ``data/mined/``). ``detector`` (with a ``threshold``) stands in for
    the model's (tests). See the module docstring."""
    from lib import evaluate

    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")
    if not window_seconds > 0 or not math.isfinite(window_seconds):
        raise ConfigError(f"window_seconds must be > 0, got {window_seconds}")
    if max_per_file is not None and max_per_file < 1:
        raise ConfigError(f"max_per_file must be >= 1 (or None for all), got {max_per_file}")
    files = _sources(sources)
    if detector is None:
        if not evaluate._is_model(model):
            model = evaluate.load_trigger_model(model)
        detector = evaluate.make_detector(model)
    owner = model if evaluate._is_model(model) else detector
    thr = float(owner.threshold if threshold is None else threshold)
    out = Path(out_dir) if out_dir is not None else mined_dir()
    out.mkdir(parents=True, exist_ok=True)
    report = MiningReport(out, thr)
    sr = int(detector.sample_rate)
    for k, (path, name) in enumerate(files):
        spans = _source_spans(path)
        try:
            scored = evaluate.score_file(path, detector, chunk_seconds)
        except AudioError as exc:
            log.warning("skipped %s", exc)
            report.skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
            continue
        report.files += 1
        report.audio_seconds += scored.duration_seconds
        events = metrics.scores_to_events(
            scored.scores, scored.hop_seconds, scored.offset_seconds, thr
        )
        _, fa_times = metrics.match_events(events, spans, tolerance)
        report.false_accepts += len(fa_times)
        if not len(fa_times):
            continue
        times = [float(t) for t in fa_times]
        if max_per_file is not None and len(times) > max_per_file:
            peak = [float(_peak(scored, t)) for t in times]  # keep the most confident ones
            keep = sorted(np.argsort(peak)[::-1][:max_per_file])
            times = [times[i] for i in keep]
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), k]))
        x = audio.load_audio(path, sr)
        duration = len(x) / sr
        for t in times:
            start = _window_start(t, duration, window_seconds, rng)
            end = start + window_seconds
            if any(start < s_end and s_start < end for s_start, s_end in spans):
                log.info("%s at %.2f s: its window holds a labelled trigger, not written",
                         path.name, t)  # fmt: skip
                continue
            target = out / f"{name}_{t:08.2f}s.wav"
            if target.exists():
                report.reused.append(target)
                continue
            n = int(round(window_seconds * sr))
            piece = np.zeros(n, dtype=np.float32)
            part = x[int(round(start * sr)) : int(round(start * sr)) + n]
            piece[: len(part)] = part
            audio.write_wav(target, piece, sr)
            txt = label_path(target)
            if not txt.exists():
                write_labels(txt, [])
            report.written.append(target)
    if not report.files:
        raise AudioError(
            "false-accept mining: none of the audio could be read:\n  "
            + "\n  ".join(f"{f}: {why}" for f, why in report.skipped)
        )
    fa_h = report.false_accepts_per_hour
    log.info(
        "mining: %d false accept(s) in %.2f h of audio (%s per hour) at threshold %.3f; "
        "%d window(s) written, %d already there, in %s",
        report.false_accepts, report.audio_seconds / 3600,
        "-" if fa_h is None else f"{fa_h:.1f}", thr, len(report.written), len(report.reused),
        out,
    )  # fmt: skip
    return report


def _peak(scored: Any, t: float, before: float = 0.5) -> float:
    """The highest score in the ``before`` seconds up to just after event time ``t``."""
    i0 = int(math.floor((t - before - scored.offset_seconds) / scored.hop_seconds))
    i1 = int(math.ceil((t + before - scored.offset_seconds) / scored.hop_seconds)) + 1
    part = scored.scores[max(i0, 0) : max(i1, 1)]
    return float(part.max()) if part.size else 0.0


def build_mined_dataset(
    model: Any,
    folder: str | Path | None = None,
    name: str = MINED_DATASET,
    profile: str = "full",
) -> Any:
    """The named dataset of every checked window in ``folder`` (default
    ``data/mined/``), built with the synthesis settings of ``profile``, which must
    give ``model``'s features (ModelError naming the difference otherwise). Windows a person
    has since labelled with a trigger keep that label. Returns the opened dataset."""
    from lib import config, evaluate, handlabel

    if not evaluate._is_model(model):
        model = evaluate.load_trigger_model(model)
    synthesis = config.load_config("synthesis", profile)
    model.check_features(synthesis.feature_config(), f"synthesis settings ({profile} profile)")
    scan = handlabel.scan_recordings(folder if folder is not None else mined_dir(), "none")
    if not scan.labelled:
        raise DatasetError(f"{scan.folder}: no checked windows to build {name!r} from")
    return handlabel.build_hand_dataset(name, scan.labelled, synthesis, "train")
