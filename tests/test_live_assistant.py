"""The live assistant's state machine and audio sources, with a scripted detector and
recogniser (no model, no PocketSphinx): capture with pre-roll, end-pointing, refractory
period, recognition in the background, every failure path as an event, and sources that
count dropped chunks instead of crashing."""

from __future__ import annotations

import sys
import threading
import time
import types

import numpy as np
import pytest

from lib.audio import write_wav
from lib.errors import AudioError
from lib.live.asr import RecognitionError
from lib.live.assistant import Assistant, LiveConfig, State
from lib.live.music import DryRunController, Outcome
from lib.live.sources import Chunk, FileSource, MicSource

SR = 16000


class ScriptedDetector:
    """Scores 1.0 for output steps whose time falls in one of ``hits`` (start, end) windows."""

    sample_rate = SR
    hop_seconds = 0.04
    offset_seconds = 0.0

    def __init__(self, hits: list[tuple[float, float]]) -> None:
        self.hits = hits
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self._samples = 0
        self._step = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        self._samples += len(x)
        n = int(self._samples / SR / self.hop_seconds) - self._step
        times = (self._step + np.arange(n)) * self.hop_seconds
        self._step += n
        return np.array(
            [1.0 if any(a <= t < b for a, b in self.hits) else 0.0 for t in times],
            dtype=np.float32,
        )


