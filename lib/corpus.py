"""The raw corpus, bootstrapped from local text-to-speech.

:func:`bootstrap_corpus` fills ``paths.raw_dir()`` (``data/raw/``) with

- ``activates/``   the trigger phrase spoken by many voices, variants, rates and pitches;
- ``negatives/``   confusable phrases ("hey joey", "okay joe"), ordinary words and sentences,
  and command-like phrases;
- ``backgrounds/`` generated noise (white, pink, brown), babble (overlapped TTS sentences),
  synthetic music and room hum, plus any recordings the user drops in;
- ``manifest.csv`` one row per clip (see :class:`ClipRecord`).

Engines run as subprocesses: espeak-ng and flite voices make training clips (split
``train``); festival voices are held out for the dev split; MBROLA (diphone voices, through
espeak-ng) and SVOX Pico voices, the default ``test_engines``, for the test split (see
:func:`split_of_engine`). TTS clips are trimmed of leading and trailing silence and stored at
the engine's own sample rate as 16-bit WAV (synthesis resamples later).

Clip file names are a stable hash of what the clip is (kind, engine, voice, variant, rate,
pitch, text), so a second run reuses every file that exists, an interrupted run loses
nothing (each file is written atomically), and the ``quick`` profile's clips are a subset
of the ``full`` profile's whenever its lists are sub-lists of the full ones.

Units in the manifest: ``rate`` is words per minute for espeak-ng and MBROLA and a speed
factor (1 = normal, 1.25 = 25 % faster) for flite, Pico and festival; ``pitch`` is espeak-ng's
0-99 pitch for espeak-ng and MBROLA, the mean f0 in Hz for flite, a factor of the voice's own
pitch for Pico (1 = own) and empty for festival.

Audio dropped by the user into any of the three folders is listed with engine ``user``;
:func:`import_clips` copies a folder of recordings in, converting them to WAV.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import logging
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from lib import audio, paths, system
from lib.errors import AudioError, ConfigError, DatasetError, HeyJoeError
from lib.files import write_text

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("activate", "negative", "background")
#: kind → its folder under the raw directory.
KIND_DIRS: dict[str, str] = {
    "activate": "activates",
    "negative": "negatives",
    "background": "backgrounds",
}
SPLITS: tuple[str, ...] = ("train", "dev", "test")
ENGINES: tuple[str, ...] = ("espeak", "flite", "festival", "mbrola", "pico")
#: engines whose sentences make the babble backgrounds (fixed, so adding voices of other
#: engines leaves every background, and so every dataset's backgrounds, as it was).
BABBLE_ENGINES: tuple[str, ...] = ("espeak", "flite")
BACKGROUND_TYPES: tuple[str, ...] = ("white", "pink", "brown", "babble", "music", "hum")
MANIFEST_NAME = "manifest.csv"
#: clips that came out silent or empty once; they are not tried again (delete the file to retry).
REJECTED_NAME = "rejected.csv"
MANIFEST_COLUMNS: tuple[str, ...] = (
    "path",
    "kind",
    "category",
    "text",
    "engine",
    "voice",
    "variant",
    "rate",
    "pitch",
    "split",
    "sample_rate",
    "duration_seconds",
)
#: names this module gives the files it generates; anything else in the folders is the user's.
GENERATED_NAME = re.compile(r"^(?:espeak|flite|festival|mbrola|pico|gen)-[0-9a-f]{16}\.wav$")
#: part of every generated background's name: bump it when the generators change.
BACKGROUND_VERSION = "bg1"
#: clips per festival process (it loads the voice once per process).
FESTIVAL_BATCH = 40
TTS_TIMEOUT_SECONDS = 120
#: frames below this level (dBFS) always count as silence when trimming.
TRIM_FLOOR_DBFS = -70.0


# ---------------------------------------------------------------------------- configuration


@dataclass
class CorpusConfig:
    """Settings of the corpus bootstrap (``configs/corpus.yaml``; units in its comments)."""

    trigger_phrase: str
    confusable_phrases: list[str]
    negative_phrases: list[str]
    command_phrases: list[str]
    espeak_command: str
    espeak_voices: list[str]
    espeak_variants: list[str]
    espeak_rates: list[int]
    espeak_pitches: list[int]
    espeak_negative_variants: list[str]
    espeak_negative_rates: list[int]
    espeak_negative_pitches: list[int]
    flite_command: str
    flite_voices: list[str]
    flite_rates: list[float]
    flite_pitches: list[float]
    flite_negative_pitches: list[float]
    festival_command: str
    festival_voices: list[str]
    festival_rates: list[float]
    mbrola_voices: list[str]
    mbrola_rates: list[int]
    mbrola_pitches: list[int]
    mbrola_negative_rates: list[int]
    mbrola_negative_pitches: list[int]
    pico_command: str
    pico_voices: list[str]
    pico_rates: list[float]
    pico_pitches: list[float]
    pico_negative_pitches: list[float]
    test_engines: list[str]
    skip_missing_engines: bool
    tts_workers: int
    trim_threshold_db: float
    trim_pad_seconds: float
    min_clip_seconds: float
    bg_types: list[str]
    bg_per_type: int
    bg_seconds: float
    bg_sample_rate: int
    bg_dbfs: tuple[float, float]
    bg_hum_dbfs: float
    bg_babble_talkers: int
    bg_dev_every: int
    corpus_seed: int

    def __post_init__(self) -> None:
        phrases = {
            "trigger_phrase": [self.trigger_phrase],
            "confusable_phrases": self.confusable_phrases,
            "negative_phrases": self.negative_phrases,
            "command_phrases": self.command_phrases,
        }
        for name, items in phrases.items():
            for text in items:
                _check_phrase(name, text)
        trigger = normalise_text(self.trigger_phrase)
        for name in ("confusable_phrases", "negative_phrases", "command_phrases"):
            if any(normalise_text(t) == trigger for t in phrases[name]):
                raise ConfigError(
                    f"parameter {name!r} contains the trigger phrase {self.trigger_phrase!r}; "
                    "a negative must not be the trigger itself"
                )
        for name in ("espeak_rates", "espeak_negative_rates", "mbrola_rates",
                     "mbrola_negative_rates"):  # fmt: skip
            _check_range(name, getattr(self, name), 80, 450, "words per minute")
        for name in ("espeak_pitches", "espeak_negative_pitches", "mbrola_pitches",
                     "mbrola_negative_pitches"):  # fmt: skip
            _check_range(name, getattr(self, name), 0, 99, "espeak pitch")
        for name in ("flite_rates", "festival_rates", "pico_rates"):
            _check_range(name, getattr(self, name), 0.25, 4.0, "speed factor")
        for name in ("pico_pitches", "pico_negative_pitches"):
            _check_range(name, getattr(self, name), 0.5, 2.0, "factor of the voice's own pitch")
        for name in ("mbrola_rates", "mbrola_pitches", "mbrola_negative_rates",
                     "mbrola_negative_pitches", "pico_rates", "pico_pitches",
                     "pico_negative_pitches"):  # fmt: skip
            if getattr(self, name) == [] and getattr(self, name.split("_")[0] + "_voices"):
                raise ConfigError(f"parameter {name!r} must list at least one value")
        for name in ("flite_pitches", "flite_negative_pitches"):
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"parameter {name!r} must list at least one pitch (0 = own)")
            _check_range(name, [v for v in values if v != 0], 50, 400, "Hz, or 0 for own")
        for name in ("espeak_variants", "espeak_negative_variants"):
            for v in getattr(self, name):
                if v.startswith("+") or not re.fullmatch(r"[A-Za-z0-9_-]*", v):
                    raise ConfigError(
                        f"parameter {name!r}: variant {v!r} must be a bare espeak-ng variant "
                        "name such as 'm3' or 'f2' (no '+'), or '' for the plain voice"
                    )
        for name in ("espeak_voices", "flite_voices", "festival_voices", "mbrola_voices",
                     "pico_voices"):  # fmt: skip
            for v in getattr(self, name):
                if not v or v.startswith("-") or any(c.isspace() or c in "\"'()" for c in v):
                    raise ConfigError(f"parameter {name!r}: {v!r} is not a voice name")
        wrong = sorted(set(self.test_engines) - {"espeak", "flite", "mbrola", "pico"})
        if wrong:
            raise ConfigError(
                f"parameter 'test_engines': {', '.join(wrong)} cannot be held out; name some "
                "of espeak, flite, mbrola, pico (festival is the dev split)"
            )
        unknown = sorted(set(self.bg_types) - set(BACKGROUND_TYPES))
        if unknown:
            raise ConfigError(
                f"parameter 'bg_types': unknown type(s) {', '.join(unknown)}; "
                f"types are: {', '.join(BACKGROUND_TYPES)}"
            )
        positive = {
            "tts_workers": self.tts_workers,
            "bg_seconds": self.bg_seconds,
            "bg_sample_rate": self.bg_sample_rate,
            "bg_babble_talkers": self.bg_babble_talkers,
            "bg_dev_every": self.bg_dev_every,
            "min_clip_seconds": self.min_clip_seconds,
            "trim_threshold_db": self.trim_threshold_db,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"parameter {name!r} must be > 0, got {value!r}")
        if self.tts_workers > 16:
            raise ConfigError(f"parameter 'tts_workers' must be at most 16, got {self.tts_workers}")
        if self.bg_per_type < 0 or self.trim_pad_seconds < 0:
            raise ConfigError("parameters 'bg_per_type' and 'trim_pad_seconds' must be >= 0")
        if self.bg_sample_rate < 8000:
            raise ConfigError(
                f"parameter 'bg_sample_rate' must be >= 8000 Hz, got {self.bg_sample_rate}"
            )
        lo, hi = self.bg_dbfs
        if not -90.0 <= lo <= hi <= 0.0:
            raise ConfigError(
                f"parameter 'bg_dbfs' must be [low, high] with -90 <= low <= high <= 0 dBFS, "
                f"got {list(self.bg_dbfs)}"
            )
        if not -90.0 <= self.bg_hum_dbfs <= 0.0:
            raise ConfigError(
                f"parameter 'bg_hum_dbfs' must be in [-90, 0] dBFS, got {self.bg_hum_dbfs}"
            )


def normalise_text(text: str) -> str:
    """Lower case, punctuation (but apostrophes) as spaces, single spaces: how phrases compare."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def _check_phrase(name: str, text: str) -> None:
    if not text.strip() or not re.search(r"[A-Za-z]", text):
        raise ConfigError(f"parameter {name!r}: phrase {text!r} has no words")
    if text.lstrip().startswith("-") or "\n" in text or "\r" in text:
        raise ConfigError(
            f"parameter {name!r}: phrase {text!r} must be one line not starting with '-'"
        )


