"""Feature front ends: log-mel filterbank energies, the seed notebook's spectrogram, and
phonetic features (:mod:`lib.phonetic`), alone or next to the log-mel bands.

The spectral ones are computed the same way in numpy (:func:`compute_features`) and in
TensorFlow (:func:`compute_features_tf`, usable inside ``tf.data``), from the same window and
matrix; the phonetic ones in numpy only.

Framing never pads or centres: a clip of ``n`` samples gives ``1 + (n - win) // hop`` frames,
and a clip shorter than one window gives an empty ``(0, n_bins)`` array (not an error), in
numpy and in TensorFlow alike. TensorFlow is imported only inside the ``_tf`` function.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.fft

from lib.errors import AudioError, ConfigError

#: The seed's ``specgram(..., Fs=8000)`` was called on 44.1 kHz audio. Fs only divides the PSD
#: by a constant, so we keep 8000 to reproduce the seed's numbers exactly.
SEED_SPECGRAM_FS = 8000.0

#: Feature kinds with PocketSphinx's senone posteriors (:mod:`lib.phonetic`) in them.
PHONETIC_KINDS = ("logmel_phonetic", "phonetic")


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes a ``(frames, n_bins)`` feature matrix.

    ``logmel``: natural log of (Slaney-mel filterbank energy + ``log_floor``) on a periodic Hann
    window of ``window_seconds``, hop ``hop_seconds``, FFT size the next power of two.
    ``spectrogram``: log10 of (the seed's ``mlab.specgram`` PSD + ``log_floor``), symmetric Hann
    window of ``spectrogram_nfft`` samples overlapping by ``spectrogram_noverlap``.
    ``logmel_phonetic``: the ``logmel`` bands, then the 126 context-independent senone log
    posteriors of PocketSphinx's English acoustic model (:mod:`lib.phonetic`) for the same
    frames; 16 kHz, 25 ms windows every 10 ms only. ``phonetic``: those posteriors alone.
    """

    kind: Literal["logmel", "spectrogram", "logmel_phonetic", "phonetic"] = "logmel"
    sample_rate: int = 16000  # Hz, rate the audio must be at
    n_mels: int = 40  # mel bands (logmel)
    window_seconds: float = 0.025  # analysis window (logmel)
    hop_seconds: float = 0.010  # step between frames (logmel)
    fmin: float = 20.0  # Hz, lowest mel band edge (logmel)
    fmax: float | None = None  # Hz, highest mel band edge; None = sample_rate / 2 (logmel)
    spectrogram_nfft: int = 200  # samples per frame and FFT size (spectrogram)
    spectrogram_noverlap: int = 120  # samples shared by consecutive frames (spectrogram)
    log_floor: float = 1e-10  # added before the log so silence stays finite

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"feature setting {name!r} {why}, got {getattr(self, name)!r}")

        if self.kind not in PHONETIC_KINDS + ("logmel", "spectrogram"):
            raise bad("kind", "must be 'logmel', 'spectrogram', 'logmel_phonetic' or 'phonetic'")
        for name in ("sample_rate", "n_mels", "spectrogram_nfft", "spectrogram_noverlap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(name, "must be an integer")
        for name in ("window_seconds", "hop_seconds", "fmin", "log_floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(name, "must be a number")
        nyquist = self.sample_rate / 2
        checks = [
            ("sample_rate", self.sample_rate > 0, "must be positive"),
            ("n_mels", self.n_mels >= 1, "must be at least 1"),
            ("window_seconds", self.window_seconds * self.sample_rate >= 2,
             "must span at least 2 samples"),
            ("hop_seconds", self.hop_seconds * self.sample_rate >= 0.5,
             "must span at least 1 sample"),
            ("fmin", 0 <= self.fmin < nyquist, f"must be in [0, {nyquist:g}) Hz"),
            ("fmax", self.fmax is None or self.fmin < self.fmax <= nyquist,
             f"must be None or in (fmin, {nyquist:g}] Hz"),
            ("spectrogram_nfft", self.spectrogram_nfft >= 2, "must be at least 2"),
            ("spectrogram_noverlap", 0 <= self.spectrogram_noverlap < self.spectrogram_nfft,
             "must be in [0, spectrogram_nfft)"),
            ("log_floor", self.log_floor > 0, "must be positive"),
        ]  # fmt: skip
        if self.kind in PHONETIC_KINDS:  # the acoustic model's own framing
            checks += [
                ("sample_rate", self.sample_rate == 16000, f"must be 16000 for {self.kind}"),
                ("window_seconds", self.win_length == 400, f"must be 0.025 for {self.kind}"),
                ("hop_seconds", self.hop_length == 160, f"must be 0.010 for {self.kind}"),
            ]
        for name, ok, why in checks:
            if not ok:
                raise bad(name, why)
        if self.kind != "spectrogram":
            empty = int(np.count_nonzero(self.mel_matrix().max(axis=0) == 0))
            if empty:
                raise bad(
                    "n_mels",
                    f"is too many for an FFT of {self.n_fft} points ({empty} mel bands would be "
                    "empty); use fewer mels or a longer window_seconds",
                )

    @property
    def win_length(self) -> int:
        """Samples per analysis window."""
        if self.kind == "spectrogram":
            return self.spectrogram_nfft
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def hop_length(self) -> int:
        """Samples between the starts of consecutive frames."""
        if self.kind == "spectrogram":
            return self.spectrogram_nfft - self.spectrogram_noverlap
        return int(round(self.hop_seconds * self.sample_rate))

    @property
    def n_fft(self) -> int:
        """FFT size: ``spectrogram_nfft``, or the next power of two ≥ ``win_length`` (logmel)."""
        if self.kind == "spectrogram":
            return self.spectrogram_nfft
        return 1 << (self.win_length - 1).bit_length()

    @property
    def n_bins(self) -> int:
        """Feature values per frame: ``n_mels`` (+ 126 for ``logmel_phonetic``; 126 alone for
        ``phonetic``), or ``spectrogram_nfft // 2 + 1``."""
        from lib.phonetic import N_SENONES

        if self.kind == "spectrogram":
            return self.spectrogram_nfft // 2 + 1
        if self.kind == "phonetic":
            return N_SENONES
        if self.kind == "logmel_phonetic":
            return self.n_mels + N_SENONES
        return self.n_mels

    @property
    def n_spectral(self) -> int:
        """The leading feature values that are log energies (the log-mel or spectrogram bins),
        the ones level and spectral augmentation may change; the rest are phonetic."""
        if self.kind == "phonetic":
            return 0
        return self.n_mels if self.kind == "logmel_phonetic" else self.n_bins

    @property
    def frame_rate(self) -> float:
        """Frames per second of audio."""
        return self.sample_rate / self.hop_length

    def frames_for(self, n_samples: int) -> int:
        """Frames produced from ``n_samples`` samples (0 if shorter than one window)."""
        if n_samples < self.win_length:
            return 0
        return 1 + (n_samples - self.win_length) // self.hop_length

    def mel_matrix(self) -> np.ndarray:
        """This config's ``(n_fft // 2 + 1, n_mels)`` mel filterbank (logmel)."""
        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        return _cached_mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, fmax)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for dataset manifests and model cards."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys or wrong types raise ConfigError."""
        from lib.config import build

        if not isinstance(data, dict):
            raise ConfigError(f"feature settings must be a mapping, got {type(data).__name__}")
        return build(cls, dict(data), where="feature settings")


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1000.0) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, f / (200.0 / 3))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_part = 1000.0 * np.exp((math.log(6.4) / 27.0) * (np.maximum(m, 15.0) - 15.0))
    return np.where(m >= 15.0, log_part, m * (200.0 / 3))


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular Slaney-scale, area-normalised filters, float32 ``(n_fft // 2 + 1, n_mels)``.

    Equals ``librosa.filters.mel(..., htk=False, norm="slaney").T``.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return np.ascontiguousarray(weights.T, dtype=np.float32)


@functools.lru_cache(maxsize=32)
def _cached_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """:func:`mel_filterbank`, computed once per setting (every FeatureConfig checks its bands
    when it is made, and synthesis makes one per example); read-only."""
    weights = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    weights.setflags(write=False)
    return weights


def _hann(length: int, periodic: bool) -> np.ndarray:
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2 * np.pi * n / (length if periodic else length - 1))


