"""Example recordings for hand-labelling, so notebook 02 works out of the box.

:func:`make_demo_recordings` writes a few 5–15 s, 16 kHz WAV "recordings" into
``data/recordings/``: the held-out festival voices (never used for training) saying
"hey joe" followed by a command ("hey joe, play some jazz"), or speech without the trigger
(including confusables such as "hey joey"), over dev backgrounds from ``data/raw/`` (or
generated noise, hum and music when the raw corpus has none).

The ground truth of each goes to a hidden Audacity label file ``.truth/NAME.txt``, so tests
and the quick profile can check or copy it; the visible recordings start unlabelled. File
names are ``<voice>_takeNN.wav``, so the speaker-grouped split keeps each voice in one split.
Existing recordings are reused: running it again changes nothing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import paths
from lib.errors import HeyJoeError
from lib.files import write_text
from lib.labels import Label, label_path, read_labels, write_labels

log = logging.getLogger(__name__)

TRUTH_DIR = ".truth"
SAMPLE_RATE = 16000
#: festival voices (the dev split's voices) → short speaker name used in file names.
DEMO_VOICES: dict[str, str] = {
    "kal_diphone": "kal",
    "ked_diphone": "ked",
    "cmu_us_slt_arctic_hts": "slt",
}
DEMO_TRIGGER = "hey joe"
DEMO_COMMANDS = (
    "play some jazz",
    "pause the music",
    "what is the weather like",
    "turn it up a bit",
    "skip this song",
    "set a timer for ten minutes",
)
DEMO_OTHER = (
    "I think it will rain later today",
    "hey joey, how are you",
    "okay, see you tomorrow then",
    "the coffee is ready",
    "hey john, pass me the salt",
    "let us go for a walk",
)


@dataclass(frozen=True)
class _Plan:
    name: str
    voice: str
    texts: list[tuple[str, bool]]  # (text, is the trigger)
    seconds: float


def truth_path(audio_path: str | Path) -> Path:
    """Where the ground truth of a demo recording lives: ``.truth/NAME.txt`` beside it."""
    audio_path = Path(audio_path)
    return audio_path.parent / TRUTH_DIR / f"{audio_path.stem}.txt"


def _plans(n: int, seed: int) -> list[_Plan]:
    voices = list(DEMO_VOICES)
    plans = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        voice = voices[i % len(voices)]
        texts: list[tuple[str, bool]] = []
        if i % 4 != 3:  # three in four hold the trigger
            texts += [(DEMO_TRIGGER, True), (str(rng.choice(DEMO_COMMANDS)), False)]
            if rng.random() < 0.4:
                texts.insert(0, (str(rng.choice(DEMO_OTHER)), False))
            if rng.random() < 0.3:
                texts += [(DEMO_TRIGGER, True), (str(rng.choice(DEMO_COMMANDS)), False)]
        else:
            texts += [(str(t), False) for t in rng.choice(DEMO_OTHER, size=2, replace=False)]
        name = f"{DEMO_VOICES[voice]}_take{i + 1:02d}"
        plans.append(_Plan(name, voice, texts, float(rng.uniform(5.0, 15.0))))
    return plans


def _festival(voice: str, texts: list[str], tmp: Path) -> list[np.ndarray]:
    from lib.audio import load_audio
    from lib.corpus import _scheme_string

    lines = [f"(voice_{voice})"]
    outs = []
    for k, text in enumerate(texts):
        out = tmp / f"{voice}-{k}.wav"
        outs.append(out)
        lines.append(
            f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
            f"{_scheme_string(str(out))} 'riff)"
        )
    script = tmp / f"{voice}.scm"
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True)
    missing = [o for o in outs if not o.is_file()]
    if missing:
        raise HeyJoeError(
            f"festival voice {voice} made no audio ({(done.stderr or done.stdout).strip()[-200:]})"
        )
    return [load_audio(o, SAMPLE_RATE) for o in outs]


def _espeak(texts: list[str], tmp: Path, variant: int) -> list[np.ndarray]:
    from lib.audio import load_audio

    clips = []
    for k, text in enumerate(texts):
        out = tmp / f"espeak-{variant}-{k}.wav"
        voice = ["en+m3", "en+f3", "en+m5"][variant % 3]
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], capture_output=True)
        if not out.is_file():
            raise HeyJoeError(f"espeak-ng made no audio for {text!r}")
        clips.append(load_audio(out, SAMPLE_RATE))
    return clips


def _speak(voice: str, texts: list[str], tmp: Path) -> list[np.ndarray]:
    """Each text spoken by ``voice`` (festival; espeak-ng stands in if festival is missing)."""
    from lib.corpus import trim_silence

    if shutil.which("festival"):
        clips = _festival(voice, texts, tmp)
    elif shutil.which("espeak-ng"):
        log.warning("festival is not installed: the demo recordings use espeak-ng voices")
        clips = _espeak(texts, tmp, list(DEMO_VOICES).index(voice))
    else:
        from lib import system

        raise HeyJoeError(
            "demo recordings need festival (or espeak-ng). "
            + system.install_hint(["festival", "espeak-ng"])
        )
    return [trim_silence(c, SAMPLE_RATE) for c in clips]


def _dev_backgrounds(raw_dir: Path | None) -> list[np.ndarray]:
    """The dev split's backgrounds from the raw corpus at 16 kHz (empty if there are none)."""
    from lib.audio import load_audio
    from lib.corpus import load_manifest
    from lib.errors import AudioError

    raw_dir = raw_dir or paths.raw_dir()
    try:
        records = load_manifest(raw_dir)
    except (HeyJoeError, OSError):
        return []
    out = []
    for r in records:
        if r.split == "dev" and r.kind.rstrip("s") == "background":
            try:
                out.append(load_audio(raw_dir / r.path, SAMPLE_RATE))
            except AudioError:
                continue
    return out