def _check_range(name: str, values: list, lo: float, hi: float, unit: str) -> None:
    for v in values:
        if not lo <= v <= hi:
            raise ConfigError(f"parameter {name!r}: {v!r} is outside [{lo:g}, {hi:g}] ({unit})")


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ClipRecord:
    """One row of ``manifest.csv``.

    ``path`` is relative to the raw directory (POSIX separators). ``rate``: espeak-ng/MBROLA
    words per minute, or the flite/Pico/festival speed factor; ``pitch``: espeak-ng/MBROLA
    pitch 0-99, the flite mean f0 in Hz, or the Pico factor of the voice's own pitch. Both are
    ``None`` where they do not apply (user recordings, backgrounds, festival pitch, a flite
    voice at its own pitch).
    """

    path: str
    kind: str
    category: str
    text: str
    engine: str
    voice: str
    variant: str
    rate: float | None
    pitch: float | None
    split: str
    sample_rate: int
    duration_seconds: float

    def full_path(self, raw_dir: Path | None = None) -> Path:
        """The clip's file on disk."""
        return (raw_dir or paths.raw_dir()) / self.path


@dataclass(frozen=True)
class ClipSpec:
    """One TTS clip the configuration asks for (before it exists)."""

    kind: str
    category: str
    text: str
    engine: str
    voice: str
    variant: str
    rate: float
    pitch: float | None
    split: str

    @property
    def name(self) -> str:
        key = "|".join(
            [self.kind, self.engine, self.voice, self.variant, _fmt(self.rate), _fmt(self.pitch),
             self.text]
        )  # fmt: skip
        return f"{self.engine}-{_digest(key)}.wav"

    @property
    def path(self) -> str:
        return f"{KIND_DIRS[self.kind]}/{self.name}"


@dataclass(frozen=True)
class BackgroundSpec:
    """One generated background: its type, its index within the type and its split."""

    type: str
    index: int
    split: str
    key: str  # everything the audio depends on
    talkers: tuple[tuple[ClipSpec, ...], ...] = ()  # babble only: the sentences of each talker

    @property
    def name(self) -> str:
        return f"gen-{_digest(self.key)}.wav"

    @property
    def path(self) -> str:
        return f"{KIND_DIRS['background']}/{self.name}"


@dataclass
class CorpusSummary:
    """What :func:`bootstrap_corpus` did."""

    raw_dir: Path
    manifest: Path
    clips: int
    by_kind: dict[str, int]
    by_split: dict[str, int]
    by_engine: dict[str, int]
    seconds_by_kind: dict[str, float]
    generated: int
    reused: int
    failures: list[str] = field(default_factory=list)
    rejected_voices: list[str] = field(default_factory=list)
    skipped_engines: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def rows(self) -> list[dict]:
        """One row per kind: clips and minutes (for a notebook table)."""
        return [
            {"kind": k, "clips": n, "minutes": round(self.seconds_by_kind.get(k, 0.0) / 60, 2)}
            for k, n in self.by_kind.items()
        ]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["raw_dir"], d["manifest"] = str(self.raw_dir), str(self.manifest)
        return d

    def __str__(self) -> str:
        def counts(d: dict) -> str:
            return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"

        lines = [
            f"corpus in {self.raw_dir}: {self.clips} clips "
            f"({self.generated} generated, {self.reused} reused) in {self.elapsed_seconds:.1f} s",
            f"  kinds:   {counts(self.by_kind)}",
            f"  splits:  {counts(self.by_split)}",
            f"  engines: {counts(self.by_engine)}",
            "  audio:   "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in self.seconds_by_kind.items()),
        ]
        if self.skipped_engines:
            lines.append(f"  skipped engines (not installed): {', '.join(self.skipped_engines)}")
        if self.rejected_voices:
            lines.append(f"  voices the engines rejected: {', '.join(self.rejected_voices)}")
        if self.failures:
            lines.append(f"  {len(self.failures)} failure(s):")
            lines += [f"    {f}" for f in self.failures[:20]]
            if len(self.failures) > 20:
                lines.append(f"    ... and {len(self.failures) - 20} more")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------- manifest