def _psd_scale(nfft: int, window: np.ndarray, fs: float) -> np.ndarray:
    """Per-bin factor turning |FFT|² into mlab's one-sided PSD (scale_by_freq=True)."""
    scale = np.full(nfft // 2 + 1, 2.0)
    scale[0] = 1.0
    if nfft % 2 == 0:
        scale[-1] = 1.0
    return scale / (fs * np.sum(window**2))


@functools.lru_cache(maxsize=32)
def _kernels(fc: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(window, projection): the mel matrix for logmel, the PSD scale vector for spectrogram."""
    if fc.kind != "spectrogram":
        window, proj = _hann(fc.win_length, periodic=True), fc.mel_matrix()
    else:
        window = _hann(fc.spectrogram_nfft, periodic=False)  # np.hanning, as mlab uses
        proj = _psd_scale(fc.spectrogram_nfft, window, SEED_SPECGRAM_FS)
    out = (window.astype(np.float32), proj.astype(np.float32))
    for a in out:
        a.setflags(write=False)
    return out


#: Frames per FFT block: a block's working set stays in cache (about 2x faster on long clips).
_BLOCK_FRAMES = 512

#: ``log10(v) = ln(v) * _LOG10_E``: numpy's float32 ``log`` is vectorised, its ``log10`` is not
#: (about 5x slower), and the two agree to a few units in the last place.
_LOG10_E = 1.0 / math.log(10.0)

_WORKSPACES = threading.local()


def _workspace(dtype: np.dtype, win: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's block buffers for one frame size: (frames zero-padded to ``n_fft``, |X|²,
    scratch), ``_BLOCK_FRAMES`` rows each, made once and reused by every call.

    Fresh megabyte buffers cost page faults whenever the allocator hands back new pages (in a
    fresh process, twice the time of a 10 s clip; about 10% in a long build). The padding
    columns stay zero: only ``[:, :win]`` is ever written and the FFT leaves its input intact.
    """
    cache: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    cache = getattr(_WORKSPACES, "buffers", None)
    if cache is None:
        cache = _WORKSPACES.buffers = {}
    key = (dtype.str, win, n_fft)
    buffers = cache.get(key)
    if buffers is None:
        if len(cache) >= 8:  # a few feature settings at a time; drop the oldest
            del cache[next(iter(cache))]
        padded = np.zeros((_BLOCK_FRAMES, n_fft), dtype=dtype)
        power = np.zeros((_BLOCK_FRAMES, n_fft // 2 + 1), dtype=dtype)
        buffers = cache[key] = (padded, power, np.zeros_like(power))
    return buffers


def _spectral(
    x: np.ndarray,
    window: np.ndarray,
    hop: int,
    n_fft: int,
    proj: np.ndarray,
    log_floor: float | None = None,
    log_scale: float = 1.0,
) -> np.ndarray:
    """|rfft|² of windowed, un-padded frames along the last axis, then ``@ proj`` (a matrix) or
    ``* proj`` (a per-bin vector) → ``(..., frames, proj.shape[-1])`` in ``x``'s dtype.

    ``x`` must be C-contiguous. With ``log_floor``, each value ``v`` becomes
    ``ln(v + log_floor) * log_scale``, block by block while the block is still in cache.
    """
    win = len(window)
    n_frames = 0 if x.shape[-1] < win else 1 + (x.shape[-1] - win) // hop
    out = np.empty((*x.shape[:-1], n_frames, proj.shape[-1]), dtype=x.dtype)
    if n_frames == 0:
        return out
    step = x.strides[-1]
    frames = np.lib.stride_tricks.as_strided(
        x, (*x.shape[:-1], n_frames, win), (*x.strides[:-1], step * hop, step), writeable=False
    )
    combine = np.matmul if proj.ndim == 2 else np.multiply
    padded, power, spare = _workspace(x.dtype, win, n_fft)
    floor = None if log_floor is None else x.dtype.type(log_floor)
    scale = x.dtype.type(log_scale)
    for row in np.ndindex(x.shape[:-1]):
        for i in range(0, n_frames, _BLOCK_FRAMES):
            block = frames[row][i : i + _BLOCK_FRAMES]
            m = len(block)
            buf = padded[:m]
            np.multiply(block, window, out=buf[:, :win])
            spec = scipy.fft.rfft(buf, axis=-1, workers=1)  # leaves buf (and its zeros) intact
            pw = np.square(spec.real, out=power[:m])
            pw += np.square(spec.imag, out=spare[:m])
            dest = out[row][i : i + m]
            combine(pw, proj, out=dest)
            if floor is not None:
                dest += floor
                np.log(dest, out=dest)
                if log_scale != 1.0:
                    dest *= scale
    return out


def spectrogram_psd(
    audio: np.ndarray, nfft: int = 200, noverlap: int = 120, fs: float = SEED_SPECGRAM_FS
) -> np.ndarray:
    """The seed's spectrogram: ``mlab.specgram(audio, NFFT=nfft, Fs=fs, noverlap=noverlap,
    mode="psd")[0].T``, shape ``(frames, nfft // 2 + 1)``.

    Computed in float64 for float64 input, float32 otherwise. Unlike mlab, a clip shorter than
    ``nfft`` gives 0 frames (mlab zero-pads it to one).
    """
    x = _check_audio(audio, keep_float64=True)
    if not 0 <= noverlap < nfft:
        raise ValueError(f"noverlap must be in [0, nfft={nfft}), got {noverlap}")
    window = _hann(nfft, periodic=False).astype(x.dtype)
    return _spectral(x, window, nfft - noverlap, nfft, _psd_scale(nfft, window, fs).astype(x.dtype))


def _check_audio(audio: Any, keep_float64: bool = False) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim not in (1, 2):
        raise AudioError(
            f"audio must be 1-D (samples,) or 2-D (batch, samples), got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioError(
            f"audio must be floating point in [-1, 1], got {x.dtype} "
            "(convert int16 samples with lib.audio.from_int16)"
        )
    dtype = np.float64 if keep_float64 and x.dtype == np.float64 else np.float32
    x = np.ascontiguousarray(x, dtype=dtype)
    bad = x.size - int(np.count_nonzero(np.isfinite(x)))
    if bad:
        raise AudioError(f"audio contains NaN or Inf values ({bad} of {x.size} samples)")
    return x


def compute_features(audio: np.ndarray, fc: FeatureConfig) -> np.ndarray:
    """Features of one clip ``(n,)`` → ``(frames, n_bins)``, or a batch ``(b, n)`` →
    ``(b, frames, n_bins)``; float32. Audio must already be at ``fc.sample_rate``."""
    x = _check_audio(audio)
    parts = []
    if fc.n_spectral:
        window, proj = _kernels(fc)
        scale = _LOG10_E if fc.kind == "spectrogram" else 1.0  # log10, or natural log
        parts.append(_spectral(x, window, fc.hop_length, fc.n_fft, proj, fc.log_floor, scale))
    if fc.kind in PHONETIC_KINDS:
        from lib.phonetic import N_SENONES, phonetic_features

        shape = (*x.shape[:-1], fc.frames_for(x.shape[-1]), N_SENONES)
        rows = x.reshape(-1, x.shape[-1])
        each = [phonetic_features(r) for r in rows]  # an empty batch gives (0, frames, 126)
        parts.append(np.asarray(each, dtype=np.float32).reshape(shape))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def compute_features_tf(audio: Any, fc: FeatureConfig) -> Any:
    """:func:`compute_features` in TensorFlow (same window and matrix), for ``tf.data`` maps.

    Takes ``(n,)`` or ``(b, n)`` float audio (tensor or array); returns a float32 tensor.
    Unlike the numpy version it does not check for NaN. The phonetic kinds (a stateful
    numpy front end) have no TensorFlow version: ConfigError.
    """
    if fc.kind in PHONETIC_KINDS:
        raise ConfigError(
            f"feature kind {fc.kind!r} is computed in numpy only (lib.features."
            "compute_features); it has no TensorFlow version"
        )
    import tensorflow as tf

    window, proj = _kernels(fc)
    x = tf.cast(audio, tf.float32)
    frames = tf.signal.frame(x, fc.win_length, fc.hop_length, axis=-1) * tf.constant(window)
    # Zero-pad to n_fft ourselves: tf's rfft refuses to pad an empty (0-frame) input.
    pad = [[0, 0]] * (frames.shape.rank - 1) + [[0, fc.n_fft - fc.win_length]]
    spec = tf.signal.rfft(tf.pad(frames, pad), fft_length=[fc.n_fft])
    power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))
    if fc.kind == "logmel":
        return tf.math.log(tf.matmul(power, tf.constant(proj)) + fc.log_floor)
    return tf.math.log(power * tf.constant(proj) + fc.log_floor) / math.log(10.0)