def _generated_background(rng: np.random.Generator, seconds: float) -> np.ndarray:
    from lib.corpus import make_hum, make_music, make_noise

    kind = int(rng.integers(3))
    if kind == 0:
        return make_noise(rng, seconds, SAMPLE_RATE, "pink")
    if kind == 1:
        return make_hum(rng, seconds, SAMPLE_RATE)
    return make_music(rng, seconds, SAMPLE_RATE)


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    from lib.audio import match_loudness

    return match_loudness(x, dbfs)


def _render(
    plan: _Plan,
    clips: list[np.ndarray],
    backgrounds: list[np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[Label]]:
    sr = SAMPLE_RATE
    gaps = []
    for k in range(1, len(plan.texts)):
        after_trigger = plan.texts[k - 1][1]
        gaps.append(rng.uniform(0.12, 0.35) if after_trigger else rng.uniform(0.8, 2.0))
    lead = rng.uniform(0.4, 1.5)
    needed = lead + sum(len(c) for c in clips) / sr + sum(gaps) + rng.uniform(0.4, 1.2)
    seconds = min(max(plan.seconds, needed, 5.0), max(15.0, needed))
    n = int(round(seconds * sr))
    if backgrounds:
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        reps = -(-n // len(bg)) + 1
        start = int(rng.integers(len(bg)))
        bg = np.tile(bg, reps)[start : start + n]
    else:
        bg = _generated_background(rng, seconds)[:n]
    mix = _level(bg.astype(np.float32), float(rng.uniform(-48.0, -36.0)))
    truth: list[Label] = []
    pos = lead
    speech_db = float(rng.uniform(-23.0, -18.0))
    for k, ((text, is_trigger), clip) in enumerate(zip(plan.texts, clips, strict=True)):
        if k:
            pos += gaps[k - 1]
        i = int(round(pos * sr))
        seg = _level(clip, speech_db)[: max(0, n - i)]
        mix[i : i + len(seg)] += seg
        if is_trigger:
            truth.append(Label(round(i / sr, 6), round((i + len(seg)) / sr, 6), text))
        pos += len(clip) / sr
    peak = float(np.max(np.abs(mix)))
    if peak > 0.98:
        mix *= np.float32(0.98 / peak)
    return mix.astype(np.float32), truth


def make_demo_recordings(
    out_dir: str | Path | None = None,
    n: int = 12,
    seed: int = 0,
    raw_dir: str | Path | None = None,
) -> list[Path]:
    """Write ``n`` demo recordings into ``out_dir`` (default ``data/recordings/``); returns their
    paths. Ground truth goes to ``.truth/NAME.txt``; no visible label file is written.

    Idempotent: a recording whose WAV and truth both exist is kept as it is.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    out = Path(out_dir) if out_dir is not None else paths.recordings_dir()
    out.mkdir(parents=True, exist_ok=True)
    plans = _plans(n, seed)
    todo = [p for p in plans if not (_wav(out, p).is_file() and truth_path(_wav(out, p)).is_file())]
    if todo:
        from lib.audio import write_wav

        backgrounds = _dev_backgrounds(Path(raw_dir) if raw_dir else None)
        if not backgrounds:
            log.info("no dev backgrounds in the raw corpus: generating noise, hum and music")
        with tempfile.TemporaryDirectory(prefix="heyjoe-demo-") as tmp:
            by_voice: dict[str, list[str]] = {}
            for p in todo:
                by_voice.setdefault(p.voice, []).extend(t for t, _ in p.texts)
            spoken: dict[tuple[str, str], np.ndarray] = {}
            for voice, texts in by_voice.items():
                unique = sorted(set(texts))
                for text, clip in zip(unique, _speak(voice, unique, Path(tmp)), strict=True):
                    spoken[(voice, text)] = clip
            for p in todo:
                rng = np.random.default_rng(np.random.SeedSequence([seed, 1000 + plans.index(p)]))
                clips = [spoken[(p.voice, t)] for t, _ in p.texts]
                audio, truth = _render(p, clips, backgrounds, rng)
                wav = _wav(out, p)
                write_wav(wav, audio, SAMPLE_RATE)
                write_labels(truth_path(wav), truth)
        log.info("made %d demo recordings in %s", len(todo), out)
    return [_wav(out, p) for p in plans]


def _wav(out: Path, plan: _Plan) -> Path:
    return out / f"{plan.name}.wav"


def copy_truth_labels(folder: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Copy each demo recording's ``.truth/NAME.txt`` to ``NAME.txt`` beside it (as if it had
    been labelled by hand); existing label files are kept unless ``overwrite``. Returns the
    label files written."""
    folder = Path(folder) if folder is not None else paths.recordings_dir()
    written = []
    for truth in sorted((folder / TRUTH_DIR).glob("*.txt")):
        wav = folder / f"{truth.stem}.wav"
        target = label_path(wav)
        if not wav.is_file() or (target.exists() and not overwrite):
            continue
        read_labels(truth)  # a malformed truth file raises, naming its lines
        write_text(target, truth.read_text())
        written.append(target)
    return written
