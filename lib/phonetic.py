"""A phonetic front end: PocketSphinx's English acoustic model, read and run in numpy.

The trigger model trained on synthetic voices hears *voices*; a front end trained on real
speech lets it hear *phones* (openWakeWord's answer to the same problem is a frozen speech
embedding under a small head). The only such model that ships here is inside PocketSphinx's
wheel: a phonetically-tied-mixture HMM with 42 phone codebooks of 128 Gaussians over three
13-dimensional streams (MFCCs, deltas, double deltas). This module reads its files and turns
each 10 ms frame of audio into log posteriors over its 126 context-independent senones (42
phones x 3 HMM states), which :mod:`lib.features` puts next to the log-mel bands
(feature kind ``logmel_phonetic``) or uses alone (``phonetic``). PocketSphinx itself is never
called; only its files are read.

Everything is causal, so a stream gives exactly what the whole clip gives
(:class:`PhoneticStream`):

- **MFCCs** of ``feat.params`` (pre-emphasis 0.97, 25 mel filters 130-6800 Hz, DCT, lifter 22),
  on the log-mel front end's frames (400 samples every 160, a Hamming window where
  PocketSphinx uses 410 samples; ``experiments/phonetic_frontend.py --check`` shows
  PocketSphinx decodes them into nearly the same phones as its own).
- **Running mean normalisation**: the mean of the frames so far for the first
  ``CMN_FRAMES`` frames, then an exponential average with that time constant (3 s).
- **Deltas** need 3 frames of look-ahead, so the phonetic part of frame ``t`` describes frame
  ``t - 3`` (30 ms late); frames before the first repeat the first.
- **Senone scores**: each stream's 5376 Gaussians as one matrix product, mixed per codebook
  with each senone's weights; the three streams' log likelihoods add; normalised over the
  126 senones, floored at -40 and divided by 8 (values in ``[-5, 0]``, near the log-mel scale).
  They are computed for every ``EVERY``-th frame (by its index in the stream) and held for the
  next: half the cost (the scoring is most of it), and the trigger network's convolution
  steps 4 frames at a time anyway.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from lib.errors import ConfigError

#: Context-independent senones of the en-us model: feature values per frame.
N_SENONES = 126
N_CEPSTRA = 13
#: Frames of look-ahead the deltas need: the phonetic features run this many frames late.
DELAY_FRAMES = 3
#: Frames of the running mean normalisation's window (3 s).
CMN_FRAMES = 300
LOG_FLOOR = -40.0
SCALE = 1.0 / 8.0
#: Senone scores are computed for every this-many frames and held in between.
EVERY = 2
PRE_EMPHASIS = 0.97


def model_dir() -> Path:
    """The folder of PocketSphinx's en-us acoustic model (inside its wheel)."""
    try:
        import pocketsphinx
    except ImportError as e:
        raise ConfigError(
            "the phonetic front end (feature kinds 'logmel_phonetic' and 'phonetic') reads "
            "PocketSphinx's acoustic model: pip install pocketsphinx"
        ) from e
    return Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"


def _read_s3(path: Path) -> np.ndarray:
    """A Sphinx-3 Gaussian parameter file → (codebooks, streams, densities, dims)."""
    data = path.read_bytes()
    at = data.find(b"endhdr\n") + len(b"endhdr\n")
    magic, n_cb, n_stream, n_dens = struct.unpack("<4i", data[at : at + 16])
    if magic != 0x11223344:
        raise ConfigError(f"{path}: not a little-endian Sphinx-3 parameter file")
    at += 16
    lens = struct.unpack(f"<{n_stream}i", data[at : at + 4 * n_stream])
    at += 4 * n_stream + 4  # the lengths, then the total count
    values = np.frombuffer(data, "<f4", n_cb * n_stream * n_dens * lens[0], at)
    return values.reshape(n_cb, n_stream, n_dens, lens[0]).astype(np.float64)


def _read_mdef(path: Path) -> tuple[list[str], int]:
    """CI phone names and the number of CI senones from a binary mdef."""
    data = path.read_bytes()
    end = b"END FILE FORMAT DESCRIPTION\n"
    at = (data.find(end) + len(end) + 3) // 4 * 4
    n_ci, _, _, n_ci_sen = struct.unpack("<4i", data[at : at + 16])
    names = data[at + 40 :].split(b"\0")[:n_ci]
    return [n.decode() for n in names], n_ci_sen


