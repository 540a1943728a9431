"""Evaluation sets that no training set uses, as audio files with Audacity label sidecars.

- :func:`make_long_negatives` — ``data/eval/long_negatives/``: long files (default 5 minutes,
  16 kHz) of audio with no trigger in it, for false accepts per hour: dev voices (festival,
  never used for training) speaking confusable phrases ("hey joey", "okay joe"), ordinary
  sentences and commands over quiet rooms, noise or music; stretches of synthetic music, of
  noise, and of near-silence (room hum). Each file has an empty label sidecar (= checked, no
  trigger). The music and noise are generated here with their own seed, not taken from the
  corpus backgrounds.
- :func:`make_trigger_devset` — ``data/eval/trigger_dev/``: short clips (default 10 s) of dev
  voices saying the trigger phrase (and confusable phrases) over the corpus's dev-split
  backgrounds, with the trigger spans in ``NAME.txt``.

Both read the dev split of the raw corpus (``data/raw/manifest.csv``; :func:`ensure_corpus`
makes it if missing), are seeded (one ``np.random.Generator`` per file from
``SeedSequence([seed, kind, index])``), and are idempotent: a file that exists is reused, so a
second call costs nothing, and a larger request only adds files. Generated files that the
current request does not ask for are moved aside to ``data/eval/.<set>-unused/`` so that the
folder holds exactly the set asked for, and are moved back when asked for again; the workbench
asks for each size in its own folder (:func:`set_dir`), so a quick run never shrinks a full set.
A set remembers a hash of the corpus clips it was made from (``sources`` in its manifest):
when those clips change (a newer bootstrap remade a background), it is made again rather than
reused, its old files moved to ``data/eval/.<set>-stale/`` with a warning. An hour of long
negatives builds in about 40 s on one core.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lib import audio, corpus, paths
from lib.errors import DatasetError
from lib.files import read_json_dict, write_json
from lib.labels import Label, write_labels
from lib.synth import place_segments

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
LONG_NEGATIVES = "long_negatives"
TRIGGER_DEV = "trigger_dev"
TRIGGER_TEST = "trigger_test"
#: bump when the generators below change (it is part of every file name)
VERSION = "v1"
_NAME = re.compile(r"^(?:neg|dev|test)-v\d+-s\d+-\d{4}-\d+s\.wav$")


def eval_dir() -> Path:
    """Root of the evaluation sets: ``data/eval/``."""
    return paths.data_dir() / "eval"


#: the sizes of the standard sets, whose folders carry the plain names (``data/eval/trigger_dev``)
FULL_DEV_CLIPS = 40
FULL_NEGATIVE_MINUTES = 60.0


def set_dir(kind: str, size: float, raw_dir: Path | str | None = None) -> Path:
    """The folder of the ``kind`` set (:data:`TRIGGER_DEV`, :data:`TRIGGER_TEST`: ``size``
    clips; :data:`LONG_NEGATIVES`: ``size`` minutes) made from the corpus ``raw_dir``.

    A folder holds exactly the set asked for (the builders move other files aside), so a set
    of another size or corpus gets its own folder: a quick run never shrinks the standard
    sets, and every evaluation of one size reads the same files. The standard sizes
    (:data:`FULL_DEV_CLIPS`, :data:`FULL_NEGATIVE_MINUTES`) of the default corpus have the
    plain names; others a suffix (``trigger_dev_12clips``, ``long_negatives_2.5min``). Long
    negatives take no corpus suffix: they are the same for every trigger phrase."""
    if kind in (TRIGGER_DEV, TRIGGER_TEST):
        name = kind + (f"_{Path(raw_dir).name}" if raw_dir else "")
        name += "" if size == FULL_DEV_CLIPS else f"_{int(size)}clips"
    elif kind == LONG_NEGATIVES:
        name = kind + ("" if size == FULL_NEGATIVE_MINUTES else f"_{size:g}min")
    else:
        raise ValueError(f"no standard evaluation set {kind!r}")
    return eval_dir() / name


def ensure_corpus(profile: str = "quick", raw_dir: Path | None = None) -> Path:
    """The raw corpus's manifest, bootstrapping the corpus (``configs/corpus.yaml``, the
    given profile) if there is none yet."""
    from lib import config

    manifest = corpus.manifest_path(raw_dir)
    if not manifest.is_file():
        log.info("no raw corpus yet: bootstrapping it (profile %s)", profile)
        corpus.bootstrap_corpus(config.load_config("corpus", profile), raw_dir=raw_dir)
    return manifest


def _dev_clips(
    raw_dir: Path | None, kind: str, categories: Sequence[str] | None = None, split: str = "dev"
) -> list[tuple[str, np.ndarray, str]]:
    """(text, audio at 16 kHz, ``engine:voice``) of the ``split`` clips of ``kind`` from the
    manifest."""
    records = corpus.load_manifest(raw_dir)
    out = []
    for rec in records:
        if rec.split != split or rec.kind != kind:
            continue
        if categories is not None and rec.category not in categories:
            continue
        try:
            x = audio.load_audio(rec.full_path(raw_dir), SAMPLE_RATE)
        except Exception as exc:  # noqa: BLE001 — any unreadable clip is skipped, named
            log.warning("%s: skipped (%s)", rec.path, exc)
            continue
        out.append((rec.text, x, f"{rec.engine}:{rec.voice}"))
    return out


def _rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), kind, int(index)]))


def _bed(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    seconds = n / SAMPLE_RATE
    if kind == "music":
        x = audio.match_loudness(
            corpus.make_music(rng, seconds, SAMPLE_RATE), rng.uniform(-34, -22)
        )
    elif kind == "noise":
        colour = str(rng.choice(["white", "pink", "brown"]))
        x = audio.match_loudness(corpus.make_noise(rng, seconds, SAMPLE_RATE, colour),
                                 rng.uniform(-45, -28))  # fmt: skip
    else:  # silence: room hum far below speech
        x = audio.match_loudness(corpus.make_hum(rng, seconds, SAMPLE_RATE), rng.uniform(-66, -54))
    return np.asarray(x[:n], dtype=np.float32)


#: a corpus clip for the generators: (text, audio at 16 kHz, "engine:voice")
Clip = tuple[str, np.ndarray, str]
#: what a long negative file says where: [start s, end s, text, "engine:voice"]
Said = list[float | str]


def _speech(
    rng: np.random.Generator, clips: list[Clip], n: int, said: list[Said], offset: int = 0
) -> np.ndarray:
    """Clips one after another with pauses, each at its own level, filling ``n`` samples;
    each clip placed is appended to ``said`` (times from ``offset`` samples on)."""
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(0.2, 1.5) * SAMPLE_RATE)
    while pos < n:
        text, x, voice = clips[int(rng.integers(len(clips)))]
        x = audio.match_loudness(x, rng.uniform(-30, -18))
        end = min(n, pos + len(x))
        out[pos:end] += x[: end - pos]
        said.append([round((offset + pos) / SAMPLE_RATE, 3),
                     round((offset + end) / SAMPLE_RATE, 3), text, voice])  # fmt: skip
        pos = end + int(rng.uniform(0.3, 2.5) * SAMPLE_RATE)
    return out


#: segment kinds of a long negative file and their probabilities
_SEGMENTS = (("speech", 0.5), ("music", 0.2), ("noise", 0.15), ("silence", 0.15))


def _long_negative(
    rng: np.random.Generator, seconds: float, clips: list[Clip], said: list[Said] | None = None
) -> np.ndarray:
    """One long negative file; what its speech says, where, is appended to ``said``."""
    said = [] if said is None else said
    n = int(round(seconds * SAMPLE_RATE))
    out = np.zeros(n, dtype=np.float32)
    kinds = [k for k, _ in _SEGMENTS if clips or k != "speech"]
    probs = np.array([p for k, p in _SEGMENTS if k in kinds])
    pos = 0
    while pos < n:
        length = min(n - pos, int(rng.uniform(15.0, 45.0) * SAMPLE_RATE))
        kind = str(rng.choice(kinds, p=probs / probs.sum()))
        if kind == "speech":
            bed = _bed(rng, str(rng.choice(["silence", "noise", "music"], p=[0.5, 0.3, 0.2])),
                       length)  # fmt: skip
            seg = _speech(rng, clips, length, said, pos) + bed * (
                0.5 if rng.random() < 0.5 else 1.0
            )
        else:
            seg = _bed(rng, kind, length)
        fade = min(length // 2, int(0.05 * SAMPLE_RATE))
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            seg[:fade] *= ramp
            seg[-fade:] *= ramp[::-1]
        out[pos : pos + length] = seg
        pos += length
    return np.clip(out, -1.0, 1.0)


def _unused_dir(out_dir: Path) -> Path:
    """Where generated files the current request does not ask for are kept (outside the set's
    folder, so evaluating the folder never sees them; a later request takes them back)."""
    return out_dir.parent / f".{out_dir.name}-unused"


def sources_fingerprint(raw_dir: Path | None, parts: Sequence[tuple[str, str]]) -> str:
    """A hash of the contents of the corpus clips a set is made from: ``parts`` lists the
    (split, kind) pairs it reads. The same clips under the same names give the same hash; a
    clip remade with other content (a background regenerated by a newer bootstrap) changes it."""
    h = hashlib.sha1()
    records = corpus.load_manifest(raw_dir) if corpus.manifest_path(raw_dir).is_file() else []
    for rec in sorted(records, key=lambda r: r.path):
        if (rec.split, rec.kind) in parts:
            h.update(rec.path.encode())
            try:
                h.update(hashlib.sha1(rec.full_path(raw_dir).read_bytes()).digest())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()[:16]


def _refresh_if_stale(out_dir: Path, prefix: str, fingerprint: str) -> bool:
    """A set made from other corpus clips than today's is not reused: its generated files
    (and those set aside) move to ``.<set>-stale/`` (the previous stale copy is replaced),
    with a warning, so the set is made again from the clips there are now. True when so."""
    old = read_json_dict(out_dir / "manifest.json").get("sources")
    unused = _unused_dir(out_dir)
    made = [p for d in (out_dir, unused) if d.is_dir() for p in d.glob(f"{prefix}-*")]
    if old == fingerprint or not made:
        return False
    stale = out_dir.parent / f".{out_dir.name}-stale"
    if stale.exists():
        shutil.rmtree(stale)
    stale.mkdir(parents=True)
    for f in made:
        f.replace(stale / f.name)
    log.warning("%s was made from other corpus clips than there are now (sources %s, now %s): "
                "making it again; the old files are in %s", out_dir, old or "not recorded",
                fingerprint, stale)  # fmt: skip
    return True


def _record_pool(out_dir: Path, key: str, refreshed: bool) -> dict[str, Any]:
    """The per-file records (the manifest's ``key``) of the set's files and of the files set
    aside in ``.<set>-unused/`` (``<key>_set_aside``), so that files which come back keep
    theirs; none after a refresh (every file went to ``-stale/`` and is made again)."""
    if refreshed:
        return {}
    m = read_json_dict(out_dir / "manifest.json")
    return {**(m.get(f"{key}_set_aside") or {}), **(m.get(key) or {})}


def _records(pool: dict[str, Any], names: Sequence[str], key: str) -> dict[str, Any]:
    """The manifest entries of ``pool``: the set's files under ``key``, the rest set aside."""
    wanted = set(names)
    return {key: {n: pool[n] for n in names if n in pool},
            f"{key}_set_aside": {n: r for n, r in pool.items() if n not in wanted}}  # fmt: skip


def _prune(out_dir: Path, keep: set[str], prefix: str) -> None:
    """Move generated files not in ``keep`` out of the set; bring back kept ones set aside."""
    unused = _unused_dir(out_dir)
    for p in out_dir.glob(f"{prefix}-*.wav"):
        if _NAME.match(p.name) and p.name not in keep:
            unused.mkdir(parents=True, exist_ok=True)
            for f in (p, p.with_suffix(".txt")):
                if f.exists():
                    f.replace(unused / f.name)
    for name in keep:
        wav = unused / name
        if wav.is_file() and wav.with_suffix(".txt").is_file() and not (out_dir / name).exists():
            wav.with_suffix(".txt").replace((out_dir / name).with_suffix(".txt"))
            wav.replace(out_dir / name)


def make_long_negatives(
    minutes: float,
    out_dir: Path | str | None = None,
    seed: int = 0,
    *,
    file_minutes: float = 5.0,
    raw_dir: Path | None = None,
    split: str = "dev",
) -> Path:
    """Build (or reuse) ``minutes`` of negative audio in files of ``file_minutes``; returns
    the folder (default ``data/eval/long_negatives/``). See the module docstring.

    ``split="train"`` makes the same kind of audio from the corpus's *training* voices,
    with generators seeded apart from the evaluation's, into ``data/long_negatives_train/``:
    audio to mine false accepts from (:mod:`lib.trigger.mining`), never to evaluate on."""
    if not minutes > 0 or not file_minutes > 0:
        raise DatasetError(f"minutes and file_minutes must be > 0, got {minutes}, {file_minutes}")
    if split not in ("dev", "train"):
        raise DatasetError(f"split must be 'dev' or 'train', got {split!r}")
    if out_dir is not None:
        out = Path(out_dir)
    elif split == "dev":
        out = eval_dir() / LONG_NEGATIVES
    else:
        out = paths.data_dir() / f"{LONG_NEGATIVES}_train"
    out.mkdir(parents=True, exist_ok=True)
    total = minutes * 60.0
    n_files = int(math.ceil(total / (file_minutes * 60.0) - 1e-9))
    plan = []
    for i in range(n_files):
        seconds = int(round(min(file_minutes * 60.0, total - i * file_minutes * 60.0)))
        plan.append(
            (i, max(1, seconds), f"neg-{VERSION}-s{int(seed)}-{i:04d}-{max(1, seconds)}s.wav")
        )
    sources = sources_fingerprint(raw_dir, [(split, "negative")])
    refreshed = _refresh_if_stale(out, "neg", sources)
    _prune(out, {name for *_, name in plan}, "neg")
    todo = [
        p
        for p in plan
        if not (out / p[2]).is_file() or not (out / p[2]).with_suffix(".txt").is_file()
    ]
    # what each file says where: kept for the files reused; for files made before this was
    # recorded, worked out again by running the seeded generator without writing anything
    made = {name for *_, name in todo}
    said = {n: r for n, r in _record_pool(out, "said", refreshed).items() if n not in made}
    missing = [p for p in plan if p[2] not in said]
    if missing:
        clips = _dev_clips(raw_dir, "negative", split=split)
        if not clips:
            log.warning("no %s-split negative speech in the corpus: long negatives without "
                        "speech", split)  # fmt: skip
        kind = 1 if split == "dev" else 4  # the train split's own random streams
        for i, seconds, name in missing:
            said[name] = []
            x = _long_negative(_rng(seed, kind, i), seconds, clips, said[name])
            if (i, seconds, name) in todo:
                audio.write_wav(out / name, x, SAMPLE_RATE)
                write_labels((out / name).with_suffix(".txt"), [])
            elif not _same_audio(out / name, x):
                log.warning("%s: not what the generator makes now: what it says is not known",
                            out / name)  # fmt: skip
                said[name] = None
        log.info("long negatives: made %d file(s), reused %d, in %s", len(todo),
                 len(plan) - len(todo), out)  # fmt: skip
    write_json(out / "manifest.json", {"kind": LONG_NEGATIVES, "split": split, "minutes": minutes,
               "file_minutes": file_minutes, "seed": seed, "version": VERSION, "sources": sources,
               "sample_rate": SAMPLE_RATE, "files": [name for *_, name in plan],
               **_records(said, [name for *_, name in plan], "said")})  # fmt: skip
    return out


def _same_audio(path: Path, x: np.ndarray) -> bool:
    """Whether the 16-bit file at ``path`` holds ``x`` as :func:`audio.write_wav` writes it."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    buf.seek(0)
    try:
        on_disk = sf.read(str(path), dtype="int16")[0]
    except (sf.SoundFileError, RuntimeError, ValueError):
        return False
    return np.array_equal(on_disk, sf.read(buf, dtype="int16")[0])


def negative_speech(folder: Path | str) -> dict[str, list[tuple[float, float, str, str]]]:
    """What the speech of each long negative file says, where: ``{file name: [(start, end,
    text, "engine:voice"), ...]}`` from its manifest; empty for folders without that record."""
    raw = read_json_dict(Path(folder) / "manifest.json").get("said") or {}
    return {
        name: [(float(a), float(b), str(t), str(v)) for a, b, t, v in spans]
        for name, spans in raw.items()
        if isinstance(spans, list)
    }


def make_trigger_devset(
    n_clips: int = 40,
    out_dir: Path | str | None = None,
    seed: int = 0,
    *,
    clip_seconds: float = 10.0,
    trigger_fraction: float = 0.75,
    raw_dir: Path | None = None,
    split: str = "dev",
) -> Path:
    """Build (or reuse) ``n_clips`` clips of ``clip_seconds``: dev backgrounds with, in a
    ``trigger_fraction`` of them, one or two dev-voice triggers, and in most of them a
    confusable or other negative phrase; trigger spans go to the ``.txt`` sidecars (label text
    = the trigger phrase). Returns the folder (default ``data/eval/trigger_dev/``).

    ``split="test"``: the same over the test split's voices (the corpus's ``test_engines``),
    still on dev backgrounds (default folder ``data/eval/trigger_test/``)."""
    if split not in ("dev", "test"):
        raise DatasetError(
            f"a trigger evaluation set is made from split dev or test, not {split!r}"
        )
    if n_clips < 1 or not clip_seconds > 0 or not 0.0 <= trigger_fraction <= 1.0:
        raise DatasetError(
            "n_clips must be >= 1, clip_seconds > 0 and trigger_fraction in [0, 1], got "
            f"{n_clips}, {clip_seconds}, {trigger_fraction}"
        )
    default = TRIGGER_DEV if split == "dev" else TRIGGER_TEST
    out = Path(out_dir) if out_dir is not None else eval_dir() / default
    out.mkdir(parents=True, exist_ok=True)
    seconds = int(round(clip_seconds))
    plan = [(i, f"{split}-{VERSION}-s{int(seed)}-{i:04d}-{seconds}s.wav") for i in range(n_clips)]
    sources = sources_fingerprint(raw_dir, [(split, "activate"), (split, "negative"),
                                            ("dev", "background")])  # fmt: skip
    refreshed = _refresh_if_stale(out, split, sources)
    _prune(out, {name for _, name in plan}, split)
    todo = [
        p
        for p in plan
        if not (out / p[1]).is_file() or not (out / p[1]).with_suffix(".txt").is_file()
    ]
    # which voice says each trigger: {file: [[start, end, "engine:voice"], ...]}; kept for
    # the files reused (those set aside by a smaller request too), recorded for the files made
    made = {name for _, name in todo}
    voices = {n: r for n, r in _record_pool(out, "voices", refreshed).items() if n not in made}
    if todo:
        triggers = _dev_clips(raw_dir, "activate", split=split)
        negatives = _dev_clips(raw_dir, "negative", split=split)
        backgrounds = [x for _, x, _ in _dev_clips(raw_dir, "background")]
        phrase = triggers[0][0] if triggers and triggers[0][0] else "hey joe"
        if not triggers:
            who = "festival voices" if split == "dev" else "the test_engines' voices"
            raise DatasetError(
                f"{corpus.manifest_path(raw_dir)}: no {split}-split trigger clips ({who}); "
                "install the engines (`heyjoe doctor`) and run `heyjoe bootstrap`"
            )
        n = int(round(seconds * SAMPLE_RATE))
        for i, name in todo:
            rng = _rng(seed, 2 if split == "dev" else 3, i)
            if backgrounds:
                bg = backgrounds[int(rng.integers(len(backgrounds)))]
                bg = np.resize(bg, n) if len(bg) < n else bg[:n]
            else:
                bg = _bed(rng, "noise", n)
            x = np.array(bg, dtype=np.float32)
            n_trig = int(rng.integers(1, 3)) if rng.random() < trigger_fraction else 0
            segs = [("t", *triggers[int(rng.integers(len(triggers)))][1:])
                    for _ in range(n_trig)]  # fmt: skip
            if negatives and rng.random() < 0.8:
                segs.append(("n", *negatives[int(rng.integers(len(negatives)))][1:]))
            starts = place_segments([len(s) for _, s, _ in segs], n, rng,
                                    min_gap=int(0.5 * SAMPLE_RATE))  # fmt: skip
            labels, spoken = [], []
            for (kind, seg, voice), start in zip(segs, starts, strict=True):
                if start is None:
                    continue
                x[start : start + len(seg)] += audio.match_loudness(seg, rng.uniform(-28, -16))
                if kind == "t":  # corpus clips are trimmed: the clip is the spoken phrase
                    s0 = round(start / SAMPLE_RATE, 3)
                    s1 = round(start / SAMPLE_RATE + len(seg) / SAMPLE_RATE, 3)
                    labels.append(Label(s0, s1, phrase))
                    spoken.append([s0, s1, voice])
            audio.write_wav(out / name, np.clip(x, -1.0, 1.0), SAMPLE_RATE)
            write_labels((out / name).with_suffix(".txt"), labels)
            voices[name] = sorted(spoken)
        log.info("trigger %s set: made %d clip(s), reused %d, in %s", split, len(todo),
                 len(plan) - len(todo), out)  # fmt: skip
    write_json(out / "manifest.json", {"kind": default, "split": split, "n_clips": n_clips,
               "clip_seconds": seconds, "trigger_fraction": trigger_fraction, "seed": seed,
               "version": VERSION, "sample_rate": SAMPLE_RATE, "sources": sources,
               "files": [name for _, name in plan],
               **_records(voices, [name for _, name in plan], "voices")})  # fmt: skip
    return out


def span_voices(folder: Path | str) -> dict[str, list[tuple[float, float, str]]]:
    """The voice of each trigger span of a trigger dev/test set: ``{file name: [(start, end,
    "engine:voice"), ...]}`` from its manifest; empty for folders without that record (hand
    labelled recordings, sets made before it was kept)."""
    raw = read_json_dict(Path(folder) / "manifest.json").get("voices") or {}
    return {
        name: [(float(a), float(b), str(v)) for a, b, v in spans]
        for name, spans in raw.items()
        if isinstance(spans, list)
    }


def set_seconds(folder: Path | str) -> float:
    """Total audio seconds of the WAV files in a set folder (from their headers)."""
    import soundfile as sf

    return float(sum(sf.info(str(p)).duration for p in sorted(Path(folder).glob("*.wav"))))


def make_speaker_trials(
    n_trials: int = 400,
    out: Path | str | None = None,
    seed: int = 0,
    *,
    raw_dir: Path | None = None,
) -> Path:
    """A VoxCeleb-format trial list (``label path1 path2``, paths relative to the raw corpus
    folder) over the dev-split speech clips (festival voices, held out from training): about
    half the trials pair two clips of one voice (label 1), half clips of two voices (label 0).
    Written to ``data/eval/speaker_trials.txt`` by default; returns its path."""
    from lib.files import write_text

    by_voice: dict[str, list[str]] = {}
    for rec in corpus.load_manifest(raw_dir):
        if rec.split == "dev" and rec.kind in ("activate", "negative"):
            by_voice.setdefault(f"{rec.engine}:{rec.voice}", []).append(rec.path)
    voices = sorted(v for v, clips in by_voice.items() if len(clips) >= 2)
    if len(voices) < 2:
        raise DatasetError(
            f"{corpus.manifest_path(raw_dir)}: speaker trials need dev clips of at least two "
            f"voices with two clips each; found {len(voices)}"
        )
    rng = _rng(seed, 3, 0)
    lines = set()
    for _ in range(20 * n_trials):
        if len(lines) >= n_trials:
            break
        same = rng.random() < 0.5
        v1 = voices[int(rng.integers(len(voices)))]
        if same:
            a, b = rng.choice(len(by_voice[v1]), size=2, replace=False)
            p1, p2 = by_voice[v1][int(a)], by_voice[v1][int(b)]
        else:
            v2 = voices[int(rng.integers(len(voices)))]
            if v2 == v1:
                continue
            p1 = by_voice[v1][int(rng.integers(len(by_voice[v1])))]
            p2 = by_voice[v2][int(rng.integers(len(by_voice[v2])))]
        lines.add(f"{int(same)} {p1} {p2}")
    path = Path(out) if out is not None else eval_dir() / "speaker_trials.txt"
    write_text(path, "\n".join(sorted(lines)) + "\n")
    return path


def describe_sets(folders: Sequence[Path]) -> list[dict]:
    """One row per evaluation folder: name, files, minutes, labelled triggers, folder."""
    from lib.labels import label_path, read_labels

    rows = []
    for folder in folders:
        wavs = audio.find_audio_files(folder)
        n_trig = sum(len(read_labels(label_path(w))) for w in wavs if label_path(w).is_file())
        rows.append({"set": Path(folder).name, "files": len(wavs),
                     "minutes": round(set_seconds(folder) / 60, 2), "triggers": n_trig,
                     "folder": str(folder)})  # fmt: skip
    return rows
