"""The speaker database: utterances grouped by speaker, with a deterministic split.

Any of three layouts is read as it comes (the speaker is always the first folder level):

- ``folders``:      ``root/<speaker>/*.wav`` (any audio format, any depth below the speaker)
- ``librispeech``:  ``root/<speaker>/<chapter>/*.flac`` (transcripts are ignored)
- ``voxceleb``:     ``root/<id>/<video>/*.wav``

:func:`load_database` scans the folder, skips (and lists) what cannot be used — audio outside
a speaker folder, unreadable files, empty speaker folders, speakers with a single utterance —
refuses a database with fewer than two usable speakers, assigns each speaker to ``train``,
``dev`` or ``test`` (a stable hash of the speaker name and ``db_seed``, so the split never
changes when speakers are added), and writes ``manifest.csv`` plus ``database.json`` into
``paths.data_dir()/speaker_db/<db_name>/``.

:func:`bootstrap_synthetic` makes a database from local text-to-speech: each espeak-ng voice
and variant and each flite voice reads its own varied sentences, and each is also shifted in
pitch and formants (a resampling trick: vocal-tract length, pitch and tempo move together)
into further pseudo-speakers, and (``formant_warps``) given seeded random formant warps —
formants moved each its own way, pitch kept — into more. Festival voices and their shifts are
reserved for the dev split.
File names are hashes of what the clip is, so a second run reuses everything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from lib import audio, corpus, paths
from lib.errors import AudioError, DatasetError, HeyJoeError
from lib.files import write_json, write_text
from lib.speaker.settings import SpeakerConfig

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
MANIFEST = "manifest.csv"
DB_INFO = "database.json"
SYNTHETIC_INFO = "synthetic.json"
LAYOUT_DEPTH = {"folders": None, "librispeech": 3, "voxceleb": 3}

#: Harvard sentences (IEEE 1969, public domain): phonetically balanced, varied.
SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
    "We talked of the side show in the circus.",
    "Use a pencil to write the first draft.",
    "He ran half way to the hardware store.",
    "The clock struck to mark the third period.",
)


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Utterance:
    """One row of ``manifest.csv``; ``path`` is relative to the database root."""

    path: str
    speaker: str
    split: str
    sample_rate: int
    duration_seconds: float


@dataclass
class SpeakerDatabase:
    """A scanned database: where it is, its utterances, and what was skipped and why."""

    name: str
    root: Path
    dir: Path
    layout: str
    utterances: list[Utterance]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def speakers(self, split: str | None = None) -> list[str]:
        """Speaker names (sorted), optionally of one split."""
        return sorted({u.speaker for u in self.utterances if split in (None, u.split)})

    def by_split(self, split: str) -> list[Utterance]:
        return [u for u in self.utterances if u.split == split]

    def full_path(self, utt: Utterance) -> Path:
        return self.root / utt.path

    def sample(self, split: str, n: int, seed: int = 0) -> list[Utterance]:
        """Up to ``n`` utterances of ``split``, a seeded draw in manifest order (the
        benchmark's and ``heyjoe compare --speaker``'s trials)."""
        utts = self.by_split(split)
        if len(utts) > n:
            idx = np.random.default_rng(seed).choice(len(utts), size=n, replace=False)
            utts = [utts[i] for i in sorted(idx)]
        return utts

    def fingerprint(self) -> str:
        """A hash of every row of the manifest (changes when any utterance changes)."""
        h = hashlib.sha1()
        for u in self.utterances:
            h.update(f"{u.path}|{u.speaker}|{u.split}|{u.duration_seconds:.4f}\n".encode())
        return h.hexdigest()[:16]

    def rows(self) -> list[dict]:
        """One summary row per split: speakers, utterances, minutes of audio."""
        out = []
        for split in SPLITS:
            utts = self.by_split(split)
            if utts:
                out.append({
                    "split": split,
                    "speakers": len({u.speaker for u in utts}),
                    "utterances": len(utts),
                    "minutes": round(sum(u.duration_seconds for u in utts) / 60, 2),
                    "mean_seconds": round(np.mean([u.duration_seconds for u in utts]), 2),
                })  # fmt: skip
        return out

    def summary(self) -> dict:
        return {
            "name": self.name,
            "root": str(self.root),
            "layout": self.layout,
            "fingerprint": self.fingerprint(),
            "splits": self.rows(),
            "skipped": len(self.skipped),
        }

    def __str__(self) -> str:
        lines = [f"speaker database {self.name!r} ({self.root}, layout {self.layout}):"]
        for r in self.rows():
            lines.append(
                f"  {r['split']:<5} {r['speakers']:>4} speakers {r['utterances']:>6} utterances "
                f"{r['minutes']:>8.1f} min"
            )
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)}:")
            lines += [f"    {item}: {why}" for item, why in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def database_dir(name: str) -> Path:
    """Where the manifest (and, for the synthetic database, the audio) of ``name`` lives."""
    return paths.data_dir() / "speaker_db" / name


# ---------------------------------------------------------------------------- splits


def split_of(speaker: str, dev_fraction: float, test_fraction: float, seed: int = 0) -> str:
    """The split of a speaker: a stable hash, independent of the other speakers."""
    h = int(hashlib.sha1(f"{seed}|{speaker}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    if h < dev_fraction:
        return "dev"
    if h < dev_fraction + test_fraction:
        return "test"
    return "train"


# ---------------------------------------------------------------------------- scanning


def scan_database(
    root: str | Path, layout: str = "auto"
) -> tuple[dict[str, list[tuple[str, int, float]]], list[tuple[str, str]]]:
    """Audio files under ``root`` grouped by speaker folder → (speaker → [(relative path,
    sample rate, seconds)], skipped [(item, why)]). Nothing is decoded (headers only)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: speaker database folder not found")
    if layout not in ("auto", *LAYOUT_DEPTH):
        raise DatasetError(
            f"unknown database layout {layout!r}; use auto, " + ", ".join(LAYOUT_DEPTH)
        )
    depth = LAYOUT_DEPTH.get(layout)
    by_speaker: dict[str, list[tuple[str, int, float]]] = {}
    skipped: list[tuple[str, str]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        by_speaker[folder.name] = []
    for path in audio.find_audio_files(root):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            skipped.append((rel.as_posix(), "not inside a speaker folder"))
            continue
        if depth is not None and len(rel.parts) != depth:
            skipped.append((rel.as_posix(), f"not at the {layout} depth speaker/.../file"))
            continue
        try:
            info = sf.info(str(path))
        except (sf.SoundFileError, RuntimeError) as exc:
            skipped.append((rel.as_posix(), f"unreadable ({str(exc).split(': ')[-1]})"))
            continue
        if info.frames == 0 or info.samplerate <= 0:
            skipped.append((rel.as_posix(), "contains no audio"))
            continue
        by_speaker.setdefault(rel.parts[0], []).append(
            (rel.as_posix(), int(info.samplerate), info.frames / info.samplerate)
        )
    return by_speaker, skipped


def build_manifest(
    root: str | Path,
    name: str,
    cfg: SpeakerConfig,
    layout: str | None = None,
    fixed_splits: dict[str, str] | None = None,
) -> SpeakerDatabase:
    """Scan ``root``, drop unusable speakers (listed), assign splits, write the manifest."""
    root = Path(root).resolve()
    layout = layout or cfg.db_layout
    by_speaker, skipped = scan_database(root, layout)
    fixed_splits = fixed_splits or {}
    utterances: list[Utterance] = []
    for speaker in sorted(by_speaker):
        items = by_speaker[speaker]
        if not items:
            skipped.append((f"{speaker}/", "empty speaker folder (no audio files)"))
            continue
        if len(items) < 2:
            skipped.append((f"{speaker}/", "only 1 utterance; a speaker needs at least 2"))
            continue
        split = fixed_splits.get(speaker) or split_of(
            speaker, cfg.dev_fraction, cfg.test_fraction, cfg.db_seed
        )
        utterances += [Utterance(p, speaker, split, sr, secs) for p, sr, secs in sorted(items)]
    n_speakers = len({u.speaker for u in utterances})
    if n_speakers < 2:
        raise DatasetError(
            f"{root}: a speaker database needs at least 2 speakers with 2 or more utterances "
            f"each; found {n_speakers}"
            + (f" (skipped: {'; '.join(f'{i}: {w}' for i, w in skipped[:5])})" if skipped else "")
        )
    if skipped:
        log.warning("speaker database %s: skipped %d item(s):\n  %s", root, len(skipped),
                    "\n  ".join(f"{i}: {w}" for i, w in skipped[:30]))  # fmt: skip
    db = SpeakerDatabase(name, root, database_dir(name), layout, utterances, skipped)
    write_manifest(db)
    return db


def write_manifest(db: SpeakerDatabase) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "speaker", "split", "sample_rate", "duration_seconds"])
    for u in db.utterances:
        writer.writerow([u.path, u.speaker, u.split, u.sample_rate, f"{u.duration_seconds:.4f}"])
    db.dir.mkdir(parents=True, exist_ok=True)
    write_json(
        db.dir / DB_INFO,
        {**db.summary(), "skipped_items": [list(s) for s in db.skipped]},
    )
    return write_text(db.dir / MANIFEST, buf.getvalue())