class ScriptedRecogniser:
    name = "scripted"

    def __init__(self, replies: list, block: threading.Event | None = None) -> None:
        self.replies = list(replies)
        self.block = block
        self.audio: list[np.ndarray] = []

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        self.audio.append(audio)
        if self.block is not None:
            assert self.block.wait(5)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def speech_timeline(seconds: float, speech: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """Quiet noise with loud tone bursts ("speech") in the given windows."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(int(seconds * SR)) * 1e-3).astype(np.float32)
    t = np.arange(len(x)) / SR
    for a, b in speech:
        m = (t >= a) & (t < b)
        x[m] += 0.2 * np.sin(2 * np.pi * 220 * t[m]).astype(np.float32)
    return x


def chunks(x: np.ndarray, source: str = "test.wav", size: float = 0.08):
    n = int(size * SR)
    for i in range(0, len(x), n):
        yield Chunk(x[i : i + n], source, i / SR)


def run(assistant: Assistant, x: np.ndarray, source: str = "test.wav") -> list:
    return list(assistant.run(chunks(x, source)))


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def test_detection_capture_recognition_action():
    # "hey joe" 1.0-1.6 s, detected at 1.7 s; command speech 1.8-3.0 s, then silence
    x = speech_timeline(8.0, [(1.0, 1.6), (1.8, 3.0)])
    asr = ScriptedRecogniser(["hey joe play some jazz"])
    music = DryRunController()
    a = Assistant(ScriptedDetector([(1.7, 1.8)]), asr, music, LiveConfig(), threshold=0.5)
    events = run(a, x)
    assert kinds(events) == ["detection", "captured", "transcript", "action"]
    det, cap, _, act = events
    assert det.time == pytest.approx(1.7, abs=0.05)
    assert act.data["action"] == "play" and act.data["query"] == "jazz"
    assert music.playing and music.track == "jazz"
    # the capture reaches back into the pre-roll (1.5 s before the detection) to the trigger's
    # speech, ends after end_silence_seconds of silence, and the recogniser gets the speech
    # from 1.0 s to 3.0 s with speech_pad_seconds (0.25) either side, not the quiet around it
    audio = asr.audio[0]
    loud = np.flatnonzero(np.abs(audio) > 0.05) / SR
    pad = LiveConfig().speech_pad_seconds
    assert loud[0] == pytest.approx(pad, abs=0.05)
    assert len(audio) / SR - loud[-1] == pytest.approx(pad, abs=0.05)
    assert len(audio) / SR == pytest.approx(3.0 - 1.0 + 2 * pad, abs=0.1)
    assert cap.data["reason"] == "end of speech"
    assert cap.data["seconds"] == pytest.approx(len(audio) / SR, abs=0.01)
    assert a.state is State.LISTENING or a.state is State.REFRACTORY


def test_maximum_length_ends_a_capture_that_never_falls_silent():
    x = speech_timeline(12.0, [(1.0, 11.5)])
    cfg = LiveConfig(max_command_seconds=4.0)
    a = Assistant(ScriptedDetector([(2.0, 2.1)]), ScriptedRecogniser(["pause"]),
                  DryRunController(), cfg, threshold=0.5)  # fmt: skip
    events = run(a, x)
    cap = next(e for e in events if e.kind == "captured")
    assert cap.data["reason"] == "maximum length"
    # the 4 s window starts at 0.5 s; the speech in it from 1.0 s, less the pad, is kept
    assert cap.data["seconds"] == pytest.approx(4.0 - (1.0 - cfg.speech_pad_seconds - 0.5), abs=0.1)


def test_refractory_period_ignores_detections_right_after_a_command():
    x = speech_timeline(12.0, [(1.0, 2.0), (3.0, 3.4), (9.0, 10.0)])
    # detections at 1.5 s, again at 3.1 s (inside capture + refractory) and at 9.5 s
    det = ScriptedDetector([(1.5, 1.6), (3.1, 3.2), (9.5, 9.6)])
    asr = ScriptedRecogniser(["next song", "previous song"])
    a = Assistant(det, asr, DryRunController(), LiveConfig(refractory_seconds=2.0),
                  threshold=0.5)  # fmt: skip
    events = run(a, x)
    assert [e.time for e in events if e.kind == "detection"] == pytest.approx([1.5, 9.5], abs=0.05)
    assert [e.data["action"] for e in events if e.kind == "action"] == ["next", "previous"]


def test_audio_keeps_flowing_while_a_command_is_recognised():
    x = speech_timeline(10.0, [(1.0, 2.0)])
    det = ScriptedDetector([(1.5, 1.6)])
    gate = threading.Event()
    asr = ScriptedRecogniser(["pause the music"], block=gate)
    a = Assistant(det, asr, DryRunController(), LiveConfig(), threshold=0.5)
    seen_while_recognising = []
    events = []
    for c in chunks(x):
        events += a.feed(c)
        if a.state is State.RECOGNISING:
            seen_while_recognising.append(det.calls)
            if len(seen_while_recognising) == 10:
                gate.set()  # the recogniser answers only after 10 more chunks were scored
    events += a.finish()
    a.close()
    assert len(seen_while_recognising) >= 10
    assert seen_while_recognising == sorted(set(seen_while_recognising))  # detector kept going
    assert "action" in kinds(events)


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        ("", "no_speech", "didn't hear"),
        (RecognitionError("the network is down"), "asr_error", "network is down"),
        ("hey joe make me a sandwich", "not_understood", "didn't understand"),
    ],
)
def test_failures_are_events_and_listening_goes_on(reply, kind, words):
    x = speech_timeline(14.0, [(1.0, 2.0), (8.0, 9.0)])
    det = ScriptedDetector([(1.5, 1.6), (8.5, 8.6)])
    asr = ScriptedRecogniser([reply, "volume up"])
    a = Assistant(det, asr, DryRunController(), LiveConfig(), threshold=0.5)
    events = run(a, x)
    bad = next(e for e in events if e.kind == kind)
    assert words in bad.message
    assert [e.data["action"] for e in events if e.kind == "action"] == ["volume_up"]


def test_a_controller_that_fails_gives_an_action_failed_event():
    class Failing:
        name = "failing"

        def execute(self, cmd):
            return Outcome(False, "I couldn't find 'zzz' on Spotify.")

    x = speech_timeline(8.0, [(1.0, 2.0)])
    a = Assistant(ScriptedDetector([(1.5, 1.6)]), ScriptedRecogniser(["play zzz"]), Failing(),
                  LiveConfig(), threshold=0.5)  # fmt: skip
    events = run(a, x)
    failed = next(e for e in events if e.kind == "action_failed")
    assert "couldn't find" in failed.message and failed.data["ok"] is False


@pytest.mark.parametrize(("score", "accepted"), [(0.9, True), (0.1, False)])
def test_speaker_gate(score, accepted):
    x = speech_timeline(8.0, [(1.0, 2.0)])
    asr = ScriptedRecogniser(["pause"])
    a = Assistant(ScriptedDetector([(1.5, 1.6)]), asr, DryRunController(), LiveConfig(),
                  threshold=0.5, speaker_gate=lambda audio, sr: score,
                  gate_threshold=0.5)  # fmt: skip
    events = run(a, x)
    sp = next(e for e in events if e.kind == "speaker")
    assert sp.data["accepted"] is accepted and f"{score:.2f}" in sp.message
    assert ("action" in kinds(events)) is accepted
    assert len(asr.audio) == (1 if accepted else 0)


def test_a_capture_open_at_the_end_of_a_file_is_closed_and_recognised():
    x = speech_timeline(3.0, [(1.0, 3.0)])
    a = Assistant(ScriptedDetector([(1.5, 1.6)]), ScriptedRecogniser(["next"]),
                  DryRunController(), LiveConfig(), threshold=0.5)  # fmt: skip
    events = run(a, x)
    assert next(e for e in events if e.kind == "captured").data["reason"] == "end of audio"
    assert "action" in kinds(events)


def test_a_new_source_resets_the_detector_and_times():
    x = speech_timeline(4.0, [(1.0, 2.0)])
    det = ScriptedDetector([(1.5, 1.6)])
    asr = ScriptedRecogniser(["next", "previous"])
    a = Assistant(det, asr, DryRunController(), LiveConfig(refractory_seconds=0.0), threshold=0.5)
    events = list(a.run(list(chunks(x, "a.wav")) + list(chunks(x, "b.wav"))))
    dets = [(e.source, e.time) for e in events if e.kind == "detection"]
    assert [s for s, _ in dets] == ["a.wav", "b.wav"]
    assert [t for _, t in dets] == pytest.approx([1.52, 1.52], abs=0.01)  # first 40 ms step


def test_config_rejects_bad_values_by_name():
    from lib.errors import ConfigError

    with pytest.raises(ConfigError, match="chunk_seconds"):
        LiveConfig(chunk_seconds=0)
    with pytest.raises(ConfigError, match="threshold"):
        LiveConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="preroll_seconds"):
        LiveConfig(preroll_seconds=-1)


# ---------------------------------------------------------------------------- sources


def test_file_source_gives_every_sample_once_in_chunks(tmp_path):
    x = speech_timeline(1.03, [(0.2, 0.5)])
    write_wav(tmp_path / "a.wav", x, SR)
    write_wav(tmp_path / "b.wav", x[:8000], SR)
    src = FileSource([tmp_path / "a.wav", tmp_path / "b.wav"], SR, 0.1)
    got = list(src)
    a = np.concatenate([c.audio for c in got if c.source == "a.wav"])
    assert len(a) == len(x) and np.allclose(a, x, atol=1e-4)
    assert [c.start for c in got if c.source == "b.wav"] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert src.stats.chunks == len(got) and src.stats.dropped == 0


def test_file_source_paces_in_real_time(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(int(0.5 * SR), np.float32), SR)
    t0 = time.monotonic()
    list(FileSource([tmp_path / "a.wav"], SR, 0.1, realtime=True))
    assert time.monotonic() - t0 >= 0.45


def test_file_source_names_missing_files_and_skips_corrupt_ones(tmp_path):
    with pytest.raises(AudioError, match="nope.wav"):
        FileSource([tmp_path / "nope.wav"], SR)
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wave file")
    write_wav(tmp_path / "good.wav", np.zeros(SR, np.float32), SR)
    src = FileSource([tmp_path / "bad.wav", tmp_path / "good.wav"], SR, 0.5)
    got = list(src)
    assert {c.source for c in got} == {"good.wav"}
    assert len(src.stats.errors) == 1 and "bad.wav" in src.stats.errors[0]
    with pytest.raises(AudioError, match="chunk_seconds"):
        FileSource([tmp_path / "good.wav"], SR, 0)


class FakeStatus:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


def fake_sounddevice(blocks: int, overflow_every: int = 0, fail_open: bool = False):
    """A sounddevice module whose InputStream calls back ``blocks`` times, all at once."""

    class InputStream:
        def __init__(self, samplerate, channels, dtype, blocksize, device, callback):
            if fail_open:
                raise RuntimeError("Error querying device -1")
            self.cb, self.n = callback, blocksize
            self.active = False

        def start(self):
            self.active = True
            for k in range(blocks):
                status = FakeStatus(bool(overflow_every) and k % overflow_every == 0)
                self.cb(np.full((self.n, 1), k, np.float32), self.n, None, status)
            self.active = False  # the device went away after its blocks

        def stop(self):
            pass

        def close(self):
            pass

    return types.SimpleNamespace(InputStream=InputStream, query_devices=lambda kind: {})


def test_mic_source_counts_overflows_and_dropped_chunks(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(20, overflow_every=5))
    src = MicSource(SR, 0.05, queue_chunks=8)
    got = list(src)
    assert len(got) == 8 and src.stats.chunks == 8
    assert src.stats.dropped == 12 and src.stats.overflows == 4
    assert src.stats.errors == ["the input stream stopped"]
    assert [c.start for c in got[:2]] == pytest.approx([0.0, 0.05])


def test_mic_source_explains_a_device_that_cannot_open(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(0, fail_open=True))
    with pytest.raises(AudioError, match="cannot open the microphone"):
        list(MicSource(SR))


def test_mic_source_without_portaudio_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(AudioError, match="libportaudio2"):
        list(MicSource(SR))
    assert MicSource.available() is False
