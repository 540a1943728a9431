"""Audio sources: the microphone, files played in real time or as fast as possible, lists of files.

Every source yields the same stream of :class:`Chunk` (float32 mono at the model's rate) and
keeps :class:`SourceStats` (chunks, dropped chunks, device errors) — a device error or an
overflow is counted and reported, never raised from the middle of a stream.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.errors import AudioError

log = logging.getLogger(__name__)


@dataclass
class Chunk:
    """``audio`` (float32 mono) from ``source``, starting ``start`` seconds into it."""

    audio: np.ndarray
    source: str
    start: float


@dataclass
class SourceStats:
    chunks: int = 0
    dropped: int = 0
    overflows: int = 0
    errors: list[str] = field(default_factory=list)


def _check(sample_rate: int, chunk_seconds: float) -> int:
    if sample_rate <= 0:
        raise AudioError(f"sample_rate must be positive, got {sample_rate}")
    if not 0 < chunk_seconds <= 5:
        raise AudioError(f"chunk_seconds must be in (0, 5], got {chunk_seconds}")
    return max(1, int(round(chunk_seconds * sample_rate)))


class FileSource:
    """Audio files one after the other, in chunks; ``realtime`` paces them like a microphone."""

    def __init__(
        self,
        files: list[str | Path],
        sample_rate: int,
        chunk_seconds: float = 0.08,
        realtime: bool = False,
    ) -> None:
        if not files:
            raise AudioError("a file source needs at least one audio file")
        self.files = [Path(f) for f in files]
        missing = [str(f) for f in self.files if not f.is_file()]
        if missing:
            raise AudioError(f"no such audio file(s): {', '.join(missing)}")
        self.sample_rate = int(sample_rate)
        self.chunk = _check(self.sample_rate, chunk_seconds)
        self.realtime = realtime
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[Chunk]:
        from lib.audio import load_audio

        for path in self.files:
            try:
                x = load_audio(path, self.sample_rate).astype(np.float32, copy=False)
            except AudioError as exc:
                self.stats.errors.append(str(exc))
                log.warning("skipping %s: %s", path, exc)
                continue
            t0 = time.monotonic()
            for i in range(0, len(x), self.chunk):
                if self.realtime:
                    wait = t0 + (i + self.chunk) / self.sample_rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                self.stats.chunks += 1
                yield Chunk(x[i : i + self.chunk], path.name, i / self.sample_rate)


class MicSource:
    """The default (or a named) input device through sounddevice (imported only here).

    The audio callback only copies into a bounded queue; a full queue drops the chunk and
    counts it, an input overflow is counted. ``seconds`` limits the stream (None: until
    :meth:`stop` or Ctrl-C)."""

    def __init__(
        self,
        sample_rate: int,
        chunk_seconds: float = 0.08,
        device: str | int | None = None,
        seconds: float | None = None,
        queue_chunks: int = 64,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.chunk = _check(self.sample_rate, chunk_seconds)
        self.device = device
        self.seconds = seconds
        self.stats = SourceStats()
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=queue_chunks)
        self._stopped = False

    @staticmethod
    def available() -> bool:
        """Whether sounddevice loads and an input device exists."""
        try:
            import sounddevice as sd

            sd.query_devices(kind="input")
        except Exception:  # no PortAudio, no device: both mean "no microphone"
            return False
        return True

    def stop(self) -> None:
        self._stopped = True

    def _callback(self, indata: np.ndarray, frames: int, t: object, status: object) -> None:
        if status and getattr(status, "input_overflow", False):
            self.stats.overflows += 1
        try:
            self._queue.put_nowait(np.array(indata[:, 0], dtype=np.float32))
        except queue.Full:
            self.stats.dropped += 1

    def __iter__(self) -> Iterator[Chunk]:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise AudioError(
                f"the microphone needs the sounddevice package and PortAudio ({exc}); "
                "install PortAudio (e.g. apt install libportaudio2) or use --source FILE"
            ) from None
        try:
            stream = sd.InputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                blocksize=self.chunk,
                device=self.device,
                callback=self._callback,
            )
            stream.start()
        except Exception as exc:  # PortAudioError and friends
            raise AudioError(f"cannot open the microphone ({exc})") from None
        pos = 0
        try:
            while not self._stopped:
                if self.seconds is not None and pos >= self.seconds * self.sample_rate:
                    break
                try:
                    x = self._queue.get(timeout=1.0)
                except queue.Empty:
                    if not stream.active:
                        self.stats.errors.append("the input stream stopped")
                        break
                    continue
                self.stats.chunks += 1
                yield Chunk(x, "mic", pos / self.sample_rate)
                pos += len(x)
        finally:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # closing a broken device must not hide the first error
                self.stats.errors.append(f"closing the microphone: {exc}")
