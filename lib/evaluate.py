"""Scoring and evaluation of trigger and speaker models — the stable interface other tools call.

- :func:`score_folder` runs a trigger model over every audio file below a folder through the
  same :class:`lib.trigger.StreamingDetector` as live listening, reading each file in blocks
  (bounded memory for hours of audio), and writes JSONL (``heyjoe score``): one line per file,
  ``{"file": <path relative to DIR>, "hop_seconds": h, "offset_seconds": o, "scores": [...]}``,
  score ``i`` being the output at time ``o + i*h`` for the audio heard up to then.
- :func:`evaluate_trigger` scores folders of audio with Audacity label sidecars and returns the
  event-based metrics of :mod:`lib.metrics` (``heyjoe evaluate trigger``).
  Sidecars: ``NAME.txt`` beside ``NAME.wav``; each label whose text is empty or names the
  trigger phrase (case and punctuation ignored) is one trigger span; other labels are ignored
  (counted in ``ignored_labels``); an empty file means "checked, no trigger". **Audio files
  without a sidecar are skipped with a warning** (they are unlabelled: nobody has checked them)
  and listed under ``unlabelled``; **malformed sidecars stop the evaluation before anything is
  scored**, with every bad file and line number in one message; unreadable audio is skipped,
  listed under ``skipped``.
- :func:`evaluate_speaker` computes EER and minDCF over a VoxCeleb-format trial list
  (``label path1 path2``; label 1 = same speaker), embedding each distinct file once
  (``heyjoe evaluate speaker``).

Every function takes the model (or a factory) as a parameter, so tests can inject a fake
object with the :class:`StreamingDetector` interface (``sample_rate``, ``hop_seconds``,
``offset_seconds``, ``process(chunk)``, ``reset()``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from lib import audio, metrics, paths
from lib.corpus import normalise_text
from lib.errors import AudioError, ConfigError, DatasetError, HeyJoeError
from lib.files import atomic_path

log = logging.getLogger(__name__)

DEFAULT_TRIGGER_PHRASE = "hey joe"


# ---------------------------------------------------------------------------- configuration


@dataclass
class EvaluateConfig:
    """Settings of notebook 05_evaluate (``configs/evaluate.yaml``; units in its comments)."""

    trigger_models: list[str]
    eval_sets: list[str]
    long_negative_minutes: float
    long_negative_file_minutes: float
    trigger_dev_clips: int
    trigger_dev_clip_seconds: float
    evalset_seed: int
    tolerance_seconds: float
    refractory_seconds: float
    select_fa_per_hour: float
    chunk_seconds: float
    max_error_clips: int
    record_choice: bool
    speaker_models: list[str]
    speaker_trials: str
    speaker_max_trials: int

    def __post_init__(self) -> None:
        positive = {
            "long_negative_minutes": self.long_negative_minutes,
            "long_negative_file_minutes": self.long_negative_file_minutes,
            "trigger_dev_clips": self.trigger_dev_clips,
            "trigger_dev_clip_seconds": self.trigger_dev_clip_seconds,
            "select_fa_per_hour": self.select_fa_per_hour,
            "chunk_seconds": self.chunk_seconds,
            "speaker_max_trials": self.speaker_max_trials,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"parameter {name!r} must be > 0, got {value!r}")
        for name in ("tolerance_seconds", "refractory_seconds", "max_error_clips"):
            if getattr(self, name) < 0:
                raise ConfigError(f"parameter {name!r} must be >= 0, got {getattr(self, name)!r}")
        if not self.eval_sets:
            raise ConfigError("parameter 'eval_sets' must name at least one evaluation set")


# ---------------------------------------------------------------------------- models


def load_trigger_model(name_or_dir: str | Path | None = None) -> Any:
    """``lib.trigger.load_model`` (None → the shipped model; a directory or a model name)."""
    try:
        from lib.trigger import load_model
    except ImportError as exc:
        raise HeyJoeError(
            f"the trigger-model package lib.trigger is not available ({exc})"
        ) from None
    return load_model(name_or_dir)


def make_detector(model: Any) -> Any:
    """The live-listening ``StreamingDetector`` of a loaded trigger model."""
    from lib.trigger import StreamingDetector

    return StreamingDetector(model)


def model_info(model: Any) -> dict[str, Any]:
    """Name, path, parent, threshold, size on disk and parameter count of a trigger model."""
    card = dict(getattr(model, "card", {}) or {})
    path = Path(getattr(model, "path", "") or "")
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:  # an exported model file
        size = path.stat().st_size if path.is_file() else 0
    params = card.get("n_parameters")
    keras_model = getattr(model, "keras_model", None)
    if keras_model is not None:
        try:
            params = int(keras_model.count_params())
        except Exception:  # noqa: BLE001 — an unbuilt model has no count
            params = None
    return {
        "name": getattr(model, "name", card.get("name", path.name)),
        "path": str(path),
        "parent": card.get("parent"),
        "threshold": float(getattr(model, "threshold", card.get("threshold", 0.5))),
        "size_kb": round(size / 1024, 1),
        "params": params,
    }


# ---------------------------------------------------------------------------- audio streams


def iter_blocks(path: Path, sample_rate: int, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Float32 mono blocks of a file at ``sample_rate``, read ``block_seconds`` at a time.

    Files at another rate are resampled block by block (polyphase; tiny edge effects at block
    joins). Raises AudioError naming the file if it cannot be decoded.
    """
    path = Path(path)
    try:
        f = sf.SoundFile(str(path))
    except (sf.SoundFileError, RuntimeError, ValueError):
        # formats libsndfile cannot stream (e.g. some MP3s): decode whole, then split
        x = audio.load_audio(path, sample_rate)
        step = max(1, int(block_seconds * sample_rate))
        for i in range(0, len(x), step):
            yield x[i : i + step]
        return
    with f:
        sr = f.samplerate
        if f.frames == 0:
            raise AudioError(f"{path}: contains no audio (0 samples)")
        try:
            for block in f.blocks(blocksize=max(1, int(block_seconds * sr)), dtype="float32",
                                  always_2d=True):  # fmt: skip
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise AudioError(f"{path}: contains NaN or Inf values")
                yield mono if sr == sample_rate else audio.resample(mono, sr, sample_rate)
        except (sf.SoundFileError, RuntimeError) as exc:
            raise AudioError(f"{path}: cannot decode ({exc})") from None