def read_manifest(name: str) -> SpeakerDatabase:
    """Read a database written by :func:`build_manifest` (no scanning)."""
    folder = database_dir(name)
    info_path, path = folder / DB_INFO, folder / MANIFEST
    if not path.is_file() or not info_path.is_file():
        raise DatasetError(f"{path}: no speaker database manifest; build it with load_database")
    info = json.loads(info_path.read_text())
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    try:
        utts = [
            Utterance(r["path"], r["speaker"], r["split"], int(r["sample_rate"]),
                      float(r["duration_seconds"]))
            for r in rows
        ]  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed manifest ({exc})") from None
    skipped = [tuple(s) for s in info.get("skipped_items", [])]
    return SpeakerDatabase(name, Path(info["root"]), folder, info["layout"], utts, skipped)


def load_database(cfg: SpeakerConfig, progress: bool = False) -> SpeakerDatabase:
    """The configured database: ``db_dir`` scanned as it comes, or the synthetic one
    bootstrapped (or completed) from local TTS."""
    if cfg.db_dir:
        return build_manifest(Path(cfg.db_dir).expanduser(), cfg.db_name, cfg)
    return bootstrap_synthetic(cfg, progress=progress)


# ---------------------------------------------------------------------------- synthetic


@dataclass(frozen=True)
class VoiceSpec:
    """One pseudo-speaker of the synthetic database."""

    engine: str
    voice: str
    variant: str
    shift: float  # semitones (pitch and formants together)
    warp: int = 0  # 0: none; k: the speaker's own seeded formant warp (lib.synth.formant_warp)

    @property
    def speaker(self) -> str:
        name = f"{self.engine}-{self.voice}" + (f"+{self.variant}" if self.variant else "")
        name += f"_{self.shift:+g}st" if self.shift else ""
        return name + (f"_w{self.warp}" if self.warp else "")

    @property
    def split(self) -> str | None:
        return "dev" if self.engine == "festival" else None