def manifest_path(raw_dir: Path | None = None) -> Path:
    return (raw_dir or paths.raw_dir()) / MANIFEST_NAME


def _row(rec: ClipRecord) -> list[str]:
    return [
        rec.path, rec.kind, rec.category, rec.text, rec.engine, rec.voice, rec.variant,
        _fmt(rec.rate), _fmt(rec.pitch), rec.split, str(rec.sample_rate),
        f"{rec.duration_seconds:.4f}",
    ]  # fmt: skip


def write_manifest(records: Iterable[ClipRecord], raw_dir: Path | None = None) -> Path:
    """Write ``manifest.csv`` atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(_row(r) for r in records)
    return write_text(manifest_path(raw_dir), buf.getvalue())


def load_manifest(raw_dir: Path | None = None) -> list[ClipRecord]:
    """Read ``manifest.csv``; if missing or malformed, DatasetError names the file and line."""
    path = manifest_path(raw_dir)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no corpus manifest; make the corpus first with `heyjoe bootstrap` "
            "(lib.corpus.bootstrap_corpus)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the corpus manifest ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(f"{path}:1: the manifest is empty (no header line)") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}:1: not valid CSV ({exc})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise DatasetError(f"{path}:1: the header lacks column(s) {', '.join(missing)}")
    col = {c: header.index(c) for c in MANIFEST_COLUMNS}
    records: list[ClipRecord] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetError(
                    f"{path}:{line}: has {len(row)} fields, the header has {len(header)}"
                )
            records.append(_parse_row({c: row[i] for c, i in col.items()}, f"{path}:{line}"))
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return records


def _parse_row(v: dict[str, str], where: str) -> ClipRecord:
    def number(name: str, cast: Callable, optional: bool = False):
        text = v[name].strip()
        if optional and text == "":
            return None
        try:
            value = cast(text)
        except ValueError:
            raise DatasetError(f"{where}: column {name!r} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise DatasetError(f"{where}: column {name!r} must be finite, got {text!r}")
        return value

    if not v["path"].strip():
        raise DatasetError(f"{where}: column 'path' is empty")
    if v["kind"] not in KINDS:
        raise DatasetError(
            f"{where}: column 'kind' must be one of {', '.join(KINDS)}, got {v['kind']!r}"
        )
    if v["split"] not in SPLITS:
        raise DatasetError(f"{where}: column 'split' must be train or dev, got {v['split']!r}")
    sample_rate = number("sample_rate", int)
    duration = number("duration_seconds", float)
    if sample_rate <= 0 or duration <= 0:
        raise DatasetError(f"{where}: 'sample_rate' and 'duration_seconds' must be > 0")
    return ClipRecord(
        path=v["path"], kind=v["kind"], category=v["category"], text=v["text"],
        engine=v["engine"], voice=v["voice"], variant=v["variant"],
        rate=number("rate", float, optional=True), pitch=number("pitch", float, optional=True),
        split=v["split"], sample_rate=sample_rate, duration_seconds=duration,
    )  # fmt: skip


def _load_rejected(raw_dir: Path) -> dict[str, str]:
    path = raw_dir / REJECTED_NAME
    if not path.is_file():
        return {}
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return {r[0]: r[1] for r in rows[1:] if len(r) == 2}


def _write_rejected(raw_dir: Path, rejected: dict[str, str]) -> None:
    path = raw_dir / REJECTED_NAME
    if not rejected:
        if path.exists():
            path.unlink()
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows(sorted(rejected.items()))
    write_text(path, buf.getvalue())


# ---------------------------------------------------------------------------- engines


def _engine_commands(cfg: CorpusConfig) -> dict[str, str]:
    """engine → command, for the engines the configuration uses (a non-empty voice list)."""
    used = {
        "espeak": (cfg.espeak_voices, cfg.espeak_command),
        "flite": (cfg.flite_voices, cfg.flite_command),
        "festival": (cfg.festival_voices, cfg.festival_command),
        "mbrola": (cfg.mbrola_voices, cfg.espeak_command),  # espeak-ng drives MBROLA
        "pico": (cfg.pico_voices, cfg.pico_command),
    }
    return {engine: cmd for engine, (voices, cmd) in used.items() if voices}


#: programs an engine needs besides its own command (espeak-ng speaks MBROLA voices through
#: the ``mbrola`` program)
ENGINE_HELPERS: dict[str, tuple[str, ...]] = {"mbrola": ("mbrola",)}


def engine_programs(engine: str, command: str) -> tuple[str, ...]:
    """The programs ``engine`` needs: its ``command`` and its :data:`ENGINE_HELPERS`."""
    return (command, *ENGINE_HELPERS.get(engine, ()))


def _engine_needs(cfg: CorpusConfig) -> dict[str, tuple[str, ...]]:
    """engine → (its command, the programs it needs too), for the engines the configuration
    uses."""
    return {e: engine_programs(e, cmd) for e, cmd in _engine_commands(cfg).items()}


def _install_hint(engines: Iterable[str], festival_voices: Iterable[str] = ()) -> str:
    """The apt command for engines (and festival voices), from :data:`lib.system.TOOLS`."""
    commands = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival",
                "mbrola": "mbrola", "pico": "pico2wave"}  # fmt: skip
    wanted = {commands[e] for e in engines} | {f"festival voice {v}" for v in festival_voices}
    for engine in ("festival", "mbrola"):
        if commands[engine] in wanted:
            wanted |= {t for t in system.TOOLS if t.startswith(f"{engine} voice ")}
    return system.install_hint([t for t in system.TOOLS if t in wanted])


def check_engines(cfg: CorpusConfig) -> list[str]:
    """The programs the configured TTS engines need that are not installed (empty if all are):
    their commands and :data:`ENGINE_HELPERS` (MBROLA voices need espeak-ng and ``mbrola``)."""
    needed = dict.fromkeys(c for cmds in _engine_needs(cfg).values() for c in cmds)
    return [cmd for cmd in needed if shutil.which(cmd) is None]


def _available_engines(cfg: CorpusConfig) -> tuple[dict[str, str], list[str]]:
    """(engine → command for the usable engines, the missing programs). Raises if not allowed."""
    needs = _engine_needs(cfg)
    missing = check_engines(cfg)
    lacking = [e for e, cmds in needs.items() if any(c in missing for c in cmds)]
    if missing:
        hint = _install_hint(lacking)
        if not cfg.skip_missing_engines:
            raise HeyJoeError(
                f"the corpus needs the text-to-speech command(s) {', '.join(missing)}, "
                f"which are not installed (or not on PATH). {hint}\n"
                "Or set skip_missing_engines: true in configs/corpus.yaml to build the corpus "
                "from the engines that are installed."
            )
        log.warning("skipping TTS engine(s) not installed: %s. %s", ", ".join(missing), hint)
    return {e: cmds[0] for e, cmds in needs.items() if e not in lacking}, missing


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=TTS_TIMEOUT_SECONDS
    )


def _espeak_names(command: str) -> tuple[set[str], set[str]]:
    """(voice names, variant names) espeak-ng knows."""

    def table(arg: str) -> list[list[str]]:
        out = _run([command, arg]).stdout.splitlines()[1:]
        return [line.split() for line in out if len(line.split()) >= 5]

    voices: set[str] = set()
    for cols in table("--voices"):
        voices.update({cols[1], cols[3], cols[4].rsplit("/", 1)[-1]})
    variants = {cols[4].rsplit("/", 1)[-1] for cols in table("--voices=variant")}
    variants |= {cols[3] for cols in table("--voices=variant")}
    return voices, variants


def _flite_names(command: str) -> set[str]:
    out = _run([command, "-lv"]).stdout
    return set(out.split(":", 1)[-1].split()) if ":" in out else set()


def _festival_names(command: str) -> set[str]:
    with tempfile.TemporaryDirectory(prefix="heyjoe-festival-") as tmp:
        script = Path(tmp) / "voices.scm"
        script.write_text("(print (voice.list))\n")
        out = _run([command, "-b", str(script)]).stdout
    match = re.search(r"\(([^()]*)\)", out)
    return set(match.group(1).split()) if match else set()


def _rejected_voices(cfg: CorpusConfig, engines: dict[str, str]) -> set[tuple[str, str]]:
    """(engine, voice or '+variant') pairs in the configuration that the engine does not know."""
    bad: set[tuple[str, str]] = set()
    if "espeak" in engines:
        voices, variants = _espeak_names(engines["espeak"])
        bad |= {("espeak", v) for v in cfg.espeak_voices if v not in voices}
        wanted = set(cfg.espeak_variants) | set(cfg.espeak_negative_variants)
        bad |= {("espeak", f"+{v}") for v in wanted if v and v not in variants}
    if "flite" in engines:
        known = _flite_names(engines["flite"])
        bad |= {("flite", v) for v in cfg.flite_voices if v not in known and not Path(v).is_file()}
    if "festival" in engines:
        known = _festival_names(engines["festival"])
        bad |= {("festival", v) for v in cfg.festival_voices if v not in known}
    for engine in ("mbrola", "pico"):  # no voice list to ask: a one-word trial per voice
        if engine in engines:
            voices = cfg.mbrola_voices if engine == "mbrola" else cfg.pico_voices
            bad |= {(engine, v) for v in voices if not _speaks(engine, v, engines[engine])}
    return bad


def _speaks(engine: str, voice: str, command: str) -> bool:
    """Whether ``engine`` makes sound with ``voice`` (an MBROLA voice may be listed by espeak-ng
    but not installed; Pico knows a fixed set of languages)."""
    spec = ClipSpec("negative", "trial", "a", engine, voice, "", 175.0 if engine == "mbrola"
                    else 1.0, 50.0 if engine == "mbrola" else None, "train")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="heyjoe-voice-") as tmp:
        out = Path(tmp) / "trial.wav"
        try:
            _synthesize(spec, command, out)
        except (AudioError, OSError, subprocess.TimeoutExpired):
            return False
        return out.stat().st_size > 44


def _pico_markup(text: str, rate: float, pitch: float | None) -> str:
    """Pico's text with its speed and pitch tags (levels in percent; 100 = the voice's own)."""
    text = text.replace("<", " ").replace(">", " ")
    if pitch is not None and pitch != 1.0:
        text = f"<pitch level='{round(100 * pitch)}'>{text}</pitch>"
    if rate != 1.0:  # Pico's speed level is the duration's inverse: 50 = twice as slow
        text = f"<speed level='{round(100 * rate)}'>{text}</speed>"
    return text


def _synthesize(spec: ClipSpec, command: str, out: Path) -> None:
    """Run espeak-ng (also for MBROLA voices), flite or Pico for one clip, writing ``out``.
    Raises AudioError on failure."""
    if spec.engine in ("espeak", "mbrola"):
        voice = f"{spec.voice}+{spec.variant}" if spec.variant else spec.voice
        cmd = [command, "-v", voice, "-s", _fmt(spec.rate), "-p", _fmt(spec.pitch),
               "-w", str(out), "--stdin"]  # fmt: skip
        done = _run(cmd, stdin=spec.text)
    elif spec.engine == "flite":
        stretch = f"duration_stretch={1.0 / spec.rate:.4f}"
        cmd = [command, "-voice", spec.voice, "--setf", stretch]
        if spec.pitch is not None:  # the voice's mean f0 (Hz); its own when not set
            cmd += ["--setf", f"int_f0_target_mean={_fmt(spec.pitch)}"]
        cmd += ["-t", spec.text, "-o", str(out)]
        done = _run(cmd)
    elif spec.engine == "pico":  # pico2wave wants a file name ending in .wav
        cmd = [command, "-l", spec.voice, "-w", str(out), "--",
               _pico_markup(spec.text, spec.rate, spec.pitch)]  # fmt: skip
        done = _run(cmd)
    else:
        raise ValueError(f"engine {spec.engine!r} is synthesized in batches")
    if done.returncode != 0 or not out.is_file():
        err = (done.stderr or done.stdout).strip().splitlines()
        raise AudioError(f"{spec.engine} failed ({err[-1] if err else f'exit {done.returncode}'})")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival_batch(specs: list[ClipSpec], command: str, tmp: Path) -> dict[str, Path | str]:
    """Synthesize clips of one festival voice in one process → name → wav path or error.

    Speed: diphone voices follow ``Duration_Stretch``, HTS voices the engine's ``-r`` rate.
    """
    lines = [
        "(defvar hts_engine_params nil)",
        f"(voice_{specs[0].voice})",
        "(set! heyjoe_hts_params hts_engine_params)",
    ]
    outs: dict[str, Path] = {}
    for spec in specs:
        out = tmp / f"fest-{spec.name}"
        outs[spec.name] = out
        lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / spec.rate:.4f})")
        lines.append(
            "(if heyjoe_hts_params (set! hts_engine_params "
            f'(append heyjoe_hts_params (list (list "-r" {spec.rate:.4f})))))'
        )
        lines.append(
            f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(spec.text)})) "
            f"{_scheme_string(str(out))} 'riff)"
        )
    script = tmp / f"batch-{specs[0].name}.scm"
    script.write_text("\n".join(lines) + "\n")
    done = _run([command, "-b", str(script)])
    err = [ln for ln in (done.stderr + done.stdout).splitlines() if "error" in ln.lower()]
    why = f"festival failed ({err[-1].strip() if err else f'exit {done.returncode}'})"
    return {name: (out if out.is_file() else why) for name, out in outs.items()}


# ---------------------------------------------------------------------------- planning


def _grid(
    cfg: CorpusConfig, engine: str, activate: bool
) -> tuple[list[str], list[str], list[tuple[float, float | None]]]:
    """(voices, variants, (rate, pitch) pairs) an engine speaks an activate or negative with."""
    if engine == "espeak":
        variants = cfg.espeak_variants if activate else cfg.espeak_negative_variants
        rates = cfg.espeak_rates if activate else cfg.espeak_negative_rates
        pitches = cfg.espeak_pitches if activate else cfg.espeak_negative_pitches
        return cfg.espeak_voices, variants, [(float(r), float(p)) for r in rates for p in pitches]
    if engine == "flite":
        rates = cfg.flite_rates if activate else [1.0]
        pitches = [
            float(p) if p else None
            for p in (cfg.flite_pitches if activate else cfg.flite_negative_pitches)
        ]
        return cfg.flite_voices, [""], [(float(r), p) for r in rates for p in pitches]
    if engine == "mbrola":  # no espeak-ng variants: the MBROLA voice is the voice
        rates = cfg.mbrola_rates if activate else cfg.mbrola_negative_rates
        pitches = cfg.mbrola_pitches if activate else cfg.mbrola_negative_pitches
        return cfg.mbrola_voices, [""], [(float(r), float(p)) for r in rates for p in pitches]
    if engine == "pico":
        rates = cfg.pico_rates if activate else [1.0]
        pitches = [
            None if p == 1.0 else float(p)
            for p in (cfg.pico_pitches if activate else cfg.pico_negative_pitches)
        ]
        return cfg.pico_voices, [""], [(float(r), p) for r in rates for p in pitches]
    rates = cfg.festival_rates if activate else [1.0]
    return cfg.festival_voices, [""], [(float(r), None) for r in rates]


def split_of_engine(cfg: CorpusConfig, engine: str) -> str:
    """``dev`` for festival, ``test`` for the ``test_engines`` (voices neither training nor
    the dev set hear: how a model does on voices unlike any it was tuned on), else ``train``."""
    if engine == "festival":
        return "dev"
    return "test" if engine in cfg.test_engines else "train"


def plan_clips(cfg: CorpusConfig, engines: Iterable[str] = ENGINES) -> list[ClipSpec]:
    """Every TTS clip the configuration asks for, in a fixed order (nothing is synthesized).

    Activates: the trigger phrase × espeak voices × variants × rates × pitches, × flite
    voices × rates × pitches, × festival voices × rates, × MBROLA voices × rates × pitches and
    × Pico voices × rates × pitches. Negatives (confusable, ordinary and command phrases):
    × espeak voices × negative variants × negative rates × negative pitches, × flite voices ×
    negative pitches at normal speed, × festival voices at normal speed, × MBROLA voices ×
    negative rates × negative pitches and × Pico voices × negative pitches at normal speed.
    Festival clips are the dev split, the ``test_engines``' clips the test split.
    """
    phrases = [
        ("activate", "trigger", cfg.trigger_phrase),
        *(("negative", "confusable", t) for t in cfg.confusable_phrases),
        *(("negative", "phrase", t) for t in cfg.negative_phrases),
        *(("negative", "command", t) for t in cfg.command_phrases),
    ]
    engines = [e for e in ENGINES if e in set(engines)]
    specs: dict[str, ClipSpec] = {}  # by name: a phrase listed twice is made once
    for kind, category, text in phrases:
        for engine in engines:
            split = split_of_engine(cfg, engine)
            voices, variants, speeds = _grid(cfg, engine, kind == "activate")
            for voice, variant, (rate, pitch) in itertools.product(voices, variants, speeds):
                spec = ClipSpec(kind, category, text, engine, voice, variant, rate, pitch, split)
                specs.setdefault(spec.name, spec)
    return list(specs.values())


_TYPE_IDS = {t: i for i, t in enumerate(BACKGROUND_TYPES)}


def _bg_rng(cfg: CorpusConfig, bg_type: str, index: int, stream: int) -> np.random.Generator:
    """The generator for one background: independent of how many others there are."""
    return np.random.default_rng(
        np.random.SeedSequence([cfg.corpus_seed, _TYPE_IDS[bg_type], index, stream])
    )


def babble_pool(clips: Iterable[ClipSpec]) -> list[ClipSpec]:
    """The sentences babble draws from: training-split phrases and commands of
    :data:`BABBLE_ENGINES`' voices."""
    return [
        s
        for s in clips
        if s.category in ("phrase", "command") and s.split == "train"
        and s.engine in BABBLE_ENGINES
    ]  # fmt: skip