def _duration(path: Path) -> float:
    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # noqa: BLE001 — unknown here; the reader reports the real problem
        return 0.0


@dataclass
class Scored:
    """One file's scores: score ``i`` is for the audio up to ``offset + i * hop`` seconds."""

    file: str
    path: Path
    hop_seconds: float
    offset_seconds: float
    scores: np.ndarray
    duration_seconds: float
    spans: list[tuple[float, float]] | None = None
    process_seconds: float = 0.0

    def item(self) -> metrics.Item:
        return (self.scores, self.hop_seconds, self.offset_seconds, self.spans or [],
                self.duration_seconds)  # fmt: skip

    def json_line(self) -> str:
        return json.dumps({
            "file": self.file,
            "hop_seconds": self.hop_seconds,
            "offset_seconds": self.offset_seconds,
            "scores": [round(float(s), 6) for s in self.scores],
        })  # fmt: skip


def score_file(
    path: Path,
    detector: Any,
    chunk_seconds: float = 1.0,
    on_block: Callable[[float], None] | None = None,
) -> Scored:
    """Stream one file through ``detector`` (reset first) in ``chunk_seconds`` chunks."""
    detector.reset()
    sr = int(detector.sample_rate)
    parts: list[np.ndarray] = []
    n = 0
    busy = 0.0
    chunk = max(1, int(round(chunk_seconds * sr)))
    for block in iter_blocks(path, sr, max(chunk_seconds, 10.0)):
        for i in range(0, len(block), chunk):
            piece = block[i : i + chunk]
            t0 = time.perf_counter()
            out = detector.process(piece)
            busy += time.perf_counter() - t0
            parts.append(np.asarray(out, dtype=np.float32).reshape(-1))
            n += len(piece)
        if on_block is not None:
            on_block(len(block) / sr)
    return Scored(
        file=path.name,
        path=path,
        hop_seconds=float(detector.hop_seconds),
        offset_seconds=float(detector.offset_seconds),
        scores=np.concatenate(parts) if parts else np.zeros(0, np.float32),
        duration_seconds=n / sr,
        process_seconds=busy,
    )


def _progress(total_seconds: float, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=round(total_seconds, 1), unit="s", desc=desc, disable=not enabled,
                file=sys.stderr, leave=False)  # fmt: skip


def iter_scored(
    files: Sequence[tuple[Path, str]],
    detector: Any,
    chunk_seconds: float = 1.0,
    progress: bool = False,
    skipped: list[tuple[str, str]] | None = None,
) -> Iterator[Scored]:
    """Score ``(path, name)`` pairs one after another; unreadable files go to ``skipped``."""
    total = sum(_duration(p) for p, _ in files)
    bar = _progress(total, progress, "scoring audio")
    try:
        for path, name in files:
            try:
                scored = score_file(path, detector, chunk_seconds,
                                    on_block=lambda s: bar.update(round(s, 1)))  # fmt: skip
            except AudioError as exc:
                log.warning("skipped %s", exc)
                if skipped is not None:
                    skipped.append((name, str(exc).removeprefix(f"{path}: ")))
                continue
            scored.file = name
            yield scored
    finally:
        bar.close()