def plan_voices(cfg: SpeakerConfig) -> list[VoiceSpec]:
    """Every pseudo-speaker the settings ask for, in a fixed order."""
    base = [("espeak", v, var) for v in cfg.espeak_voices for var in cfg.espeak_variants]
    base += [("flite", v, "") for v in cfg.flite_voices]
    base += [("mbrola", v, "") for v in cfg.mbrola_voices]
    base += [("pico", v, "") for v in cfg.pico_voices]
    # warp 0 is the voice as it is; warps 1.. are its formant-warped pseudo-speakers
    specs = [
        VoiceSpec(e, v, var, float(s), w)
        for w in range(cfg.formant_warps + 1)
        for e, v, var in base
        for s in cfg.shift_semitones
    ]
    # the dev voices stay as they are
    return specs + [
        VoiceSpec("festival", v, "", float(s))
        for v in cfg.festival_voices
        for s in cfg.shift_semitones
    ]


def _stable_int(key: str) -> int:
    """A 32-bit number from ``key``, the same on every run and machine (a seed)."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)


def _texts(cfg: SpeakerConfig, spec: VoiceSpec) -> list[str]:
    """The sentences one speaker reads: its own seeded draw from :data:`SENTENCES`."""
    rng = np.random.default_rng(_stable_int(f"{cfg.db_seed}|{spec.speaker}"))
    n = cfg.utterances_per_speaker * cfg.sentences_per_utterance
    order = np.concatenate(
        [rng.permutation(len(SENTENCES)) for _ in range(math.ceil(n / len(SENTENCES)))]
    )
    picks = [SENTENCES[i] for i in order[:n]]
    k = cfg.sentences_per_utterance
    return [" ".join(picks[i : i + k]) for i in range(0, n, k)]


def _speaking_rate(spec: VoiceSpec) -> float:
    """espeak-ng words per minute for a voice (varies between voices, fixed per voice)."""
    return float(145 + _stable_int(f"{spec.voice}+{spec.variant}") % 40)


def shift_audio(x: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Raise (or lower) pitch and formants by ``semitones`` by resampling: the clip plays
    faster (slower) too, as a shorter (longer) vocal tract speaking faster (slower) would."""
    if semitones == 0:
        return np.asarray(x, dtype=np.float32)
    claimed = int(round(sample_rate * 2 ** (semitones / 12) / 100)) * 100
    return audio.resample(x, claimed, sample_rate)


