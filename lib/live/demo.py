"""Demo recordings for the live assistant (notebook 06, end-to-end tests, ``benchmarks/live.py``).

:func:`make_live_demo` writes 16 kHz WAV "recordings" into ``data/live_demo/``: the held-out
festival voices (never used for training) saying "hey joe" and a music command in one breath
("hey joe, play some jazz"), with other speech around it — including commands said *without*
the trigger and confusables such as "hey joey" — over dev backgrounds from ``data/raw/`` (or
generated noise, hum and music).

Each recording's truth is ``.truth/NAME.json`` beside it: every trigger + command with its
times and the action it must cause (``action``, ``query``, ``kind``, ``value``), and the
other speech, which must cause nothing. :func:`score_events` compares an assistant's events
with it. Existing recordings are reused: running it again changes nothing.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib import paths
from lib.files import write_json

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
TRUTH_DIR = ".truth"
TRIGGER = "hey joe"


@dataclass(frozen=True)
class Expected:
    """A spoken command and the action it must cause."""

    text: str
    action: str
    query: str | None = None
    kind: str | None = None
    value: int | None = None


#: commands said after the trigger, with the action each must cause.
COMMANDS: tuple[Expected, ...] = (
    Expected("play some jazz", "play", query="jazz"),
    Expected("pause the music", "pause"),
    Expected("resume the music", "resume"),
    Expected("next song", "next"),
    Expected("previous song", "previous"),
    Expected("turn the volume up", "volume_up", value=1),
    Expected("turn the volume down", "volume_down", value=1),
    Expected("set the volume to thirty", "volume_set", value=30),
    Expected("what is playing", "now_playing"),
    Expected("play the album abbey road", "play", query="abbey road", kind="album"),
    Expected("play the artist miles davis", "play", query="miles davis", kind="artist"),
    Expected("play the playlist morning coffee", "play", query="morning coffee", kind="playlist"),
)
#: speech that must cause nothing: no trigger (commands too), or a confusable.
OTHER: tuple[str, ...] = (
    "I think it will rain later today",
    "hey joey, how are you",
    "play some jazz",
    "okay, see you tomorrow then",
    "hey john, pass me the salt",
    "the coffee is ready",
    "pause the music",
    "let us go for a walk",
)


@dataclass
class Segment:
    start: float
    end: float
    text: str
    trigger_end: float | None = None  # set for "hey joe <command>" segments
    expected: dict[str, Any] | None = None


@dataclass
class Truth:
    recording: str
    voice: str
    seconds: float
    commands: list[Segment] = field(default_factory=list)
    other: list[Segment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Truth:
        return cls(
            d["recording"],
            d["voice"],
            float(d["seconds"]),
            [Segment(**s) for s in d.get("commands", [])],
            [Segment(**s) for s in d.get("other", [])],
        )


def default_dir() -> Path:
    return paths.data_dir() / "live_demo"


def truth_path(wav: str | Path) -> Path:
    wav = Path(wav)
    return wav.parent / TRUTH_DIR / f"{wav.stem}.json"


def read_truth(wav: str | Path) -> Truth:
    """The truth of a demo recording; a clear error when it is missing or malformed."""
    from lib.errors import HeyJoeError

    p = truth_path(wav)
    try:
        return Truth.from_dict(json.loads(p.read_text()))
    except FileNotFoundError:
        raise HeyJoeError(f"{wav} has no truth file ({p}); is it a live demo recording?") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise HeyJoeError(f"truth file {p} is malformed ({exc})") from None


def _plans(n: int, seed: int) -> list[tuple[str, str, list[tuple[str, Expected | None]]]]:
    from lib.recordings import DEMO_VOICES

    voices = list(DEMO_VOICES)
    out = []
    said = 0  # commands in turn, so that a dozen recordings cover every command
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i, 6]))
        voice = voices[i % len(voices)]
        items: list[tuple[str, Expected | None]] = []
        if i % 4 == 3:  # one in four: no trigger at all
            items += [(str(t), None) for t in rng.choice(OTHER, size=2, replace=False)]
        else:
            if rng.random() < 0.5:
                items.append((str(rng.choice(OTHER)), None))
            for _ in range(2 if i % 3 == 1 else 1):  # sometimes a second command later
                cmd = COMMANDS[said % len(COMMANDS)]
                said += 1
                items.append((cmd.text, cmd))
        name = f"{DEMO_VOICES[voice]}_live{i + 1:02d}"
        out.append((name, voice, items))
    return out


def make_live_demo(
    out_dir: str | Path | None = None, n: int = 12, seed: int = 0, raw_dir: str | Path | None = None
) -> list[Path]:
    """Write ``n`` live demo recordings (WAV + ``.truth/NAME.json``); returns their paths.

    Idempotent: a recording whose WAV and truth both exist is kept as it is."""
    from lib.audio import write_wav
    from lib.recordings import _dev_backgrounds, _speak

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    out = Path(out_dir) if out_dir is not None else default_dir()
    out.mkdir(parents=True, exist_ok=True)
    plans = _plans(n, seed)
    wavs = [out / f"{name}.wav" for name, _, _ in plans]
    todo = [k for k, w in enumerate(wavs) if not (w.is_file() and truth_path(w).is_file())]
    if not todo:
        return wavs
    backgrounds = _dev_backgrounds(Path(raw_dir) if raw_dir else None)
    with tempfile.TemporaryDirectory(prefix="heyjoe-live-") as tmp:
        texts: dict[str, set[str]] = {}
        for k in todo:
            _, voice, items = plans[k]
            for text, exp in items:
                texts.setdefault(voice, set()).update([text] if exp is None else [TRIGGER, text])
        spoken: dict[tuple[str, str], np.ndarray] = {}
        for voice, ts in texts.items():
            unique = sorted(ts)
            for text, clip in zip(unique, _speak(voice, unique, Path(tmp)), strict=True):
                spoken[(voice, text)] = clip
        for k in todo:
            name, voice, items = plans[k]
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1000 + k, 6]))
            audio, truth = _render(name, voice, items, spoken, backgrounds, rng)
            write_wav(wavs[k], audio, SAMPLE_RATE)
            write_json(truth_path(wavs[k]), truth.to_dict())
    log.info("made %d live demo recordings in %s", len(todo), out)
    return wavs


def _render(
    name: str,
    voice: str,
    items: list[tuple[str, Expected | None]],
    spoken: dict[tuple[str, str], np.ndarray],
    backgrounds: list[np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, Truth]:
    from lib.recordings import _generated_background, _level

    sr = SAMPLE_RATE
    speech_db = float(rng.uniform(-23.0, -18.0))
    pieces: list[tuple[float, np.ndarray]] = []
    truth = Truth(name, voice, 0.0)
    pos = float(rng.uniform(1.0, 2.0))
    for text, exp in items:
        if exp is None:
            clip = spoken[(voice, text)]
            pieces.append((pos, clip))
            truth.other.append(Segment(round(pos, 3), round(pos + len(clip) / sr, 3), text))
            pos += len(clip) / sr
        else:
            trig, cmd = spoken[(voice, TRIGGER)], spoken[(voice, exp.text)]
            gap = float(rng.uniform(0.1, 0.3))  # "hey joe, play ..." in one breath
            t_cmd = pos + len(trig) / sr + gap
            pieces += [(pos, trig), (t_cmd, cmd)]
            seg = Segment(
                round(pos, 3),
                round(t_cmd + len(cmd) / sr, 3),
                f"{TRIGGER} {exp.text}",
                trigger_end=round(pos + len(trig) / sr, 3),
                expected={k: v for k, v in asdict(exp).items() if k != "text"},
            )
            truth.commands.append(seg)
            pos = seg.end
        pos += float(rng.uniform(3.5, 5.0))  # longer than a command capture + refractory
    seconds = pos
    n = int(round(seconds * sr))
    if backgrounds:
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        start = int(rng.integers(len(bg)))
        bg = np.tile(bg, -(-n // len(bg)) + 1)[start : start + n]
    else:
        bg = _generated_background(rng, seconds)[:n]
    mix = _level(bg.astype(np.float32), float(rng.uniform(-48.0, -38.0)))
    for t, clip in pieces:
        i = int(round(t * sr))
        seg = _level(clip, speech_db)[: max(0, n - i)]
        mix[i : i + len(seg)] += seg
    peak = float(np.max(np.abs(mix)))
    if peak > 0.98:
        mix *= np.float32(0.98 / peak)
    truth.seconds = round(seconds, 3)
    return mix.astype(np.float32), truth


# ---------------------------------------------------------------------------- scoring


@dataclass
class DemoScore:
    """How the assistant's events compare with a recording's truth."""

    recording: str
    expected: int  # commands said after the trigger
    correct: int  # of those, given the right action
    wrong: list[str] = field(default_factory=list)  # what went wrong, one line each
    spurious: list[str] = field(default_factory=list)  # actions nothing asked for
    detection_delays: list[float] = field(default_factory=list)  # s after the trigger's end

    @property
    def ok(self) -> bool:
        return self.correct == self.expected and not self.spurious and not self.wrong


def _matches(ev: dict[str, Any], exp: dict[str, Any]) -> bool:
    data = ev.get("data", {})
    if data.get("action") != exp["action"]:
        return False
    if exp["action"] == "play":
        return data.get("query") == exp.get("query") and data.get("kind_of") == exp.get("kind")
    if exp["action"] == "volume_set":
        return data.get("value") == exp.get("value")
    return True


def score_events(events: list[Any], truth: Truth) -> DemoScore:
    """Match each command of ``truth`` to the action events of one recording.

    An action belongs to the command whose trigger starts before the detection that led to
    it and whose capture window (command end + 3 s) contains it; any other action, and any
    action that differs from the expected one, is an error."""
    evs = [e.to_dict() if hasattr(e, "to_dict") else e for e in events]
    score = DemoScore(truth.recording, len(truth.commands), 0)
    # pair each action-like event with the detection that started it
    last_detection: float | None = None
    acted: list[tuple[float, dict[str, Any]]] = []
    detections: list[float] = []
    for e in evs:
        if e["kind"] == "detection":
            last_detection = float(e["time"])
            detections.append(last_detection)
        elif e["kind"] in ("action", "action_failed", "not_understood", "no_speech", "asr_error"):
            acted.append((last_detection if last_detection is not None else e["time"], e))
    used: set[int] = set()
    for seg in truth.commands:
        hit = None
        for k, (t_det, _e) in enumerate(acted):
            if k not in used and seg.start - 0.2 <= t_det <= seg.end + 1.0:
                hit = k
                break
        dets = [t for t in detections if seg.start - 0.2 <= t <= seg.end + 1.0]
        if dets and seg.trigger_end is not None:
            score.detection_delays.append(round(dets[0] - seg.trigger_end, 3))
        if hit is None:
            score.wrong.append(f"{seg.text!r} at {seg.start:.1f}s: not detected")
            continue
        used.add(hit)
        e = acted[hit][1]
        if e["kind"] == "action" and _matches(e, seg.expected or {}):
            score.correct += 1
        else:
            heard = e.get("data", {}).get("text") or e.get("message")
            got = e.get("data", {}).get("action")
            score.wrong.append(
                f"{seg.text!r} at {seg.start:.1f}s: got {e['kind']} {got!r} ({heard!r})"
            )
    for k, (t_det, e) in enumerate(acted):
        if k not in used and e["kind"] == "action":
            score.spurious.append(f"{e['message']} (detection at {t_det:.1f}s)")
    return score


# ---------------------------------------------------------------------------- running


@dataclass
class RecordingRun:
    """One recording through the assistant: its events, score trace and score."""

    path: Path
    truth: Truth
    events: list[Any]
    times: np.ndarray
    scores: np.ndarray
    score: DemoScore
    seconds: float  # wall-clock seconds the run took


def run_recordings(assistant: Any, wavs: list[Path]) -> list[RecordingRun]:
    """Each recording through ``assistant`` (its detector reset in between), scored against
    its truth. The assistant should be synchronous (files played as fast as possible)."""
    import time

    from lib.live.sources import FileSource

    out = []
    for wav in wavs:
        trace_t: list[np.ndarray] = []
        trace_s: list[np.ndarray] = []
        assistant.on_scores = lambda t, s, tt=trace_t, ss=trace_s: (tt.append(t), ss.append(s))
        t0 = time.perf_counter()
        src = FileSource([wav], assistant.sr, assistant.cfg.chunk_seconds)
        assistant.begin(Path(wav).name)
        events = [e for c in src for e in assistant.feed(c)] + assistant.finish()
        truth = read_truth(wav)
        out.append(
            RecordingRun(
                Path(wav),
                truth,
                events,
                np.concatenate(trace_t) if trace_t else np.zeros(0),
                np.concatenate(trace_s) if trace_s else np.zeros(0),
                score_events(events, truth),
                time.perf_counter() - t0,
            )
        )
    assistant.on_scores = None
    return out


def summary(runs: list[RecordingRun]) -> dict[str, Any]:
    """Totals over recordings: commands expected and right, errors, spurious actions."""
    expected = sum(r.score.expected for r in runs)
    correct = sum(r.score.correct for r in runs)
    delays = [d for r in runs for d in r.score.detection_delays]
    return {
        "recordings": len(runs),
        "commands": expected,
        "commands_right": correct,
        "command_accuracy": round(correct / expected, 4) if expected else None,
        "errors": sum(len(r.score.wrong) for r in runs),
        "spurious_actions": sum(len(r.score.spurious) for r in runs),
        "all_right": all(r.score.ok for r in runs),
        "median_detection_delay_s": round(float(np.median(delays)), 3) if delays else None,
    }


def rows(runs: list[RecordingRun]) -> list[dict[str, Any]]:
    """One table row per recording (for the notebook)."""
    return [
        {
            "recording": r.path.name,
            "voice": r.truth.voice,
            "said": " | ".join(
                s.text for s in sorted(r.truth.commands + r.truth.other, key=lambda s: s.start)
            ),
            "actions": " | ".join(e.message for e in r.events if e.kind == "action") or "-",
            "right": f"{r.score.correct}/{r.score.expected}",
            "problems": "; ".join(r.score.wrong + r.score.spurious) or "-",
        }  # fmt: skip
        for r in runs
    ]