def _read_sendump(path: Path, n_stream: int) -> np.ndarray:
    """Mixture weights, (streams, densities, senones), as natural-log weights."""
    data = path.read_bytes()
    at = 0
    while True:  # title and header strings, each length-prefixed, until a length of 0
        (n,) = struct.unpack("<i", data[at : at + 4])
        at += 4
        if n == 0:
            break
        at += n
    rows, cols = struct.unpack("<2i", data[at : at + 8])
    q = np.frombuffer(data, np.uint8, n_stream * rows * cols, at + 8)
    # Stored as -log_{1.0001}(w) >> 10 (PocketSphinx's 8-bit senone scores).
    return -q.reshape(n_stream, rows, cols).astype(np.float64) * 1024 * np.log(1.0001)


def _mel_filters(
    sample_rate: int, n_fft: int, n_filt: int, lo_hz: float, hi_hz: float
) -> np.ndarray:
    """Sphinx's triangular filters, (n_fft // 2 + 1, n_filt), edges rounded to FFT bins."""

    def mel(f: float) -> float:
        return 2595 * np.log10(1 + f / 700)

    def imel(m: float) -> float:
        return 700 * (10 ** (m / 2595) - 1)

    lo, hi = mel(lo_hz), mel(hi_hz)
    step, df = (hi - lo) / (n_filt + 1), sample_rate / n_fft
    out = np.zeros((n_fft // 2 + 1, n_filt))
    hz = np.arange(n_fft // 2 + 1) * df
    for i in range(n_filt):
        f0, f1, f2 = (int(imel((i + j) * step + lo) / df + 0.5) * df for j in range(3))
        tri = np.minimum((hz - f0) / (f1 - f0), (f2 - hz) / (f2 - f1)) * 2 / (f2 - f0)
        out[:, i] = np.where((hz >= f0) & (hz <= f2), tri, 0.0)
    out[-1] = 0.0  # Sphinx leaves the Nyquist bin out
    return out


def sphinx_filterbank(n_fft: int = 512, sample_rate: int = 16000) -> np.ndarray:
    """``feat.params``' filterbank: 25 filters, 130-6800 Hz, float64 ``(n_fft // 2 + 1, 25)``."""
    return _mel_filters(sample_rate, n_fft, 25, 130.0, 6800.0)


def sphinx_dct(n_filt: int = 25, n_ceps: int = N_CEPSTRA) -> np.ndarray:
    """Log filter energies → liftered cepstra (``-transform dct -lifter 22``), float64
    ``(n_filt, n_ceps)``."""
    j, n = np.arange(n_filt)[:, None], np.arange(n_ceps)[None]
    dct = np.cos(np.pi * n * (j + 0.5) / n_filt)
    dct[:, 0] *= np.sqrt(1 / n_filt)
    dct[:, 1:] *= np.sqrt(2 / n_filt)
    lifter = 1 + 11 * np.sin(np.arange(n_ceps) * np.pi / 22)
    return dct * lifter[None]


class AcousticModel:
    """The en-us model's MFCC front end and CI-senone scorer, as float32 numpy matrices."""

    sample_rate = 16000
    win_length = 400
    hop_length = 160
    n_fft = 512

    def __init__(self, folder: Path | None = None) -> None:
        d = folder or model_dir()
        for name in ("means", "variances", "mdef", "sendump"):
            if not (d / name).is_file():
                raise ConfigError(f"PocketSphinx acoustic model file missing: {d / name}")
        means = _read_s3(d / "means")
        var = np.maximum(_read_s3(d / "variances"), 1e-4)
        phones, n_ci_sen = _read_mdef(d / "mdef")
        n_cb, n_stream, n_dens, dims = means.shape
        if (n_ci_sen, n_stream, dims, n_cb) != (N_SENONES, 3, N_CEPSTRA, n_ci_sen // 3):
            raise ConfigError(
                f"{d}: expected the en-us PTM model ({N_SENONES} CI senones, 3 streams of "
                f"{N_CEPSTRA}), found {n_ci_sen} senones, {n_stream} streams of {dims}"
            )
        self.phones = phones
        self.n_codebooks, self.n_densities = n_cb, n_dens
        prec = 1.0 / var
        const = -0.5 * (dims * np.log(2 * np.pi) + np.log(var).sum(-1))
        logw = _read_sendump(d / "sendump", n_stream)[:, :, :n_ci_sen]
        # (stream, codebook = CI phone, density, state): CI senone 3p+s belongs to phone p.
        weights = np.exp(logw).reshape(n_stream, n_dens, n_cb, 3).transpose(0, 2, 1, 3)
        # log N(x) = [x², x] @ [-prec/2 ; mu * prec] + (const - sum(mu² prec)/2), per stream:
        # proj[s] (26, gaussians), bias (stream, 1, gaussians)
        p = prec.transpose(1, 0, 2, 3).reshape(n_stream, -1, dims)
        mu = means.transpose(1, 0, 2, 3).reshape(n_stream, -1, dims)
        self.proj = [np.concatenate([-0.5 * p[s], mu[s] * p[s]], axis=1).T.astype(np.float32)
                     for s in range(n_stream)]  # fmt: skip
        bias = const.transpose(1, 0, 2).reshape(n_stream, -1) - 0.5 * (mu**2 * p).sum(-1)
        self.bias = bias[:, None, :].astype(np.float32)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.fbank = sphinx_filterbank(self.n_fft).astype(np.float32)
        self.dct = sphinx_dct().astype(np.float32)
        self.window = np.hamming(self.win_length).astype(np.float32)
        #: PocketSphinx's scale: 16-bit sample values.
        self.window *= np.float32(32768.0)

    def cepstra(self, frames: np.ndarray) -> np.ndarray:
        """``(n, 400)`` pre-emphasised frames (audio in [-1, 1]) → ``(n, 13)`` MFCCs."""
        import scipy.fft

        spec = scipy.fft.rfft(frames * self.window, n=self.n_fft, axis=-1, workers=1)
        power = np.square(spec.real)
        power += np.square(spec.imag)
        energies = power @ self.fbank
        np.maximum(energies, np.float32(1e-4), out=energies)
        return np.log(energies, out=energies) @ self.dct

    def log_posteriors(self, streams: list[np.ndarray]) -> np.ndarray:
        """The three ``(n, 13)`` feature streams → ``(n, 126)`` CI-senone log posteriors."""
        n = len(streams[0])
        n_stream = len(streams)
        ll = np.empty((n_stream, n, self.proj[0].shape[1]), dtype=np.float32)
        for s, x in enumerate(streams):
            np.matmul(np.concatenate([x * x, x], axis=1), self.proj[s], out=ll[s])
        ll += self.bias
        ll4 = ll.reshape(n_stream, n, self.n_codebooks, self.n_densities)
        top = ll4.max(axis=3, keepdims=True)
        ll4 -= top
        np.exp(ll4, out=ll4)
        # (stream, codebook, n, densities) @ (stream, codebook, densities, 3)
        mix = np.matmul(ll4.transpose(0, 2, 1, 3), self.weights)
        np.maximum(mix, np.float32(1e-30), out=mix)
        np.log(mix, out=mix)
        total = (mix.transpose(0, 2, 1, 3) + top).sum(axis=0).reshape(n, N_SENONES)
        top = total.max(axis=1, keepdims=True)
        total -= top + np.log(np.exp(total - top).sum(axis=1, keepdims=True))
        np.maximum(total, np.float32(LOG_FLOOR), out=total)
        total *= np.float32(SCALE)
        return total


@functools.lru_cache(maxsize=1)
def acoustic_model() -> AcousticModel:
    """The en-us model, read once per process."""
    return AcousticModel()


class PhoneticStream:
    """The phonetic features of a stream of frames, state carried between calls.

    :meth:`process` takes the samples a caller has framed (``n`` frames of 400 samples every
    160 from the start of ``samples``) and returns their ``(n, 126)`` features; the caller
    then drops the first ``n * 160`` samples, as :class:`lib.trigger.StreamingDetector` does.
    A fresh stream over a whole clip is what :func:`lib.features.compute_features` computes.
    """

    def __init__(self, model: AcousticModel | None = None) -> None:
        self.model = model or acoustic_model()
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._prev_sample = np.float32(0.0)
        self._mean = np.zeros(N_CEPSTRA, dtype=np.float64)
        self._seen = 0
        self._history: np.ndarray | None = None  # the last 2 * DELAY_FRAMES normalised cepstra
        self._frames_done = 0
        self._last = np.zeros(N_SENONES, dtype=np.float32)  # the last frame's features

    def _normalise(self, c: np.ndarray) -> np.ndarray:
        """``c`` minus its running mean: the mean of the frames so far for the first
        ``CMN_FRAMES``, then ``mean += (c - mean) / CMN_FRAMES`` per frame (float64)."""
        from scipy.signal import lfilter

        n, seen = len(c), self._seen
        out = np.empty_like(c)
        k = min(n, max(0, CMN_FRAMES - seen))  # frames still in the cumulative phase
        if k:
            means = (self._mean * seen + np.cumsum(c[:k], axis=0)) / (seen + np.arange(1, k + 1))[
                :, None
            ]
            out[:k] = c[:k] - means
            self._mean = means[-1]
        if k < n:
            a = 1.0 / CMN_FRAMES
            zi = ((1.0 - a) * self._mean)[None, :]
            means, _ = lfilter([a], [1.0, a - 1.0], c[k:], axis=0, zi=zi)
            out[k:] = c[k:] - means
            self._mean = means[-1]
        self._seen = seen + n
        return out

    def process(self, samples: np.ndarray, n: int) -> np.ndarray:
        """Features of the first ``n`` frames of ``samples`` (float32 mono, 16 kHz)."""
        m = self.model
        if n <= 0:
            return np.zeros((0, N_SENONES), dtype=np.float32)
        x = np.asarray(samples, dtype=np.float32)
        used = (n - 1) * m.hop_length + m.win_length
        emphasised = np.empty(used, dtype=np.float32)
        emphasised[0] = x[0] - PRE_EMPHASIS * self._prev_sample
        np.subtract(x[1:used], np.float32(PRE_EMPHASIS) * x[: used - 1], out=emphasised[1:])
        self._prev_sample = x[n * m.hop_length - 1]
        frames = np.lib.stride_tricks.as_strided(
            emphasised, (n, m.win_length), (emphasised.strides[0] * m.hop_length, 4),
            writeable=False,
        )  # fmt: skip
        c = self._normalise(m.cepstra(frames).astype(np.float64)).astype(np.float32)
        if self._history is None:
            self._history = np.repeat(c[:1], 2 * DELAY_FRAMES, axis=0)
        p = np.concatenate([self._history, c])  # p[i] is frame (first - 6 + i)
        self._history = p[-2 * DELAY_FRAMES :]

        def at(k: int) -> np.ndarray:  # frames u + k for the described frames u = t - 3
            return p[DELAY_FRAMES + k : DELAY_FRAMES + k + n]

        streams = [at(0), at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))]
        index = self._frames_done + np.arange(n)
        scored = np.flatnonzero(index % EVERY == 0)
        out = np.empty((n, N_SENONES), dtype=np.float32)
        if len(scored):
            out[scored] = m.log_posteriors([s[scored] for s in streams])
        held = scored[0] if len(scored) else n  # frames before the first scored one
        out[:held] = self._last
        for k in range(1, EVERY):  # the frames after each scored one repeat it
            rows = scored[scored + k < n] + k
            out[rows] = out[rows - k]
        self._frames_done += n
        self._last = out[-1].copy()
        return out


def phonetic_features(audio: np.ndarray) -> np.ndarray:
    """``(samples,)`` float audio at 16 kHz → ``(frames, 126)`` phonetic features (fresh stream)."""
    m = acoustic_model()
    x = np.ascontiguousarray(audio, dtype=np.float32)
    n = 0 if len(x) < m.win_length else 1 + (len(x) - m.win_length) // m.hop_length
    return PhoneticStream(m).process(x, n)