def plan_backgrounds(cfg: CorpusConfig, talker_pool: list[ClipSpec]) -> list[BackgroundSpec]:
    """The generated backgrounds, index-major (white 0, pink 0, ..., white 1, ...).

    Every ``bg_dev_every``-th background in that order is the dev split. Babble needs
    ``talker_pool`` (training-voice sentences to draw from); without it babble is left out.
    """
    specs: list[BackgroundSpec] = []
    position = 0
    for index in range(cfg.bg_per_type):
        for bg_type in cfg.bg_types:
            talkers: tuple[tuple[ClipSpec, ...], ...] = ()
            if bg_type == "babble":
                if not talker_pool:
                    continue
                rng = _bg_rng(cfg, bg_type, index, 0)
                per_talker = int(math.ceil(cfg.bg_seconds / 1.2)) + 1
                talkers = tuple(
                    tuple(talker_pool[i] for i in rng.integers(len(talker_pool), size=per_talker))
                    for _ in range(cfg.bg_babble_talkers)
                )
            key = "|".join(
                [BACKGROUND_VERSION, bg_type, str(index), str(cfg.corpus_seed),
                 f"{cfg.bg_seconds:g}", str(cfg.bg_sample_rate),
                 f"{cfg.bg_dbfs[0]:g},{cfg.bg_dbfs[1]:g}", f"{cfg.bg_hum_dbfs:g}",
                 *(s.name for t in talkers for s in t)]
            )  # fmt: skip
            split = "dev" if (position + 1) % cfg.bg_dev_every == 0 else "train"
            specs.append(BackgroundSpec(bg_type, index, split, key, talkers))
            position += 1
    return specs


