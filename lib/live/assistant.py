"""The live assistant's state machine and events.

States: LISTENING → (trigger score ≥ threshold) CAPTURING → (end of speech or maximum length)
RECOGNISING → ACTING → REFRACTORY → (after ``refractory_seconds``) LISTENING.

- The command capture starts ``preroll_seconds`` before the detection (from a ring buffer of
  recent audio, since "hey joe play ..." said in one breath may be detected late) and ends
  after ``end_silence_seconds`` of silence (an energy voice-activity detector relative to the
  noise floor of the recent audio) or at ``max_command_seconds``.
- Recognition runs in a worker thread: chunks keep being consumed and scored meanwhile.
- Every step emits an :class:`Event` (``to_dict()`` for ``--json``, ``describe()`` for humans).
  Failures (a recogniser that returns nothing or fails, a command not understood, a speaker
  not enrolled) are events too, and listening goes on.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from lib.errors import ConfigError, HeyJoeError
from lib.live.commands import Command, parse_command
from lib.live.sources import Chunk

log = logging.getLogger(__name__)


@dataclass
class LiveConfig:
    """Settings of the live assistant (``configs/live.yaml``, stage ``live``)."""

    model: str | None = None
    threshold: float | None = None
    chunk_seconds: float = 0.08
    preroll_seconds: float = 1.5
    max_command_seconds: float = 6.0
    end_silence_seconds: float = 0.7
    min_command_seconds: float = 0.3
    command_wait_seconds: float = 2.5
    vad_margin_db: float = 10.0
    vad_peak_drop_db: float = 15.0
    speech_pad_seconds: float = 0.25
    refractory_seconds: float = 2.0
    asr: Literal["pocketsphinx", "google"] = "pocketsphinx"
    asr_grammar: bool = True
    music_vocabulary: list[str] | None = None
    language: str = "en-US"
    google_timeout_seconds: float = 5.0
    music: Literal["dry-run", "spotify"] = "dry-run"
    speaker_gate: str | None = None
    demo_recordings: int = 12
    mic_seconds: float = 30.0
    realtime: bool = False

    def __post_init__(self) -> None:
        positive = ("chunk_seconds", "max_command_seconds", "end_silence_seconds",
                    "google_timeout_seconds")  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in (
            "preroll_seconds",
            "refractory_seconds",
            "min_command_seconds",
            "mic_seconds",
            "command_wait_seconds",
            "speech_pad_seconds",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.preroll_seconds > 10:
            raise ConfigError(f"preroll_seconds must be at most 10, got {self.preroll_seconds}")
        if self.demo_recordings < 1:
            raise ConfigError(f"demo_recordings must be at least 1, got {self.demo_recordings}")


class State(enum.Enum):
    LISTENING = "listening"
    CAPTURING = "capturing"
    RECOGNISING = "recognising"
    ACTING = "acting"
    REFRACTORY = "refractory"


@dataclass
class Event:
    """Something that happened, at ``time`` seconds into ``source``."""

    kind: str
    time: float
    source: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = round(self.time, 3)
        return d

    def describe(self) -> str:
        return f"[{self.source} {self.time:7.2f}s] {self.kind:<12} {self.message}"


class SpeakerGate:
    """Only an enrolled speaker may command: cosine of the command's embedding and the
    profile's against the profile's threshold."""

    def __init__(self, name: str, model: Any = None) -> None:
        from lib import speaker

        self.name = name
        self.profile = speaker.load_profile(name)
        self.model = model or speaker.load_model(self.profile.get("model_path"))
        speaker.check_profile_model(self.profile, self.model)
        self.embedding = np.asarray(self.profile["embedding"], dtype=np.float32)
        self.threshold = float(self.profile.get("threshold", self.model.threshold))

    def __call__(self, audio: np.ndarray, sample_rate: int) -> float:
        from lib import speaker

        return speaker.cosine(speaker.embed_audio(self.model, audio, sample_rate), self.embedding)


def frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    """Level (dBFS) of consecutive ``frame``-sample frames."""
    n = len(x) // frame
    if n == 0:
        return np.zeros(0)
    f = x[: n * frame].reshape(n, frame).astype(np.float64)
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-12)


class Assistant:
    """Feeds chunks through detector → capture → (gate) → recogniser → parser → controller.

    ``detector`` is a :class:`lib.trigger.StreamingDetector` (or anything with ``sample_rate``,
    ``hop_seconds``, ``offset_seconds``, ``process(chunk)`` and ``reset()``)."""

    def __init__(
        self,
        detector: Any,
        recogniser: Any,
        controller: Any,
        config: LiveConfig | None = None,
        threshold: float | None = None,
        speaker_gate: Callable[[np.ndarray, int], float] | None = None,
        gate_threshold: float | None = None,
        on_scores: Callable[[np.ndarray, np.ndarray], None] | None = None,
        synchronous: bool = False,
    ) -> None:
        self.cfg = config or LiveConfig()
        self.detector = detector
        self.recogniser = recogniser
        self.controller = controller
        self.sr = int(detector.sample_rate)
        thr = threshold if threshold is not None else self.cfg.threshold
        if thr is None:
            thr = getattr(getattr(detector, "model", None), "threshold", 0.5)
        self.threshold = float(thr)
        self.gate = speaker_gate
        self.gate_threshold = (
            gate_threshold
            if gate_threshold is not None
            else getattr(speaker_gate, "threshold", 0.5)
        )
        self.on_scores = on_scores
        # synchronous: wait for each recognition at the end of its capture (files played as
        # fast as possible, so stream time does not run ahead of the recogniser)
        self.synchronous = synchronous
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heyjoe-asr")
        self._frame = max(1, int(0.02 * self.sr))
        self._ring_len = int((self.cfg.preroll_seconds + 2.0) * self.sr)
        self.counts: dict[str, int] = {}
        self._new_source("")

    # ------------------------------------------------------------------ helpers

    def _new_source(self, name: str) -> None:
        self.source = name
        self.state = State.LISTENING
        self.t = 0.0  # seconds of this source fed so far
        self._ring = np.zeros(0, dtype=np.float32)
        self._capture: list[np.ndarray] = []
        self._capture_t0 = 0.0
        self._t_det = 0.0
        self._levels: list[float] = []
        self._speech_seen = 0.0
        self._silence = 0.0
        self._floor_db = -60.0
        self._future: Future | None = None
        self._refractory_until = 0.0
        if hasattr(self.detector, "reset"):
            self.detector.reset()
        self._steps = 0

    def begin(self, source: str) -> list[Event]:
        """Start a new source now (even one of the same name): close the current one and reset
        the detector and the stream time. Returns the closing events."""
        events = self.finish()
        self._new_source(source)
        return events

    def _event(self, kind: str, time: float, message: str, **data: Any) -> Event:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return Event(kind, float(time), self.source, message, data)

    # ------------------------------------------------------------------ feeding

    def feed(self, chunk: Chunk) -> list[Event]:
        """Consume one chunk; returns the events it caused (possibly none)."""
        events: list[Event] = []
        if chunk.source != self.source:
            events += self.finish()
            self._new_source(chunk.source)
        x = np.asarray(chunk.audio, dtype=np.float32)
        t_end = self.t + len(x) / self.sr
        scores = self.detector.process(x)
        times = self.detector.offset_seconds + (self._steps + np.arange(len(scores))) * (
            self.detector.hop_seconds
        )
        self._steps += len(scores)
        if self.on_scores is not None and len(scores):
            self.on_scores(times, scores)
        self._ring = np.concatenate([self._ring, x])[-self._ring_len :]
        if self.state is State.CAPTURING:
            events += self._capturing(x, t_end)
        if self.state is State.RECOGNISING and self._future is not None and self._future.done():
            events += self._act(t_end)
        if self.state is State.REFRACTORY and t_end >= self._refractory_until:
            self.state = State.LISTENING
        if self.state is State.LISTENING:
            hits = np.flatnonzero(scores >= self.threshold)
            if len(hits):
                i = int(hits[0])
                events += self._detected(float(times[i]), float(scores[i]), t_end)
        self.t = t_end
        return events

    def _detected(self, t_det: float, score: float, t_end: float) -> list[Event]:
        ev = [self._event("detection", t_det, f"heard 'hey joe' (score {score:.2f})", score=score)]
        start = max(0.0, t_det - self.cfg.preroll_seconds, t_end - len(self._ring) / self.sr)
        first = len(self._ring) - int(round((t_end - start) * self.sr))
        self._capture = [self._ring[max(0, first) :].copy()]
        self._capture_t0 = start
        self._t_det = t_det
        self._levels = frame_db(self._capture[0], self._frame).tolist()
        levels = frame_db(self._ring, self._frame)
        self._floor_db = float(np.percentile(levels, 10)) if len(levels) else -60.0
        self._speech_seen = 0.0
        self._silence = 0.0
        self._speech_db = -55.0
        self.state = State.CAPTURING
        # the audio after the detection decides when the command ends
        tail = self._ring[len(self._ring) - int(round((t_end - t_det) * self.sr)) :]
        return ev + self._capturing(tail, t_end, append=False)

    def _capturing(
        self, x: np.ndarray, t_end: float, append: bool = True, force: bool = False
    ) -> list[Event]:
        if append:
            self._capture.append(x)
        levels = frame_db(x, self._frame)
        self._levels.extend(levels.tolist())
        # speech: well above the noise floor, and not far below the loudest speech so far
        # (music or chatter a little above the floor is not the command going on)
        loud = float(np.percentile(self._levels, 95)) if self._levels else -60.0
        speech_db = max(
            self._floor_db + self.cfg.vad_margin_db, loud - self.cfg.vad_peak_drop_db, -55.0
        )
        self._speech_db = speech_db
        step = self._frame / self.sr
        for level in levels:
            if level > speech_db:
                self._speech_seen += step
                self._silence = 0.0
            else:
                self._silence += step
        length = t_end - self._capture_t0
        # silence ends the command once some command speech was heard after the detection,
        # or when none has started within command_wait_seconds
        ended = self._silence >= self.cfg.end_silence_seconds and (
            self._speech_seen >= self.cfg.min_command_seconds
            or t_end - self._t_det >= self.cfg.command_wait_seconds
        )
        if not ended and not force and length < self.cfg.max_command_seconds:
            return []
        audio = self._speech_only(np.concatenate(self._capture))
        self._capture = []
        why = "end of speech" if ended else "end of audio" if force else "maximum length"
        ev = [
            self._event(
                "captured",
                t_end,
                f"{len(audio) / self.sr:.2f} s of command audio ({why})",
                seconds=round(len(audio) / self.sr, 3),
                reason=why,
            )
        ]
        if self.gate is not None:
            try:
                score = float(self.gate(audio, self.sr))
            except HeyJoeError as exc:
                score = float("nan")
                log.info("speaker gate: %s", exc)
            ok = bool(score >= self.gate_threshold)
            ev.append(
                self._event(
                    "speaker",
                    t_end,
                    f"speaker score {score:.2f} (threshold {self.gate_threshold:.2f}): "
                    + ("accepted" if ok else "not an enrolled speaker, ignored"),
                    score=None if np.isnan(score) else score,
                    accepted=ok,
                )
            )
            if not ok:
                self._start_refractory(t_end)
                return ev
        self._future = self._pool.submit(self._transcribe, audio)
        self.state = State.RECOGNISING
        if self.synchronous:
            self._future.exception()  # wait
            ev += self._act(t_end)
        return ev

    def _speech_only(self, audio: np.ndarray) -> np.ndarray:
        """The capture from its first to its last speech frame, ``speech_pad_seconds`` either side.

        The pre-roll starts wherever the ring buffer does, often in background noise or music;
        a grammar decoder must turn every sound it is given into words, so noise in front of
        "hey joe play some jazz" can come out as "turn it up"."""
        levels = frame_db(audio, self._frame)
        speech = np.flatnonzero(levels > self._speech_db)
        if not len(speech):
            return audio
        pad = int(round(self.cfg.speech_pad_seconds * self.sr))
        first = max(0, int(speech[0]) * self._frame - pad)
        last = min(len(audio), (int(speech[-1]) + 1) * self._frame + pad)
        return audio[first:last]

    def _transcribe(self, audio: np.ndarray) -> tuple[str, float]:
        t0 = time.perf_counter()
        text = self.recogniser.transcribe(audio, self.sr)
        return text, time.perf_counter() - t0

    def _start_refractory(self, t: float) -> None:
        self.state = State.REFRACTORY
        self._refractory_until = t + self.cfg.refractory_seconds

    def _act(self, t: float) -> list[Event]:
        fut, self._future = self._future, None
        self.state = State.ACTING
        name = getattr(self.recogniser, "name", "asr")
        try:
            text, asr_seconds = fut.result() if fut is not None else ("", 0.0)
        except HeyJoeError as exc:
            ev = [self._event("asr_error", t, f"Sorry, speech recognition failed: {exc}")]
            self._start_refractory(t)
            return ev
        ev = []
        fell_back = getattr(self.recogniser, "last_fallback", None)
        if fell_back:
            ev.append(
                self._event("asr_fallback", t, f"{fell_back}; used {name} instead", backend=name)
            )
        if not text:
            ev.append(self._event("no_speech", t, "Sorry, I didn't hear a command.", backend=name))
            self._start_refractory(t)
            return ev
        ev.append(
            self._event(
                "transcript",
                t,
                repr(text),
                text=text,
                backend=name,
                asr_seconds=round(asr_seconds, 3),
            )  # fmt: skip
        )
        cmd: Command = parse_command(text)
        if cmd.action == "unknown":
            ev.append(
                self._event("not_understood", t, f"Sorry, I didn't understand {text!r}.", text=text)
            )
        else:
            out = self.controller.execute(cmd)
            ev.append(
                self._event(
                    "action" if out.ok else "action_failed",
                    t,
                    out.message,
                    action=cmd.action,
                    query=cmd.query,
                    kind_of=cmd.kind,
                    value=cmd.value,
                    ok=out.ok,
                )
            )
        self._start_refractory(t)
        return ev

    def finish(self) -> list[Event]:
        """End of a source: close an open capture and wait for a pending recognition."""
        events: list[Event] = []
        if self.state is State.CAPTURING and self._capture:
            events += self._capturing(np.zeros(0, np.float32), self.t, append=False, force=True)
        if self.state is State.RECOGNISING and self._future is not None:
            self._future.exception()  # wait for it
            events += self._act(self.t)
        return events

    def run(self, chunks: Iterable[Chunk]) -> Iterator[Event]:
        """All the events of a chunk stream, as they happen."""
        try:
            for chunk in chunks:
                yield from self.feed(chunk)
            yield from self.finish()
        finally:
            self._pool.shutdown(wait=False)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def make_asr(cfg: LiveConfig) -> Any:
    """The recogniser of ``cfg``: PocketSphinx (with the command grammar unless
    ``asr_grammar`` is false), or Google falling back to that PocketSphinx."""
    from lib.live.asr import make_recogniser
    from lib.live.grammar import DEFAULT_MUSIC

    offline = {"grammar": cfg.asr_grammar, "music_vocabulary": cfg.music_vocabulary}
    if cfg.asr == "google":
        phrases = list(cfg.music_vocabulary or DEFAULT_MUSIC) + ["play", "pause", "volume"]
        rec = make_recogniser(
            "google", offline, language=cfg.language, phrases=phrases,
            timeout=cfg.google_timeout_seconds,
        )  # fmt: skip
        try:
            rec.primary.check()  # credentials and package, before the first command
        except HeyJoeError as exc:
            log.warning("%s; commands will be recognised offline (pocketsphinx)", exc)
        return rec
    return make_recogniser("pocketsphinx", offline)


def make_controller(cfg: LiveConfig) -> Any:
    """The music controller of ``cfg``: the dry run, or Spotify (credentials from the
    environment; see :mod:`lib.live.spotify`)."""
    if cfg.music == "spotify":
        from lib.live.spotify import SpotifyController

        return SpotifyController.from_env()
    from lib.live.music import DryRunController

    return DryRunController()


def build(cfg: LiveConfig, on_scores: Any = None, synchronous: bool = False) -> Assistant:
    """An assistant from its settings: the trigger model, recogniser, controller and gate."""
    from lib.trigger import StreamingDetector
    from lib.trigger.export import load_for_listening

    controller = make_controller(cfg)  # missing credentials fail here, before any loading
    detector = StreamingDetector(load_for_listening(cfg.model))  # a kept export: no TensorFlow
    gate = SpeakerGate(cfg.speaker_gate) if cfg.speaker_gate else None
    return Assistant(
        detector,
        make_asr(cfg),
        controller,
        cfg,
        speaker_gate=gate,
        on_scores=on_scores,
        synchronous=synchronous,
    )


def listen(
    cfg: LiveConfig,
    sources: list[str],
    json_lines: bool = False,
    realtime: bool = False,
    out: Any = None,
) -> int:
    """``heyjoe listen``: run the assistant on the microphone or files, printing each event."""
    import json
    import sys

    from lib.live.sources import FileSource, MicSource

    out = out or sys.stdout
    mic = sources == ["mic"]
    assistant = build(cfg, synchronous=not mic and not (realtime or cfg.realtime))
    sr = assistant.sr
    if mic:
        source: Any = MicSource(sr, cfg.chunk_seconds)
    else:
        source = FileSource(sources, sr, cfg.chunk_seconds, realtime=realtime or cfg.realtime)

    def show(ev: Event) -> None:
        print(json.dumps(ev.to_dict()) if json_lines else ev.describe(), file=out, flush=True)

    try:
        for ev in assistant.run(source):
            show(ev)
    except KeyboardInterrupt:
        pass
    stats = source.stats
    show(
        Event(
            "summary",
            assistant.t,
            assistant.source or "-",
            f"{stats.chunks} chunks, {stats.dropped} dropped, {stats.overflows} overflows, "
            f"{len(stats.errors)} errors",
            {
                "chunks": stats.chunks,
                "dropped": stats.dropped,
                "overflows": stats.overflows,
                "errors": stats.errors,
                "events": assistant.counts,
            },  # fmt: skip
        )
    )
    return 0
