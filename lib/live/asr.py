"""Speech recognisers behind one interface: ``transcribe(audio, sample_rate) -> str``.

:class:`PocketSphinxRecogniser` is the offline default: pocketsphinx 5's ``Decoder`` with the
US-English acoustic model, dictionary and language model that ship inside its wheel.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import numpy as np

from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger(__name__)


class RecognitionError(HeyJoeError):
    """A recogniser failed (network, service, model); the message is fit to show."""


class Recogniser(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str: ...


class PocketSphinxRecogniser:
    """Offline recognition; the decoder is built on first use and reused (one at a time)."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        self._decoder = None
        self._lock = threading.Lock()

    def _get(self) -> object:
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder
            except ImportError as exc:
                raise ConfigError(
                    f"pocketsphinx is not installed ({exc}): pip install pocketsphinx"
                ) from None
            self._decoder = Decoder(samprate=16000, loglevel="FATAL")
        return self._decoder

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        from lib.audio import resample

        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise RecognitionError(f"recognition needs mono audio, got shape {x.shape}")
        x = resample(x, int(sample_rate), 16000) if sample_rate != 16000 else x
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        with self._lock:
            dec = self._get()
            try:
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
                hyp = dec.hyp()
            except RuntimeError as exc:
                raise RecognitionError(f"pocketsphinx failed: {exc}") from None
        return hyp.hypstr.strip() if hyp is not None else ""


def make_recogniser(name: str) -> Recogniser:
    if name == "pocketsphinx":
        return PocketSphinxRecogniser()
    raise ConfigError(f"unknown speech recogniser {name!r}; available: pocketsphinx")