# ---------------------------------------------------------------------------- audio helpers


def trim_silence(
    x: np.ndarray, sample_rate: int, threshold_db: float = 40.0, pad_seconds: float = 0.02
) -> np.ndarray:
    """Cut leading and trailing silence: 10 ms frames quieter than the loudest frame by more
    than ``threshold_db`` (or below -70 dBFS) are silence; ``pad_seconds`` is kept either side.
    Returns an empty array if nothing is above the threshold."""
    x = np.asarray(x, dtype=np.float32)
    frame = max(1, sample_rate // 100)
    n_frames = int(math.ceil(len(x) / frame))
    if n_frames == 0:
        return x[:0]
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[: len(x)] = x
    energy = np.mean(padded.reshape(n_frames, frame) ** 2, axis=1)
    level = 10 * np.log10(energy + 1e-20)
    loud = np.flatnonzero(level > max(level.max() - threshold_db, TRIM_FLOOR_DBFS))
    if loud.size == 0:
        return x[:0]
    pad = int(round(pad_seconds * sample_rate))
    start = max(0, loud[0] * frame - pad)
    end = min(len(x), (loud[-1] + 1) * frame + pad)
    return x[start:end]


def _check_clip(x: np.ndarray, sample_rate: int, min_seconds: float) -> str | None:
    """Why a trimmed clip is unusable, or None."""
    if len(x) == 0 or float(np.max(np.abs(x))) < audio.SILENCE_PEAK:
        return "silent after trimming"
    if len(x) / sample_rate < min_seconds:
        return f"only {len(x) / sample_rate:.3f} s of sound (< {min_seconds:g} s)"
    return None


def _fft_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    white = rng.standard_normal(n)
    if exponent == 0:
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum *= f ** (-exponent / 2)
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def make_noise(
    rng: np.random.Generator, seconds: float, sample_rate: int, colour: str
) -> np.ndarray:
    """White, pink or brown noise (unit RMS, float32)."""
    exponents = {"white": 0.0, "pink": 1.0, "brown": 2.0}
    if colour not in exponents:
        raise ValueError(f"colour must be one of {', '.join(exponents)}, got {colour!r}")
    x = _fft_noise(rng, int(round(seconds * sample_rate)), exponents[colour])
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def make_hum(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Near-silence of a room: mains hum (50 or 60 Hz and harmonics) over a faint pink floor."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    mains = rng.choice([50.0, 60.0])
    x = np.zeros(n)
    for h in range(1, 6):
        if mains * h < sample_rate / 2:
            amp = rng.uniform(0.2, 1.0) / h
            x += amp * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi))
    floor = _fft_noise(rng, n, 1.0)
    x += floor / (np.sqrt(np.mean(floor**2)) + 1e-12) * np.sqrt(np.mean(x**2)) * 0.3
    return x.astype(np.float32)