def score_folder(
    folder: Path | str,
    out: Path | str,
    model: Any = None,
    detector: Any = None,
    chunk_seconds: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """``heyjoe score``: score every audio file below ``folder`` into JSONL at ``out``
    (written atomically, one line per file as it is scored). ``model``: a loaded trigger
    model, a name or a directory (None → shipped); ``detector`` overrides it (tests).
    Returns a summary: files, skipped (name, why), audio seconds, ms per audio second."""
    folder = Path(folder)
    if detector is None:
        detector = make_detector(model if _is_model(model) else load_trigger_model(model))
    files = [(p, p.relative_to(folder).as_posix()) for p in audio.find_audio_files(folder)]
    if not files:
        raise AudioError(f"{folder}: no audio files ({', '.join(audio.SUPPORTED_EXTENSIONS)})")
    skipped: list[tuple[str, str]] = []
    n = 0
    seconds = busy = 0.0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for scored in iter_scored(files, detector, chunk_seconds, progress, skipped):
            fh.write(scored.json_line() + "\n")
            n += 1
            seconds += scored.duration_seconds
            busy += scored.process_seconds
    if skipped:
        log.warning("skipped %d unreadable file(s):\n  %s", len(skipped),
                    "\n  ".join(f"{f}: {why}" for f, why in skipped))  # fmt: skip
    return {
        "out": str(out),
        "files": n,
        "skipped": [{"file": f, "why": why} for f, why in skipped],
        "audio_seconds": round(seconds, 3),
        "ms_per_audio_second": round(1000 * busy / seconds, 3) if seconds else None,
    }


def read_scores(path: Path | str) -> list[dict[str, Any]]:
    """Read a ``heyjoe score`` JSONL file back (scores as float32 arrays)."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["scores"] = np.asarray(row["scores"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}:{n}: not a score line ({exc})") from None
        rows.append(row)
    return rows


def _is_model(obj: Any) -> bool:
    return obj is not None and not isinstance(obj, (str, Path))


# ---------------------------------------------------------------------------- labelled folders


@dataclass
class LabelledFolder:
    """Audio files with their trigger spans; what was left out and why."""

    files: list[tuple[Path, str, list[tuple[float, float]]]]
    unlabelled: list[str]
    ignored_labels: int


def _labelled_name(folder: Path, name: str, many: bool) -> str:
    """A labelled file's name in reports: relative to its folder, led by the folder's name
    when several folders are scored together."""
    return f"{folder.name}/{name}" if many else name


def read_labelled(
    folders: Sequence[Path | str], trigger_phrase: str = DEFAULT_TRIGGER_PHRASE
) -> LabelledFolder:
    """Audio files below ``folders`` with their sidecar spans (see the module docstring).

    Raises DatasetError listing every malformed sidecar (file and line numbers) at once, and
    when no labelled file is found at all."""
    from lib.labels import LabelFileError, label_path, read_labels

    folders = [Path(f) for f in folders]
    many = len(folders) > 1
    trigger = normalise_text(trigger_phrase)
    files, unlabelled, bad = [], [], []
    ignored = 0
    for folder in folders:
        for path in audio.find_audio_files(folder):
            name = path.relative_to(folder).as_posix()
            name = _labelled_name(folder, name, many)
            txt = label_path(path)
            if not txt.is_file():
                unlabelled.append(name)
                continue
            try:
                labels = read_labels(txt)
            except LabelFileError as exc:
                bad.append(str(exc))
                continue
            spans = []
            for lab in labels:
                if not lab.text.strip() or normalise_text(lab.text) == trigger:
                    spans.append((lab.start, lab.end))
                else:
                    ignored += 1
            files.append((path, name, spans))
    if bad:
        raise DatasetError("malformed label file(s):\n  " + "\n  ".join(bad))
    if unlabelled:
        log.warning("%d audio file(s) without a label file (.txt) were skipped: %s",
                    len(unlabelled), ", ".join(unlabelled[:10])
                    + (" ..." if len(unlabelled) > 10 else ""))  # fmt: skip
    if not files:
        raise DatasetError(
            f"no labelled audio in {', '.join(map(str, folders))}: each NAME.wav needs a NAME.txt "
            "Audacity label file (an empty one means: checked, no trigger)"
        )
    return LabelledFolder(files, unlabelled, ignored)


def score_labelled(
    folders: Sequence[Path | str],
    model: Any = None,
    detector: Any = None,
    chunk_seconds: float = 1.0,
    progress: bool = False,
    trigger_phrase: str | None = None,
) -> tuple[list[Scored], dict[str, Any]]:
    """Score every labelled file of ``folders`` → (scored files with spans, info: model,
    unlabelled, skipped, ignored_labels, audio seconds, ms per audio second)."""
    loaded = model if _is_model(model) else None
    if detector is None:
        loaded = loaded if loaded is not None else load_trigger_model(model)
        detector = make_detector(loaded)
    phrase = trigger_phrase or (getattr(loaded, "card", {}) or {}).get("trigger_phrase")
    folder = read_labelled(folders, phrase or DEFAULT_TRIGGER_PHRASE)
    skipped: list[tuple[str, str]] = []
    spans = {name: s for _, name, s in folder.files}
    scored = list(iter_scored([(p, n) for p, n, _ in folder.files], detector, chunk_seconds,
                              progress, skipped))  # fmt: skip
    for s in scored:
        s.spans = spans[s.file]
    seconds = sum(s.duration_seconds for s in scored)
    busy = sum(s.process_seconds for s in scored)
    info = {
        "model": model_info(loaded) if loaded is not None else None,
        "data": [str(f) for f in folders],
        "unlabelled": folder.unlabelled,
        "skipped": [{"file": f, "why": why} for f, why in skipped],
        "ignored_labels": folder.ignored_labels,
        "audio_seconds": round(seconds, 3),
        "ms_per_audio_second": round(1000 * busy / seconds, 3) if seconds else None,
    }
    return scored, info


def trigger_report(
    scored: Sequence[Scored],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
    fa_targets: Sequence[float] = metrics.FA_PER_HOUR_TARGETS,
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Metrics at ``threshold`` (the model's own), the DET curve, and the false-reject rate
    (and the threshold giving it) at each false-accepts-per-hour target."""
    items = [s.item() for s in scored]
    ths = metrics.default_thresholds(items) if thresholds is None else np.asarray(thresholds)
    ths = np.unique(np.concatenate([np.asarray(ths, float), [float(threshold)]]))
    curve = metrics.det_curve(items, ths, tolerance, refractory)
    return {
        "at_model_threshold": metrics.trigger_metrics(items, threshold, tolerance, refractory),
        "frr_at_fa_per_hour": {f"{t:g}": metrics.frr_at_fa_per_hour(curve, t) for t in fa_targets},
        "threshold_at_fa_per_hour": {
            f"{t:g}": metrics.threshold_at_fa_per_hour(curve, t) for t in fa_targets
        },
        "det": curve,
    }


def _records_by_name(
    folders: Sequence[Path | str], read: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """What ``read(folder)`` records per file, under the files' names in reports."""
    folders = [Path(f) for f in folders]
    many = len(folders) > 1
    return {_labelled_name(folder, name, many): record
            for folder in folders for name, record in read(folder).items()}  # fmt: skip


def frr_by_voice(
    scored: Sequence[Scored],
    folders: Sequence[Path | str],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> dict[str, dict[str, Any]] | None:
    """False-reject rate per voice at ``threshold``, for the trigger sets whose manifest says
    which voice speaks each trigger (:func:`lib.evalsets.span_voices`; ``engine:voice``).
    Triggers of other files count as ``unknown``; None when no folder has that record."""
    from lib.evalsets import span_voices

    known = _records_by_name(folders, span_voices)
    if not known:
        return None
    items, groups = [], []
    for s in scored:
        if not s.spans:
            continue
        record = known.get(s.file, [])
        names = []
        for start, _ in s.spans:
            match = [v for a, _, v in record if abs(a - start) < 0.002]
            names.append(match[0] if match else "unknown")
        items.append(s.item())
        groups.append(names)
    return metrics.frr_by_group(items, groups, threshold, tolerance, refractory)


#: what a false accept in a file with no record of its speech is put down to
NOT_RECORDED = "(not recorded)"
#: ... and one in a recorded file with no speech just before it (music, noise, a room)
NO_SPEECH = "(no speech)"


def false_accepts_said(
    scored: Sequence[Scored],
    folders: Sequence[Path | str],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> list[dict[str, Any]]:
    """Every false accept at ``threshold``, highest score first: ``file``, ``time``, its
    ``score`` (the peak over the half second from the event on), and what was said there —
    ``text`` and ``voice`` of the speech of the long negatives (their manifest's record,
    :func:`lib.evalsets.negative_speech`) that ends within ``tolerance`` before the event or
    is still going on; :data:`NO_SPEECH` where nothing was said, :data:`NOT_RECORDED` for
    files without a record (``voice`` None)."""
    from lib.evalsets import negative_speech

    known = _records_by_name(folders, negative_speech)
    errs = metrics.clip_errors([s.item() for s in scored], threshold, tolerance, refractory)
    out = []
    for e in errs:
        s = scored[e["index"]]
        record = known.get(s.file)
        for t in e["false_accepts"]:
            i0 = max(0, int(round((t - s.offset_seconds) / s.hop_seconds)))
            i1 = i0 + max(1, int(round(0.5 / s.hop_seconds)))
            peak = float(s.scores[i0:i1].max()) if i0 < len(s.scores) else None
            text, voice = NOT_RECORDED, None
            if record is not None:
                near = [r for r in record if r[0] <= t <= r[1] + tolerance]
                text, voice = (near[-1][2], near[-1][3]) if near else (NO_SPEECH, None)
            out.append({"file": s.file, "time": round(float(t), 3),
                        "score": None if peak is None else round(peak, 4),
                        "text": text, "voice": voice})  # fmt: skip
    return sorted(out, key=lambda r: -(r["score"] or 0.0))


def voice_rows(by_voice: dict[str, dict[str, Any]] | None, set_name: str = "") -> list[dict]:
    """Table rows of :func:`frr_by_voice`'s result: voice, triggers, missed, the false-reject
    rate and its 95 % interval (``set`` first when ``set_name`` is given)."""
    rows = []
    for voice, r in (by_voice or {}).items():
        lo, hi = r["false_reject_rate_95"] or (None, None)
        rows.append({
            **({"set": set_name} if set_name else {}),
            "voice": voice, "triggers": r["triggers"], "missed": r["missed"],
            "frr": round(r["false_reject_rate"], 3),
            "frr_95": None if lo is None else f"[{lo:.2f}, {hi:.2f}]",
        })  # fmt: skip
    return rows


def evaluate_trigger(
    data: Path | str | Sequence[Path | str],
    model: Any = None,
    tolerance: float = 1.0,
    refractory: float = 2.0,
    detector: Any = None,
    threshold: float | None = None,
    chunk_seconds: float = 1.0,
    progress: bool = False,
) -> dict[str, Any]:
    """``heyjoe evaluate trigger``: score the labelled folder(s) and report the metrics.

    ``threshold`` defaults to the model's (``detector.threshold`` when a detector is given)."""
    return evaluate_trigger_scores(data, model, tolerance, refractory, detector, threshold,
                                   chunk_seconds, progress)[0]  # fmt: skip


def evaluate_trigger_scores(
    data: Path | str | Sequence[Path | str],
    model: Any = None,
    tolerance: float = 1.0,
    refractory: float = 2.0,
    detector: Any = None,
    threshold: float | None = None,
    chunk_seconds: float = 1.0,
    progress: bool = False,
) -> tuple[dict[str, Any], list[Scored]]:
    """:func:`evaluate_trigger`'s report and the scored files it was made from, for figures
    at other thresholds without scoring the audio again (:func:`frr_by_voice`)."""
    folders = [data] if isinstance(data, (str, Path)) else list(data)
    loaded = None
    if detector is None:
        loaded = model if _is_model(model) else load_trigger_model(model)
        detector = make_detector(loaded)
    scored, info = score_labelled(folders, loaded, detector, chunk_seconds, progress)
    if loaded is not None:
        info["model"] = model_info(loaded)
    th = threshold
    if th is None:
        th = float(getattr(loaded, "threshold", getattr(detector, "threshold", 0.5)))
    report = trigger_report(scored, th, tolerance, refractory)
    report["frr_by_voice"] = frr_by_voice(scored, folders, th, tolerance, refractory)
    report["false_accepts_said"] = false_accepts_said(scored, folders, th, tolerance, refractory)
    return {**info, "threshold": th, "tolerance": tolerance, "refractory": refractory,
            **report}, scored  # fmt: skip


def compare_trigger_models(
    model_a: Any,
    model_b: Any,
    data: Sequence[Path | str],
    budgets: Sequence[float] = metrics.COMPARISON_BUDGETS,
    n_boot: int = 2000,
    seed: int = 0,
    tolerance: float = 1.0,
    refractory: float = 2.0,
    detectors: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """``heyjoe compare``: both trigger models scored on the same labelled folders, their
    false-reject rates at each budget and whether B beats A by more than the sets' noise
    (:func:`lib.metrics.compare_frr`, a paired bootstrap over the files). ``detectors``
    stand in for the models (tests)."""
    folders = [Path(f) for f in data]
    both, names = [], []
    for k, model in enumerate((model_a, model_b)):
        loaded, detector = None, detectors[k] if detectors else None
        if detector is None:
            loaded = model if _is_model(model) else load_trigger_model(model)
            detector = make_detector(loaded)
        both.append(score_labelled(folders, loaded, detector)[0])
        names.append(getattr(loaded, "name", None) or str(model))
    return {
        "a": names[0],
        "b": names[1],
        "data": [str(f) for f in folders],
        **compare_scored(both[0], both[1], budgets, n_boot, seed, tolerance, refractory),
    }


def compare_scored(
    a: Sequence[Scored],
    b: Sequence[Scored],
    budgets: Sequence[float] = metrics.COMPARISON_BUDGETS,
    n_boot: int = 2000,
    seed: int = 0,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> dict[str, Any]:
    """:func:`compare_trigger_models` on two models' scores of the same files (same order):
    ``triggers``, ``hours``, ``bootstrap_samples``, ``seed`` and ``frr_at_fa_per_hour``."""
    if [s.file for s in a] != [s.file for s in b]:
        raise DatasetError("compare: the two models were not scored on the same files")
    if not _same_triggers(a, b):
        raise DatasetError(
            "compare: the two models count other labels as triggers (their trigger phrases "
            "differ), so their false-reject rates are not of the same triggers"
        )
    counts = [metrics.error_counts([s.item() for s in x], None, tolerance, refractory)
              for x in (a, b)]  # fmt: skip
    return {
        "triggers": int(counts[0]["triggers"].sum()),
        "hours": round(float(counts[0]["seconds"].sum()) / 3600, 3),
        "bootstrap_samples": n_boot,
        "seed": seed,
        "frr_at_fa_per_hour": metrics.compare_frr(counts[0], counts[1], budgets, n_boot, seed),
    }


def _same_triggers(a: Sequence[Scored], b: Sequence[Scored]) -> bool:
    return all((x.spans or []) == (y.spans or []) for x, y in zip(a, b, strict=True))


def comparison_rows(
    scored_by: dict[str, list[Scored]],
    reference: str,
    budgets: Sequence[float] = metrics.COMPARISON_BUDGETS,
    n_boot: int = 2000,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> list[dict[str, Any]]:
    """Notebook 05: each other candidate against ``reference`` (the chosen model): per budget,
    the difference of false-reject rates (other − reference, points) and its 95 % interval
    from :func:`compare_scored`; ``*`` marks an interval that leaves out 0."""
    rows = []
    for name, scored in scored_by.items():
        if name == reference:
            continue
        if not _same_triggers(scored_by[reference], scored):
            log.info("%s is not compared with %s: another trigger phrase", name, reference)
            continue
        r = compare_scored(scored_by[reference], scored, budgets, n_boot, 0, tolerance,
                           refractory)["frr_at_fa_per_hour"]  # fmt: skip
        row: dict[str, Any] = {"model": name, "against": reference}
        for budget, v in r.items():
            lo, hi = v["difference_95"]
            mark = "*" if lo > 0 or hi < 0 else ""
            row[f"Δfrr@{budget} fa/h"] = (
                f"{100 * v['difference']:+.0f} [{100 * lo:+.0f}, {100 * hi:+.0f}]{mark}"
            )
        rows.append(row)
    return rows


def compare_speaker_models(
    model_a: Any,
    model_b: Any,
    split: str = "dev",
    utterances: int = 200,
    db_dir: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    profile: str = "full",
    embed: tuple[Callable[[Path], np.ndarray], Callable[[Path], np.ndarray]] | None = None,
) -> dict[str, Any]:
    """``heyjoe compare --speaker``: both speaker models on every pair of up to
    ``utterances`` utterances of ``split`` of the speaker database (the configured one, or
    the folder ``db_dir`` in any layout :mod:`lib.speaker.database` reads), their equal error
    rates and the 95 % interval of the difference from a paired bootstrap over the speakers
    (:func:`lib.metrics.compare_eer`). ``embed`` stands in for the two models (tests)."""
    from lib import config
    from lib.speaker import database
    from lib.speaker.train import trial_scores, trial_speakers

    cfg = config.load_config("speaker", profile, {"db_dir": str(db_dir)} if db_dir else None)
    db = database.load_database(cfg)
    utts = db.sample(split, utterances)
    spk = np.array([u.speaker for u in utts])
    if len(set(spk)) < 2:
        raise DatasetError(
            f"speaker database {db.root}: the {split} split has {len(set(spk))} speaker(s); "
            "comparing needs at least 2"
        )
    files = [db.full_path(u) for u in utts]
    names, scores, labels = [], [], None
    for k, model in enumerate((model_a, model_b)):
        if embed is not None:
            fn, name = embed[k], str(model)
        else:
            from lib import speaker

            loaded = speaker.load_model(model)
            name = loaded.name

            def fn(p: Path, loaded: Any = loaded) -> np.ndarray:
                return speaker.embed_file(loaded, p)

        emb = np.stack([fn(f) for f in files])
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        s, labels = trial_scores(emb, list(spk))
        names.append(name)
        scores.append(s)
    result = metrics.compare_eer(scores[0], scores[1], labels, trial_speakers(list(spk)),
                                 n_boot, seed)  # fmt: skip
    eers = {"a_eer": result.pop("a"), "b_eer": result.pop("b")}
    return {"a": names[0], "b": names[1], **eers, "split": split, "utterances": len(files),
            "trials": int(len(labels)), "bootstrap_samples": n_boot, "seed": seed,
            **result}  # fmt: skip


def clip_errors(
    scored: Sequence[Scored], threshold: float, tolerance: float = 1.0, refractory: float = 2.0
) -> list[dict[str, Any]]:
    """Files with misses or false accepts: ``file``, ``path``, ``missed`` spans,
    ``false_accepts`` times; worst first (most errors)."""
    errs = metrics.clip_errors([s.item() for s in scored], threshold, tolerance, refractory)
    rows = [
        {
            "file": scored[e["index"]].file,
            "path": str(scored[e["index"]].path),
            "missed": e["missed"],
            "false_accepts": e["false_accepts"],
        }  # fmt: skip
        for e in errs
        if e["missed"] or e["false_accepts"]
    ]
    return sorted(rows, key=lambda r: -(len(r["missed"]) + len(r["false_accepts"])))


# ---------------------------------------------------------------------------- model selection


def leaderboard_row(info: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """One leaderboard row: lineage, size, speed and the headline metrics."""
    at = report["at_model_threshold"]
    model = info.get("model") or {}
    row = {
        "model": model.get("name"),
        "parent": model.get("parent"),
        "threshold": model.get("threshold"),
        "frr": _r(at["false_reject_rate"]),
        "fa_per_hour": _r(at["false_accepts_per_hour"]),
    }
    for t, v in report["frr_at_fa_per_hour"].items():
        row[f"frr@{t}fa/h"] = _r(v)
    row.update({"size_kb": model.get("size_kb"), "params": model.get("params"),
                "ms_per_s": info.get("ms_per_audio_second")})  # fmt: skip
    return row


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def choose_model(
    results: dict[str, dict[str, Any]], fa_per_hour: float = 0.5
) -> tuple[str, float] | None:
    """The best model and its threshold: lowest false-reject rate at ``fa_per_hour`` (ties:
    at larger budgets, then at its own threshold); the threshold is the one giving that
    operating point, or the model's own when no threshold reaches ``fa_per_hour``.
    ``results``: name → :func:`evaluate_trigger`-style dict."""
    if not results:
        return None

    def key(name: str) -> tuple[float, ...]:
        # ties (e.g. every model misses everything at the target) go to the lower curve at
        # the next larger false-accept budgets, then to the rate at the model's own threshold
        rep = results[name]
        budgets = [fa_per_hour * f for f in (1, 2, 5, 10, 100, 1000)]
        frrs = [metrics.frr_at_fa_per_hour(rep["det"], b) for b in budgets]
        frrs.append(rep["at_model_threshold"]["false_reject_rate"])
        return tuple(1.0 if v is None else v for v in frrs)

    best = min(results, key=key)
    th = metrics.threshold_at_fa_per_hour(results[best]["det"], fa_per_hour)
    return best, float(results[best]["threshold"] if th is None else th)


def record_choice(
    model_dir: Path | str, threshold: float, evaluation: dict[str, Any], copy: bool
) -> Path:
    """Write the chosen threshold and the evaluation into the model card. With ``copy`` (quick
    runs), the model folder is first copied to ``checkpoints_dir()/selections/trigger/<name>``
    and only the copy's card is changed: shipped cards are never modified by a quick run.
    Returns the folder whose card was written."""
    from lib.trigger.cards import update_card

    src = Path(model_dir)
    target = src
    if copy:
        target = paths.checkpoints_dir() / "selections" / "trigger" / src.name
        if target.resolve() == src.resolve():
            raise ConfigError(f"{src}: cannot copy a model onto itself")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(src, target)
    update_card(target, threshold=min(1.0, float(threshold)), evaluation=evaluation)
    return target


# ---------------------------------------------------------------------------- speaker


def read_trials(path: Path | str) -> list[tuple[int, str, str]]:
    """A VoxCeleb trial list: ``label path1 path2`` per line (label 1 = same speaker).
    Raises DatasetError listing every malformed line with its number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the trial list ({exc})") from None
    trials, bad = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or parts[0] not in ("0", "1"):
            bad.append(f"line {n}: expected 'label path1 path2' with label 0 or 1, got {line!r}")
            continue
        trials.append((int(parts[0]), parts[1], parts[2]))
    if bad:
        raise DatasetError(f"{path}: malformed trial list:\n  " + "\n  ".join(bad))
    if not trials:
        raise DatasetError(f"{path}: the trial list holds no trials")
    return trials


def speaker_scores(
    trials: Sequence[tuple[int, str, str]],
    audio_root: Path | str,
    embed: Callable[[Path], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Cosine scores and labels of the trials whose files could be embedded (each distinct
    file once), and the files that could not (skipped, with why)."""
    root = Path(audio_root)
    cache: dict[str, np.ndarray | None] = {}
    skipped = []
    for rel in sorted({p for _, a, b in trials for p in (a, b)}):
        try:
            e = np.asarray(embed(root / rel), dtype=np.float64).reshape(-1)
            cache[rel] = e / (np.linalg.norm(e) + 1e-12)
        except (AudioError, OSError) as exc:
            cache[rel] = None
            skipped.append({"file": rel, "why": str(exc)})
    scores, labels = [], []
    for label, a, b in trials:
        ea, eb = cache[a], cache[b]
        if ea is None or eb is None:
            continue
        scores.append(float(ea @ eb))
        labels.append(label)
    if skipped:
        log.warning("skipped %d unreadable file(s) (and their trials): %s", len(skipped),
                    ", ".join(s["file"] for s in skipped[:10]))  # fmt: skip
    return np.asarray(scores), np.asarray(labels, dtype=int), skipped


def evaluate_speaker(
    trials: Path | str | Sequence[tuple[int, str, str]],
    audio_root: Path | str,
    model: Any = None,
    embed: Callable[[Path], np.ndarray] | None = None,
) -> dict[str, Any]:
    """``heyjoe evaluate speaker``: EER and minDCF (p_target 0.01, unit costs) on cosine scores.
    ``embed(path)`` overrides the model (tests); otherwise ``lib.speaker.embed_file``."""
    rows = read_trials(trials) if isinstance(trials, (str, Path)) else list(trials)
    name = None
    if embed is None:
        from lib import speaker

        loaded = speaker.load_model(model) if not _is_model(model) else model
        name = getattr(loaded, "name", None)

        def embed(p: Path) -> np.ndarray:
            return speaker.embed_file(loaded, p)

    scores, labels, skipped = speaker_scores(rows, audio_root, embed)
    eer, eer_th = metrics.equal_error_rate(scores, labels)
    return {
        "model": name,
        "n_trials": int(len(scores)),
        "n_target": int(labels.sum()),
        "n_nontarget": int(len(labels) - labels.sum()),
        "eer": eer,
        "eer_threshold": eer_th,
        "min_dcf": metrics.min_dcf(scores, labels, p_target=0.01),
        "p_target": 0.01,
        "skipped": skipped,
        "scores": {
            "target": scores[labels == 1].tolist(),
            "nontarget": scores[labels == 0].tolist(),
        },  # fmt: skip
    }


def config_dict(cfg: EvaluateConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


# ---------------------------------------------------------------------------- notebook 05


def prepare_eval_sets(cfg: EvaluateConfig, profile: str = "quick") -> list[Path]:
    """The folders of ``cfg.eval_sets``: ``trigger_dev``, ``trigger_test`` (the same over the
    test split's voices) and ``long_negatives`` are built (or reused) in their folders under
    ``data/eval/`` (:func:`lib.evalsets.set_dir`: the plain names at the standard sizes, which
    training's evaluation reads too; another size gets its own folder); other names are
    folders under ``data/eval/`` or paths."""
    from lib import evalsets

    folders = []
    made = (evalsets.TRIGGER_DEV, evalsets.TRIGGER_TEST, evalsets.LONG_NEGATIVES)
    for name in cfg.eval_sets:
        if name in made:
            evalsets.ensure_corpus(profile)
        if name in (evalsets.TRIGGER_DEV, evalsets.TRIGGER_TEST):
            folders.append(evalsets.make_trigger_devset(
                cfg.trigger_dev_clips, evalsets.set_dir(name, cfg.trigger_dev_clips),
                seed=cfg.evalset_seed, clip_seconds=cfg.trigger_dev_clip_seconds,
                split="dev" if name == evalsets.TRIGGER_DEV else "test"))  # fmt: skip
        elif name == evalsets.LONG_NEGATIVES:
            folders.append(evalsets.make_long_negatives(
                cfg.long_negative_minutes, evalsets.set_dir(name, cfg.long_negative_minutes),
                seed=cfg.evalset_seed, file_minutes=cfg.long_negative_file_minutes))  # fmt: skip
        else:
            folder = evalsets.eval_dir() / name
            folder = folder if folder.is_dir() else Path(name).expanduser()
            if not folder.is_dir():
                raise ConfigError(
                    f"parameter 'eval_sets': {name!r} is neither a folder under "
                    f"{evalsets.eval_dir()} nor a folder path"
                )
            folders.append(folder)
    return folders


def candidate_models(names: Sequence[str] = ()) -> list[str]:
    """The trigger models to compare: ``names``, or every model ``heyjoe models`` lists
    (as folders); empty (with a warning) when there are none yet."""
    if names:
        return list(names)
    try:
        from lib.trigger import list_models
    except ImportError:
        log.warning("no trigger-model package (lib.trigger) yet: nothing to evaluate")
        return []
    rows = list_models()
    if not rows:
        log.warning("no trigger models yet: train one (notebook 03) or ship one in checkpoints/")
    return [str(r["path"]) for r in rows]


def evaluate_models(
    models: Sequence[str | Path],
    folders: Sequence[Path],
    tolerance: float = 1.0,
    refractory: float = 2.0,
    chunk_seconds: float = 1.0,
    progress: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[Scored]]]:
    """Evaluate each model on the same folders → (name → evaluate_trigger-style results,
    name → scored files, for per-clip errors). A model that fails to load is skipped, named."""
    results: dict[str, dict[str, Any]] = {}
    scored_by: dict[str, list[Scored]] = {}
    for ref in models:
        try:
            model = load_trigger_model(ref)
        except HeyJoeError as exc:
            log.warning("skipped model %s: %s", ref, exc)
            continue
        scored, info = score_labelled(folders, model, make_detector(model), chunk_seconds,
                                      progress)  # fmt: skip
        th = float(model.threshold)
        name = info["model"]["name"]
        if name in results:  # e.g. a shipped and a local model of the same name
            name = f"{name} ({info['model']['path']})"
            info["model"]["name"] = name
        results[name] = {**info, "threshold": th, "tolerance": tolerance,
                         "refractory": refractory,
                         **trigger_report(scored, th, tolerance, refractory)}  # fmt: skip
        scored_by[name] = scored
    return results, scored_by


def leaderboard_rows(results: dict[str, dict[str, Any]], fa_per_hour: float) -> list[dict]:
    """Leaderboard rows, best first (lowest false-reject rate at ``fa_per_hour``)."""
    rows = [leaderboard_row(r, r) for r in results.values()]
    key = f"frr@{fa_per_hour:g}fa/h"

    def rank(row: dict[str, Any]) -> tuple[float, float]:
        a, b = row.get(key), row.get("frr")
        return (1.0 if a is None else a, 1.0 if b is None else b)

    return sorted(rows, key=rank)


def speaker_available() -> bool:
    """Whether ``lib.speaker`` offers ``load_model`` and ``embed_file`` and a model loads."""
    try:
        from lib import speaker

        if not (hasattr(speaker, "load_model") and hasattr(speaker, "embed_file")):
            return False
        speaker.load_model(None)
    except Exception as exc:  # noqa: BLE001 — any reason means: skip the section
        log.info("speaker evaluation skipped: %s", exc)
        return False
    return True


def evaluate_speaker_models(
    models: Sequence[str], trials: Path | str, audio_root: Path | str
) -> dict[str, dict[str, Any]]:
    """EER and minDCF of each speaker model (``[]`` = the shipped one) on one trial list;
    empty, with a message, when no speaker model is available."""
    if not speaker_available():
        log.info("no speaker model available (lib.speaker): the speaker section is skipped")
        return {}
    out = {}
    for ref in models or [None]:
        res = evaluate_speaker(trials, audio_root, model=ref)
        out[str(res["model"] or ref or "default")] = res
    return out


def record_selection(
    results: dict[str, dict[str, Any]],
    choice: tuple[str, float] | None,
    cfg: EvaluateConfig,
    profile: str,
) -> Path | None:
    """Record the chosen model's threshold and evaluation in its card (a copy in quick runs,
    see :func:`record_choice`); None when nothing is chosen or ``record_choice`` is off."""
    if choice is None or not cfg.record_choice:
        return None
    name, threshold = choice
    res = results[name]
    evaluation = {
        "date": dt_now(),
        "eval_sets": res["data"],
        "hours": round(res["at_model_threshold"]["hours"], 4),
        "tolerance_seconds": res["tolerance"],
        "refractory_seconds": res["refractory"],
        "select_fa_per_hour": cfg.select_fa_per_hour,
        "threshold": threshold,
        "frr_at_fa_per_hour": res["frr_at_fa_per_hour"],
        "profile": profile,
    }
    return record_choice(res["model"]["path"], threshold, evaluation, copy=profile == "quick")


def dt_now() -> str:
    """The current UTC time, ISO 8601, seconds."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def evaluate_speaker_candidates(cfg: EvaluateConfig) -> dict[str, dict[str, Any]]:
    """Notebook 05's speaker section: each speaker model on ``cfg.speaker_trials`` (paths
    relative to the trial file's folder), or on trials built from the corpus's dev voices;
    empty when no speaker model is available."""
    from lib import evalsets

    if not speaker_available():
        log.info("no speaker model available (lib.speaker): the speaker section is skipped")
        return {}
    if cfg.speaker_trials:
        trials = Path(cfg.speaker_trials).expanduser()
        root = trials.parent
    else:
        trials = evalsets.make_speaker_trials(cfg.speaker_max_trials, seed=cfg.evalset_seed)
        root = paths.raw_dir()
    return evaluate_speaker_models(cfg.speaker_models, trials, root)


def speaker_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Speaker leaderboard rows, lowest EER first."""
    rows = [{"model": n, "eer": _r(r["eer"]), "min_dcf": _r(r["min_dcf"]), "trials": r["n_trials"],
             "target": r["n_target"], "skipped_files": len(r["skipped"])}
            for n, r in results.items()]  # fmt: skip
    return sorted(rows, key=lambda r: r["eer"])


def summary_metrics(
    results: dict[str, dict[str, Any]],
    choice: tuple[str, float] | None,
    speaker_results: dict[str, dict[str, Any]],
    cfg: EvaluateConfig,
) -> dict[str, Any]:
    """The figures notebook 05 logs: models compared, the choice and its operating point."""
    out: dict[str, Any] = {"n_models": len(results)}
    if results:
        out["eval_hours"] = round(next(iter(results.values()))["at_model_threshold"]["hours"], 4)
    if choice is not None:
        name, th = choice
        res = results[name]
        point = next((p for p in res["det"] if abs(p["threshold"] - th) < 1e-12), None)
        key = f"{cfg.select_fa_per_hour:g}"
        out.update({
            "chosen_model": name,
            "chosen_threshold": round(th, 6),
            f"chosen_frr_at_{key}_fa_per_hour": metrics.frr_at_fa_per_hour(
                res["det"], cfg.select_fa_per_hour),
            "chosen_fa_per_hour": None if point is None else point["false_accepts_per_hour"],
            "chosen_frr_at_model_threshold": res["at_model_threshold"]["false_reject_rate"],
            "chosen_ms_per_audio_second": res.get("ms_per_audio_second"),
        })  # fmt: skip
    for name, r in speaker_results.items():
        out[f"speaker_eer_{name}"] = round(r["eer"], 4)
        out[f"speaker_min_dcf_{name}"] = round(r["min_dcf"], 4)
    return out