def warp_audio(x: np.ndarray, sample_rate: int, spec: VoiceSpec, amount: float) -> np.ndarray:
    """The speaker's formant warp (seeded by its name: the same for all its utterances)."""
    if not spec.warp:
        return np.asarray(x, dtype=np.float32)
    from lib.synth import formant_warp, random_formant_warp

    rng = np.random.default_rng(_stable_int(spec.speaker))
    points = random_formant_warp(rng, amount, sample_rate)
    return formant_warp(x, points, sample_rate)


def _clip_name(spec: VoiceSpec, text: str) -> str:
    key = f"{spec.engine}|{spec.voice}|{spec.variant}|{spec.shift:g}|{text}"
    key += f"|w{spec.warp}" if spec.warp else ""
    return hashlib.sha1(key.encode()).hexdigest()[:16] + ".wav"


def bootstrap_synthetic(
    cfg: SpeakerConfig, root: Path | None = None, progress: bool = False
) -> SpeakerDatabase:
    """Make (or complete) the synthetic database under ``root`` (default
    ``database_dir(cfg.db_name)/audio``) and return it scanned, with its manifest.

    Voices an engine lacks are skipped with a warning; missing engines are listed.
    """
    started = time.perf_counter()
    root = Path(root) if root is not None else database_dir(cfg.db_name) / "audio"
    root.mkdir(parents=True, exist_ok=True)
    voices = plan_voices(cfg)
    commands = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival",
                "mbrola": "espeak-ng", "pico": "pico2wave"}  # fmt: skip
    needs = {e: corpus.engine_programs(e, cmd) for e, cmd in commands.items()}
    absent = {c for e in {v.engine for v in voices} for c in needs[e] if shutil.which(c) is None}
    missing = sorted({v.engine for v in voices if absent & set(needs[v.engine])})
    if missing:
        log.warning("speaker database: TTS engine(s) not installed, skipped: %s",
                    ", ".join(sorted(absent)))  # fmt: skip
    voices = [v for v in voices if v.engine not in missing]
    todo: list[tuple[VoiceSpec, str, Path]] = []
    for spec in voices:
        for text in _texts(cfg, spec):
            out = root / spec.speaker / _clip_name(spec, text)
            if not out.is_file():
                todo.append((spec, text, out))
    failures: list[str] = []
    if todo:
        log.info("speaker database: synthesizing %d utterance(s) for %d speaker(s)",
                 len(todo), len({s.speaker for s, _, _ in todo}))  # fmt: skip
        failures = _synthesize_all(todo, cfg, commands, progress)
    if failures:
        log.warning("speaker database: %d utterance(s) failed:\n  %s", len(failures),
                    "\n  ".join(failures[:20]))  # fmt: skip
    info = {
        "voices": [
            {"speaker": v.speaker, "engine": v.engine, "voice": v.voice, "variant": v.variant,
             "shift_semitones": v.shift, "formant_warp": v.warp, "split": v.split or "hash"}
            for v in voices
        ],
        "missing_engines": missing,
        "failures": failures,
    }  # fmt: skip
    write_json(root / SYNTHETIC_INFO, info)
    wanted = {v.speaker for v in voices}
    fixed = {v.speaker: v.split for v in voices if v.split}
    # festival voices are dev; the others go to train or test by hash (never dev)
    for v in voices:
        if v.split is None:
            s = split_of(v.speaker, 0.0, cfg.test_fraction, cfg.db_seed)
            fixed[v.speaker] = s
    db = build_manifest(root, cfg.db_name, cfg, layout="folders", fixed_splits=fixed)
    stray = [s for s in db.speakers() if s not in wanted]
    if stray:
        log.info("speaker database: %d speaker folder(s) not in the current settings are kept: %s",
                 len(stray), ", ".join(stray[:10]))  # fmt: skip
    log.info("%s\n  (%.1f s)", db, time.perf_counter() - started)
    return db