_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = {
    "major": [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 0], [5, 3, 0, 4], [0, 3, 0, 4]],
    "minor": [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 3, 6, 4]],
}


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _tone(freq: float, n: int, sample_rate: int, harmonics: np.ndarray) -> np.ndarray:
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    for k, amp in enumerate(harmonics, start=1):
        if freq * k < sample_rate / 2:
            out += amp * np.sin(2 * np.pi * freq * k * t)
    return out


def _add(buf: np.ndarray, start: int, x: np.ndarray) -> None:
    end = min(len(buf), start + len(x))
    if end > start:
        buf[start:end] += x[: end - start]


def make_music(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Synthetic music by additive synthesis: a chord progression (pad), a bass line, a simple
    melody and (usually) drums, at a random tempo and key. Unit peak, float32."""
    n = int(round(seconds * sample_rate))
    bpm = rng.uniform(70, 150)
    beat = int(round(60 / bpm * sample_rate))
    mode = "major" if rng.random() < 0.6 else "minor"
    scale = _MAJOR if mode == "major" else _MINOR
    root = 48 + int(rng.integers(12))
    progression = _PROGRESSIONS[mode][int(rng.integers(len(_PROGRESSIONS[mode])))]
    pad_timbre = rng.uniform(0.1, 1.0, size=4) / np.arange(1, 5)
    lead_timbre = rng.uniform(0.1, 1.0, size=6) / np.arange(1, 7)
    beats_per_chord = int(rng.choice([2, 4]))

    def degree(d: int, octave: int = 0) -> float:
        return root + 12 * (octave + d // 7) + scale[d % 7]

    pad, bass, lead, drums = (np.zeros(n) for _ in range(4))
    chord_len = beat * beats_per_chord
    env_t = np.arange(chord_len) / sample_rate
    attack = np.minimum(1.0, env_t / 0.08) * np.exp(-env_t * rng.uniform(0.2, 1.0))
    for c, start in enumerate(range(0, n, chord_len)):
        d = progression[c % len(progression)]
        for step in (0, 2, 4):
            _add(
                pad,
                start,
                _tone(_hz(degree(d + step)), chord_len, sample_rate, pad_timbre) * attack,
            )
        for b in range(beats_per_chord):
            tb = np.arange(beat) / sample_rate
            note = _tone(_hz(degree(d, -1)), beat, sample_rate, np.array([1.0, 0.3]))
            _add(bass, start + b * beat, note * np.exp(-tb * 6))
    step = beat // int(rng.choice([1, 2]))
    degree_now = int(rng.integers(7))
    for start in range(0, n, step):
        if rng.random() < 0.25:
            continue  # a rest
        degree_now = int(np.clip(degree_now + rng.integers(-2, 3), -3, 10))
        tn = np.arange(step) / sample_rate
        note = _tone(_hz(degree(degree_now, 1)), step, sample_rate, lead_timbre)
        _add(lead, start, note * np.minimum(1.0, tn / 0.01) * np.exp(-tn * rng.uniform(3, 8)))
    if rng.random() < 0.85:
        tk = np.arange(int(0.25 * sample_rate)) / sample_rate
        kick = np.sin(2 * np.pi * np.cumsum(50 + 90 * np.exp(-tk * 30)) / sample_rate)
        kick *= np.exp(-tk * 12)
        ts = np.arange(int(0.18 * sample_rate)) / sample_rate
        half = max(1, beat // 2)
        for i, start in enumerate(range(0, n, half)):
            if i % 4 == 0:
                _add(drums, start, kick)
            if i % 4 == 2:
                snare = rng.standard_normal(len(ts)) * 0.6 + np.sin(2 * np.pi * 190 * ts) * 0.4
                _add(drums, start, snare * np.exp(-ts * 25))
            hat = np.diff(rng.standard_normal(len(ts) // 3 + 1)) * np.exp(-ts[: len(ts) // 3] * 80)
            _add(drums, start, hat * 0.25)
    mix = 0.9 * pad / 3 + 0.7 * bass + 0.8 * lead + 0.6 * drums
    return audio.peak_normalize(mix.astype(np.float32), 1.0)


def _read_trimmed(path: Path, cfg: CorpusConfig) -> tuple[np.ndarray, int]:
    x, sr = audio.read_audio(path)
    return trim_silence(x, sr, cfg.trim_threshold_db, cfg.trim_pad_seconds), sr


def _make_babble(
    spec: BackgroundSpec, cfg: CorpusConfig, sentence: Callable[[ClipSpec], np.ndarray]
) -> np.ndarray:
    """Overlap ``cfg.bg_babble_talkers`` talkers, each a run of sentences with short pauses.

    ``sentence(clip)`` gives one trimmed sentence at the background sample rate.
    """
    n = int(round(cfg.bg_seconds * cfg.bg_sample_rate))
    rng = _bg_rng(cfg, "babble", spec.index, 1)
    mix = np.zeros(n)
    for sentences in spec.talkers:
        parts: list[np.ndarray] = []
        for clip in sentences:
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * cfg.bg_sample_rate), dtype=np.float32)
            parts += [sentence(clip), gap]
        voice = np.concatenate(parts)
        voice = np.tile(voice, int(math.ceil(n / max(1, len(voice)))) + 1)
        offset = int(rng.integers(max(1, len(voice) - n)))
        mix += audio.match_loudness(voice[offset : offset + n], rng.uniform(-26.0, -20.0))
    return mix.astype(np.float32)


def _make_background(
    spec: BackgroundSpec, cfg: CorpusConfig, sentence: Callable[[ClipSpec], np.ndarray]
) -> np.ndarray:
    """One generated background at ``cfg.bg_sample_rate`` (see :func:`_make_babble`)."""
    rng = _bg_rng(cfg, spec.type, spec.index, 2)
    sr, seconds = cfg.bg_sample_rate, cfg.bg_seconds
    if spec.type == "hum":
        return audio.match_loudness(make_hum(rng, seconds, sr), cfg.bg_hum_dbfs)
    if spec.type == "music":
        x = make_music(rng, seconds, sr)
    elif spec.type == "babble":
        x = _make_babble(spec, cfg, sentence)
    else:
        x = make_noise(rng, seconds, sr, spec.type)
    level = rng.uniform(*cfg.bg_dbfs) - (6.0 if spec.type == "babble" else 0.0)
    return np.clip(audio.match_loudness(x, level), -1.0, 1.0)


# ---------------------------------------------------------------------------- bootstrap


def _record(spec: ClipSpec | BackgroundSpec, sample_rate: int, seconds: float) -> ClipRecord:
    if isinstance(spec, BackgroundSpec):
        fields = ("background", spec.type, "", "generated", "", "", None, None)
    else:
        fields = (spec.kind, spec.category, spec.text, spec.engine, spec.voice, spec.variant,
                  spec.rate, spec.pitch)  # fmt: skip
    return ClipRecord(spec.path, *fields, spec.split, sample_rate, seconds)


def _existing_record(spec: ClipSpec | BackgroundSpec, raw_dir: Path) -> ClipRecord | None:
    path = raw_dir / spec.path
    if not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError):
        log.warning("%s: unreadable, making it again", path)
        return None
    if info.frames == 0:
        return None
    return _record(spec, info.samplerate, info.frames / info.samplerate)


def _user_records(
    raw_dir: Path, old: dict[str, ClipRecord], trigger_phrase: str
) -> tuple[list[ClipRecord], list[str]]:
    """Audio in the corpus folders that this module did not generate → (records, failures)."""
    records: list[ClipRecord] = []
    failures: list[str] = []
    for kind, folder in KIND_DIRS.items():
        if not (raw_dir / folder).is_dir():
            continue
        for path in audio.find_audio_files(raw_dir / folder):
            if GENERATED_NAME.match(path.name):
                continue
            rel = path.relative_to(raw_dir).as_posix()
            if rel in old and old[rel].engine == "user":
                records.append(old[rel])
                continue
            try:
                x, sr = audio.read_audio(path)
                if kind != "background" and float(np.max(np.abs(x))) < audio.SILENCE_PEAK:
                    raise AudioError(f"{path}: silent")
            except AudioError as exc:
                failures.append(str(exc))
                continue
            text = trigger_phrase if kind == "activate" else ""
            records.append(
                ClipRecord(
                    rel, kind, "user", text, "user", "", "", None, None, "train", sr, len(x) / sr
                )  # fmt: skip
            )
    if failures:
        log.warning("skipped %d unusable user file(s):\n  %s", len(failures), "\n  ".join(failures))
    return records, failures


def bootstrap_corpus(
    cfg: CorpusConfig,
    raw_dir: Path | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> CorpusSummary:
    """Make (or complete) the raw corpus and write its manifest; see the module docstring.

    ``seed`` overrides ``cfg.corpus_seed`` (it only affects the generated backgrounds).
    Files that already exist are reused; clips that came out silent before (listed in
    ``rejected.csv``) are not tried again. ``progress`` shows a progress bar.
    Raises HeyJoeError naming the missing commands if a configured engine is not installed
    (unless ``skip_missing_engines``), and DatasetError if an existing manifest is malformed.
    """
    started = time.perf_counter()
    if seed is not None:
        cfg = dataclasses.replace(cfg, corpus_seed=int(seed))
    raw_dir = Path(raw_dir) if raw_dir is not None else paths.raw_dir()
    for folder in KIND_DIRS.values():
        (raw_dir / folder).mkdir(parents=True, exist_ok=True)
    old = {r.path: r for r in load_manifest(raw_dir)} if manifest_path(raw_dir).is_file() else {}

    engines, missing = _available_engines(cfg)
    bad_voices = _rejected_voices(cfg, engines)
    if bad_voices:
        listed = ", ".join(f"{e} {v}" for e, v in sorted(bad_voices))
        festival = [v for e, v in bad_voices if e == "festival"]
        hint = f" {_install_hint([], festival)}" if festival else ""
        log.warning("voices the TTS engines do not know, skipped: %s.%s", listed, hint)
    clips = [s for s in plan_clips(cfg, engines) if _usable(s, bad_voices)]
    talkers = babble_pool(clips)
    backgrounds = plan_backgrounds(cfg, talkers)
    if "babble" in cfg.bg_types and cfg.bg_per_type and not talkers:
        log.warning("no babble backgrounds: no espeak-ng or flite voice is available")

    rejected_before = _load_rejected(raw_dir)
    records: dict[str, ClipRecord] = {}
    todo: list[ClipSpec | BackgroundSpec] = []
    rejected: dict[str, str] = {}
    for spec in [*clips, *backgrounds]:
        rec = _existing_record(spec, raw_dir)
        if rec is not None:
            records[spec.path] = rec
        elif spec.path in rejected_before:
            rejected[spec.path] = rejected_before[spec.path]
        else:
            todo.append(spec)
    reused = len(records)
    failures = [f"{p}: {why} (rejected in an earlier run)" for p, why in rejected.items()]
    if rejected:
        log.info("%d clip(s) rejected in an earlier run are not tried again (listed in %s)",
                 len(rejected), raw_dir / REJECTED_NAME)  # fmt: skip
    generated = _generate(cfg, raw_dir, engines, todo, records, rejected, failures, progress)

    user, user_failures = _user_records(raw_dir, old, cfg.trigger_phrase)
    failures += user_failures
    ordered = [records[s.path] for s in [*clips, *backgrounds] if s.path in records]
    ordered += sorted(user, key=lambda r: (KINDS.index(r.kind), r.path))
    manifest = write_manifest(ordered, raw_dir)
    _write_rejected(raw_dir, rejected)

    seconds: Counter[str] = Counter()
    for r in ordered:
        seconds[r.kind] += r.duration_seconds
    summary = CorpusSummary(
        raw_dir=raw_dir,
        manifest=manifest,
        clips=len(ordered),
        by_kind=dict(Counter(r.kind for r in ordered)),
        by_split=dict(Counter(r.split for r in ordered)),
        by_engine=dict(Counter(r.engine for r in ordered)),
        seconds_by_kind={k: round(v, 2) for k, v in seconds.items()},
        generated=generated,
        reused=reused,
        failures=failures,
        rejected_voices=[f"{e} {v}" for e, v in sorted(bad_voices)],
        skipped_engines=missing,
        elapsed_seconds=time.perf_counter() - started,
    )
    log.info("%s", summary)
    return summary


def _usable(spec: ClipSpec, bad_voices: set[tuple[str, str]]) -> bool:
    """Whether the engine knows the clip's voice and variant."""
    if (spec.engine, spec.voice) in bad_voices:
        return False
    return not spec.variant or (spec.engine, f"+{spec.variant}") not in bad_voices


def _describe(spec: ClipSpec | BackgroundSpec) -> str:
    if isinstance(spec, BackgroundSpec):
        return f"{spec.path} ({spec.type} background)"
    voice = spec.voice + (f"+{spec.variant}" if spec.variant else "")
    return f"{spec.path} ({spec.engine} {voice}, {spec.text!r})"


def _generate(
    cfg: CorpusConfig,
    raw_dir: Path,
    engines: dict[str, str],
    todo: list[ClipSpec | BackgroundSpec],
    records: dict[str, ClipRecord],
    rejected: dict[str, str],
    failures: list[str],
    progress: bool,
) -> int:
    """Make the clips and backgrounds in ``todo`` with ``cfg.tts_workers`` threads.

    Fills ``records`` (made), ``rejected`` (silent) and ``failures``; returns how many were made.
    """
    if not todo:
        return 0
    lock = threading.Lock()
    made = 0
    sentences: dict[str, np.ndarray] = {}  # babble sentences, at the background rate
    errors = (AudioError, subprocess.TimeoutExpired, OSError)

    def fail(spec: ClipSpec | BackgroundSpec, why: str, reject: bool = False) -> None:
        with lock:
            failures.append(f"{_describe(spec)}: {why}")
            if reject:
                rejected[spec.path] = why

    def store(spec: ClipSpec | BackgroundSpec, x: np.ndarray, sr: int) -> None:
        nonlocal made
        audio.write_wav(raw_dir / spec.path, x, sr)
        with lock:
            records[spec.path] = _record(spec, sr, len(x) / sr)
            made += 1

    def finish_clip(spec: ClipSpec, wav: Path) -> None:
        try:
            x, sr = _read_trimmed(wav, cfg)
        except AudioError as exc:
            return fail(spec, str(exc))
        finally:
            wav.unlink(missing_ok=True)
        why = _check_clip(x, sr, cfg.min_clip_seconds)
        if why:
            return fail(spec, why, reject=True)
        store(spec, x, sr)

    with tempfile.TemporaryDirectory(prefix="heyjoe-tts-") as tmp_name:
        tmp = Path(tmp_name)

        def sentence(clip: ClipSpec) -> np.ndarray:
            """A babble sentence: the corpus's own clip if made already, else synthesized."""
            with lock:
                if clip.name in sentences:
                    return sentences[clip.name]
            path = raw_dir / clip.path
            if not path.is_file():
                path = tmp / f"babble-{threading.get_ident()}-{clip.name}"
                _synthesize(clip, engines[clip.engine], path)
            x, sr = _read_trimmed(path, cfg)
            x = audio.resample(x, sr, cfg.bg_sample_rate)
            with lock:
                sentences[clip.name] = x
            return x

        def run_clip(spec: ClipSpec) -> int:
            out = tmp / spec.name
            try:
                _synthesize(spec, engines[spec.engine], out)
            except errors as exc:
                fail(spec, str(exc))
                return 1
            finish_clip(spec, out)
            return 1

        def run_festival(batch: list[ClipSpec]) -> int:
            try:
                outs = _festival_batch(batch, engines["festival"], tmp)
            except (subprocess.TimeoutExpired, OSError) as exc:
                outs = {s.name: f"festival failed ({exc})" for s in batch}
            for spec in batch:
                out = outs[spec.name]
                if isinstance(out, str):
                    fail(spec, out)
                else:
                    finish_clip(spec, out)
            return len(batch)

        def run_background(spec: BackgroundSpec) -> int:
            try:
                x = _make_background(spec, cfg, sentence)
            except errors as exc:
                fail(spec, str(exc))
                return 1
            store(spec, x, cfg.bg_sample_rate)
            return 1

        # festival batches first (the longest tasks), backgrounds last (babble reads clips)
        festival: dict[str, list[ClipSpec]] = {}
        tasks: list[tuple[Callable[..., int], object]] = []
        for spec in todo:
            if isinstance(spec, BackgroundSpec):
                continue
            if spec.engine == "festival":
                festival.setdefault(spec.voice, []).append(spec)
            else:
                tasks.append((run_clip, spec))
        batches = [
            (run_festival, specs[i : i + FESTIVAL_BATCH])
            for specs in festival.values()
            for i in range(0, len(specs), FESTIVAL_BATCH)
        ]
        backgrounds = [(run_background, s) for s in todo if isinstance(s, BackgroundSpec)]
        tasks = batches + tasks + backgrounds

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="corpus", unit="clip")
        with ThreadPoolExecutor(max_workers=cfg.tts_workers) as pool:
            for future in as_completed([pool.submit(fn, arg) for fn, arg in tasks]):
                done = future.result()
                if bar is not None:
                    bar.update(done)
        if bar is not None:
            bar.close()
    if failures:
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        log.warning("%d clip(s) could not be made:\n  %s%s", len(failures),
                    "\n  ".join(failures[:20]), more)  # fmt: skip
    return made