def _synthesize_all(
    todo: list[tuple[VoiceSpec, str, Path]],
    cfg: SpeakerConfig,
    commands: dict[str, str],
    progress: bool,
) -> list[str]:
    """Synthesize, trim, shift, resample and write every (voice, text, out) in ``todo``."""
    failures: list[str] = []

    def finish(spec: VoiceSpec, text: str, out: Path, wav: Path) -> None:
        try:
            x, sr = audio.read_audio(wav)
        except AudioError as exc:
            failures.append(f"{spec.speaker} {text[:30]!r}: {exc}")
            return
        x = corpus.trim_silence(x, sr)
        if len(x) < 0.2 * sr:
            failures.append(f"{spec.speaker} {text[:30]!r}: silent after trimming")
            return
        x = audio.resample(x, sr, cfg.sample_rate)
        x = shift_audio(x, cfg.sample_rate, spec.shift)
        x = warp_audio(x, cfg.sample_rate, spec, cfg.formant_warp)
        audio.write_wav(out, audio.match_loudness(x, -23.0).clip(-1, 1), cfg.sample_rate)

    def clip_spec(spec: VoiceSpec, text: str, rate: float) -> corpus.ClipSpec:
        return corpus.ClipSpec("negative", "speaker", text, spec.engine, spec.voice,
                               spec.variant, rate,
                               50.0 if spec.engine in ("espeak", "mbrola") else None,
                               "dev" if spec.engine == "festival" else "train")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="heyjoe-speakers-") as tmp_name:
        tmp = Path(tmp_name)

        def one(item: tuple[VoiceSpec, str, Path]) -> None:
            spec, text, out = item
            rate = _speaking_rate(spec) if spec.engine in ("espeak", "mbrola") else 1.0
            wav = tmp / f"{out.parent.name}-{out.name}"
            try:
                corpus._synthesize(clip_spec(spec, text, rate), commands[spec.engine], wav)
                finish(spec, text, out, wav)
            except (AudioError, HeyJoeError, subprocess.TimeoutExpired, OSError) as exc:
                failures.append(f"{spec.speaker} {text[:30]!r}: {exc}")
            finally:
                wav.unlink(missing_ok=True)

        def festival(items: list[tuple[VoiceSpec, str, Path]]) -> None:
            specs = [clip_spec(s, t, 1.0) for s, t, _ in items]
            unique = list({s.name: s for s in specs}.values())  # shifts share a base clip
            try:
                outs = corpus._festival_batch(unique, commands["festival"], tmp)
            except (subprocess.TimeoutExpired, OSError) as exc:
                outs = {s.name: f"festival failed ({exc})" for s in unique}
            for (spec, text, out), cs in zip(items, specs, strict=True):
                wav = outs[cs.name]
                if isinstance(wav, str):
                    failures.append(f"{spec.speaker} {text[:30]!r}: {wav}")
                else:
                    finish(spec, text, out, wav)
            for wav in outs.values():
                if not isinstance(wav, str):
                    wav.unlink(missing_ok=True)

        groups: dict[str, list[tuple[VoiceSpec, str, Path]]] = {}
        tasks = []
        for item in todo:
            if item[0].engine == "festival":
                groups.setdefault(item[0].voice, []).append(item)
            else:
                tasks.append((one, item))
        for items in groups.values():
            for i in range(0, len(items), corpus.FESTIVAL_BATCH):
                tasks.insert(0, (festival, items[i : i + corpus.FESTIVAL_BATCH]))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), desc="speakers", unit="task")
        with ThreadPoolExecutor(max_workers=cfg.tts_workers) as pool:
            for _ in pool.map(lambda t: t[0](t[1]), tasks):
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    return failures


def speaker_counts(db: SpeakerDatabase) -> dict[str, int]:
    """Utterances per speaker."""
    return dict(Counter(u.speaker for u in db.utterances))