# ---------------------------------------------------------------------------- import


def import_clips(
    folder: str | Path,
    kind: str,
    raw_dir: Path | None = None,
    *,
    text: str = "",
    split: str = "train",
    trim: bool = True,
) -> list[ClipRecord]:
    """Copy the user's recordings in ``folder`` (WAV/FLAC/OGG/MP3) into the corpus as ``kind``.

    Each file becomes 16-bit WAV ``<kind folder>/user-<content hash>.wav`` at its own sample
    rate (activates and negatives trimmed of silence unless ``trim=False``) with a manifest row
    (engine ``user``). Importing the same file twice adds it once. Unusable files (empty,
    corrupt, silent) are skipped and named in one warning. Returns the imported records.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    raw_dir = Path(raw_dir) if raw_dir is not None else paths.raw_dir()
    files = audio.find_audio_files(folder)
    if not files:
        raise AudioError(f"{folder}: no audio files ({', '.join(audio.SUPPORTED_EXTENSIONS)})")
    existing = load_manifest(raw_dir) if manifest_path(raw_dir).is_file() else []
    imported: list[ClipRecord] = []
    skipped: list[str] = []
    for src in files:
        try:
            x, sr = audio.read_audio(src)
            if kind != "background":
                if trim:
                    x = trim_silence(x, sr)
                why = _check_clip(x, sr, 0.05)
                if why:
                    raise AudioError(f"{src}: {why}")
        except AudioError as exc:
            skipped.append(str(exc))
            continue
        digest = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
        rel = f"{KIND_DIRS[kind]}/user-{digest}.wav"
        audio.write_wav(raw_dir / rel, x, sr)
        imported.append(
            ClipRecord(rel, kind, "user", text, "user", "", "", None, None, split, sr, len(x) / sr)
        )
    if skipped:
        log.warning("skipped %d of %d files in %s:\n  %s", len(skipped), len(files), folder,
                    "\n  ".join(skipped))  # fmt: skip
    new_paths = {r.path for r in imported}
    write_manifest([r for r in existing if r.path not in new_paths] + imported, raw_dir)
    return imported
