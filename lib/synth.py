"""Labelled training examples: clips overlaid on a background, as in the seed notes.

One example (the Coursera trigger-word recipe, with the notes' lessons built in):

1. a background, cut at a random offset to ``example_seconds`` (looped if shorter), brought
   to ``background_dbfs`` when ``background_correction`` is on (the notes' correction);
2. ``activates_per_example`` activates, then ``negatives_per_example`` negatives, each
   augmented (speed, pitch, room reverb), levelled to ``target_dbfs`` plus a random gain,
   and overlaid at random positions that never overlap: the activates spread together
   (:func:`place_together`), the negatives in the room left (:func:`place_segments`); a clip
   that finds no room is dropped, so many activates leave fewer negatives;
3. the mix loudness-matched to ``target_dbfs`` (scaled down if it would clip);
4. labels: ``label_ones`` ones right after each activate ends (:func:`labels_from_events`);
5. features: :func:`lib.features.compute_features`.

All randomness comes from the ``np.random.Generator`` passed in: the same generator state
gives the same example, bit for bit (the notes lost weeks to a fixed seed left in a helper).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from lib import paths
from lib.errors import AudioError, ConfigError, DatasetError

log = logging.getLogger(__name__)

KINDS = ("activate", "negative", "background")

#: Backgrounds quieter than this are left alone by the correction (no +90 dB boosts of hiss).
_SILENT_DBFS = -80.0


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of the ``synthesis`` stage (``configs/synthesis.yaml`` documents each key)."""

    dataset_name: str = "bootstrap_train"
    split: Literal["train", "dev"] = "train"
    engines: list[str] | None = None
    exclude_phrases: list[str] | None = None
    n_examples: int = 1400
    example_seconds: float = 10.0
    seed: int = 0
    activates_per_example: tuple[int, int] = (1, 4)
    negatives_per_example: tuple[int, int] = (0, 3)
    min_gap_seconds: float = 0.1
    label_steps: int = 1375
    label_ones: int = 50
    background_correction: bool = True
    background_dbfs: float = -40.0
    target_dbfs: float = -20.0
    gain_probability: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 6.0)
    snr_probability: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    reverb_probability: float = 0.3
    rt60_seconds: tuple[float, float] = (0.15, 0.6)
    speed_probability: float = 0.3
    speed_range: tuple[float, float] = (0.9, 1.1)
    pitch_probability: float = 0.3
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    formant_probability: float = 0.0
    formant_warp: float = 0.15
    tempo_probability: float = 0.0
    tempo_warp: float = 0.35
    onset_noise_probability: float = 0.0
    onset_noise_db: tuple[float, float] = (-24.0, -6.0)
    fricative_probability: float = 0.0
    fricative_db: tuple[float, float] = (-25.0, -5.0)
    sample_rate: int = 16000
    feature_kind: Literal["logmel", "spectrogram", "logmel_phonetic", "phonetic"] = "logmel"
    n_mels: int = 40
    window_seconds: float = 0.025
    hop_seconds: float = 0.010
    store_audio: bool = True
    store_features: bool = True
    shard_size: int = 256
    workers: int = 0

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"synthesis parameter {key!r} {why}, got {getattr(self, key)!r}")

        name = self.dataset_name
        if (
            not name
            or name.startswith(".")
            or any(c in name for c in "/\\:")
            or name != name.strip()
        ):
            raise bad("dataset_name", "must be a plain folder name (no '/', no leading '.')")
        if self.engines is not None:
            if isinstance(self.engines, str) or not self.engines:
                raise bad("engines", "must be a non-empty list of engine names, or null for all")
            if any(not isinstance(e, str) or not e.strip() for e in self.engines):
                raise bad(
                    "engines",
                    "must list engine names (espeak, flite, festival, mbrola, pico, user)",
                )
        if self.exclude_phrases is not None and (
            isinstance(self.exclude_phrases, str)
            or any(not isinstance(t, str) or not t.strip() for t in self.exclude_phrases)
        ):
            raise bad("exclude_phrases", "must be a list of phrases (texts), or null for none")
        for key in ("n_examples", "label_steps", "shard_size", "sample_rate", "n_mels"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("label_ones", "workers"):
            if getattr(self, key) < 0:
                raise bad(key, "must be 0 or more")
        if self.label_ones > self.label_steps:
            raise bad("label_ones", f"must be at most label_steps ({self.label_steps})")
        for key in ("example_seconds", "window_seconds", "hop_seconds"):
            if not getattr(self, key) > 0:
                raise bad(key, "must be positive")
        if self.min_gap_seconds < 0:
            raise bad("min_gap_seconds", "must be 0 or more")
        for key in ("activates_per_example", "negatives_per_example"):
            lo, hi = getattr(self, key)
            if lo < 0 or lo > hi:
                raise bad(key, "must be [min, max] with 0 <= min <= max")
        for key in ("gain_db", "snr_db", "rt60_seconds", "speed_range", "pitch_semitones"):
            lo, hi = getattr(self, key)
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise bad(key, "must be [min, max] with min <= max")
        if self.rt60_seconds[0] <= 0:
            raise bad("rt60_seconds", "must be positive")
        if self.speed_range[0] <= 0:
            raise bad("speed_range", "must be positive (1.0 = unchanged)")
        for key in ("pitch_semitones",):
            if max(abs(v) for v in getattr(self, key)) > 12:
                raise bad(key, "must lie within [-12, 12] semitones")
        if not 0.0 <= self.formant_warp <= 0.5:
            raise bad("formant_warp", "must lie within [0, 0.5] (0.15 = formants move up to 15%)")
        if not 0.0 <= self.tempo_warp <= 1.0:
            raise bad("tempo_warp", "must lie within [0, 1] (0.35: parts up to 35% faster/slower)")
        if not -60.0 <= self.onset_noise_db[0] <= self.onset_noise_db[1] <= 10.0:
            raise bad("onset_noise_db", "must be [min, max] within [-60, 10] dB (relative to clip)")
        if not -60.0 <= self.fricative_db[0] <= self.fricative_db[1] <= 20.0:
            raise bad("fricative_db", "must be [min, max] within [-60, 20] dB (0 = unchanged)")
        for key in ("gain", "snr", "reverb", "speed", "pitch", "formant", "tempo", "onset_noise",
                    "fricative"):  # fmt: skip
            p = getattr(self, f"{key}_probability")
            if not 0.0 <= p <= 1.0:
                raise bad(f"{key}_probability", "must be a probability in [0, 1]")
        for key in ("background_dbfs", "target_dbfs"):
            if not -100.0 <= getattr(self, key) <= 0.0:
                raise bad(key, "must be a level in [-100, 0] dBFS")
        if self.window_seconds * self.sample_rate < 4:
            raise bad("window_seconds", "is shorter than 4 samples at sample_rate")
        if not (self.store_audio or self.store_features):
            raise bad("store_features", "and store_audio cannot both be false (nothing to store)")
        try:
            self.feature_config()
        except ConfigError as exc:
            raise ConfigError(f"synthesis features: {exc}") from None

    @property
    def n_samples(self) -> int:
        """Samples per example."""
        return int(round(self.example_seconds * self.sample_rate))

    def feature_config(self) -> Any:
        """The :class:`lib.features.FeatureConfig` these settings describe."""
        from lib.features import FeatureConfig

        return FeatureConfig(
            kind=self.feature_kind,
            sample_rate=self.sample_rate,
            n_mels=self.n_mels,
            window_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds,
        )

    def replace(self, **changes: Any) -> SynthesisConfig:
        """A copy with some settings changed (checked again)."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------------
# Examples, events, labels
# --------------------------------------------------------------------------------------------


class Event(NamedTuple):
    """One overlaid clip: its kind, where its (dry) speech starts and ends, and its source."""

    kind: str  # "activate" or "negative"
    start_s: float
    end_s: float
    clip: str  # path relative to the raw corpus folder


@dataclass
class Example:
    """One synthetic example."""

    audio: np.ndarray  # float32 (n_samples,)
    features: np.ndarray | None  # float32 (frames, bins), None when not computed
    labels: np.ndarray  # uint8 (label_steps,)
    events: list[Event]
    background: str = ""  # the background clip's path
    dropped: int = 0  # clips drawn that found no room and were left out
    peak_limited: bool = False  # True if the mix was scaled below target_dbfs to avoid clipping


def labels_from_events(
    events: Sequence[Event | tuple],
    label_steps: int,
    example_seconds: float,
    label_ones: int,
) -> np.ndarray:
    """The label track: ``label_ones`` ones starting at the step where each activate ends.

    An activate ending at ``end_s`` sets steps ``int(end_s * label_steps / example_seconds)``
    onwards (clipped at the end of the track). Negatives set nothing. (Coursera's
    ``insert_ones`` started one step later; the step holding the end is used here.)
    """
    if label_steps < 1 or label_ones < 0 or example_seconds <= 0:
        raise ValueError(
            f"labels_from_events needs label_steps >= 1, label_ones >= 0 and example_seconds > 0; "
            f"got {label_steps}, {label_ones}, {example_seconds}"
        )
    y = np.zeros(label_steps, dtype=np.uint8)
    for event in events:
        kind, end_s = event[0], float(event[2])
        if kind != "activate":
            continue
        first = int(end_s * label_steps / example_seconds)
        first = min(max(first, 0), label_steps)
        y[first : first + label_ones] = 1
    return y


def place_segments(
    lengths: Sequence[int],
    total: int,
    rng: np.random.Generator,
    *,
    min_gap: int = 0,
    occupied: Sequence[tuple[int, int]] = (),
) -> list[int | None]:
    """Random non-overlapping start positions for segments of ``lengths`` in ``[0, total)``.

    Segments are placed one after another, each uniformly at random among the starts that
    keep at least ``min_gap`` samples from every segment already placed (and ``occupied``);
    a segment with no such start is dropped (``None``). Sampling the free positions directly
    never retries and only drops a segment when there is truly no room for it.
    """
    busy = sorted((int(s), int(e)) for s, e in occupied)
    starts: list[int | None] = []
    for length in lengths:
        length = int(length)
        ranges: list[tuple[int, int]] = []  # inclusive start ranges
        lo = 0
        for s, e in busy:
            hi = s - min_gap - length
            if hi >= lo:
                ranges.append((lo, hi))
            lo = max(lo, e + min_gap)
        hi = total - length
        if hi >= lo:
            ranges.append((lo, hi))
        if not ranges or length <= 0:
            starts.append(None)
            continue
        sizes = np.array([b - a + 1 for a, b in ranges], dtype=np.int64)
        pick = int(rng.integers(int(sizes.sum())))
        k = int(np.searchsorted(np.cumsum(sizes), pick, side="right"))
        start = ranges[k][0] + pick - int(sizes[:k].sum())
        starts.append(start)
        busy.append((start, start + length))
        busy.sort()
    return starts


def place_together(
    lengths: Sequence[int], total: int, rng: np.random.Generator, *, min_gap: int = 0
) -> list[int | None]:
    """Random non-overlapping starts for all of ``lengths`` at once, in a random order.

    The free room (``total`` less the segments and the gaps between them) is shared out at
    random among the spaces before, between and after them, so every segment fits whenever
    their total does (sequential placement can leave the room fragmented). If they cannot
    all fit, the last ones drawn are dropped (``None``) until the rest do.
    """
    lengths = [int(x) for x in lengths]
    order = [int(i) for i in rng.permutation(len(lengths))]
    keep = list(order)
    while keep and sum(lengths[i] for i in keep) + min_gap * (len(keep) - 1) > total:
        keep.pop()
    starts: list[int | None] = [None] * len(lengths)
    if not keep:
        return starts
    slack = total - sum(lengths[i] for i in keep) - min_gap * (len(keep) - 1)
    cuts = np.sort(rng.integers(0, slack + 1, size=len(keep)))
    position, previous = 0, 0
    for i, cut in zip(keep, cuts.tolist(), strict=True):
        position += cut - previous
        starts[i] = position
        position += lengths[i] + min_gap
        previous = cut
    return starts


# --------------------------------------------------------------------------------------------
# Augmentation (pure functions on float32 clips)
# --------------------------------------------------------------------------------------------


def _level_db(x: np.ndarray) -> float:
    """RMS level in dBFS (as :func:`lib.audio.dbfs`), float32 arithmetic for speed."""
    ms = float(np.dot(x, x)) / max(len(x), 1)
    return 10.0 * math.log10(ms) if ms > 0 else -math.inf


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (shorter and higher for ``factor > 1``).

    Polyphase resampling (as ``scipy.signal.resample_poly``) with the factor rounded to a
    fraction with denominator <= 64.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    num, den = _limit_denominator(factor, 64)
    if num == den:
        return np.asarray(x, dtype=np.float32)
    return _resample(np.asarray(x, dtype=np.float32), den, num)


def _limit_denominator(value: float, max_denominator: int) -> tuple[int, int]:
    """``Fraction(value).limit_denominator(max_denominator)`` as ``(numerator, denominator)``:
    the same continued-fraction steps on plain integers (no Fraction objects, about 10x faster).
    """
    n, d = float(value).as_integer_ratio()
    if d <= max_denominator:
        return n, d
    num, den = n, d
    p0, q0, p1, q1 = 0, 1, 1, 0
    while True:
        a = n // d
        q2 = q0 + a * q1
        if q2 > max_denominator:
            break
        p0, q0, p1, q1 = p1, q1, p0 + a * p1, q2
        n, d = d, n - a * d
    k = (max_denominator - q0) // q1
    p2, q2 = p0 + k * p1, q0 + k * q1
    # |p1/q1 - num/den| <= |p2/q2 - num/den|, exactly; ties go to p1/q1 (as Fraction does)
    if abs(p1 * den - num * q1) * q2 <= abs(p2 * den - num * q2) * q1:
        return p1, q1
    return p2, q2


@functools.lru_cache(maxsize=64)
def _resample_filter(max_rate: int) -> np.ndarray:
    """The low-pass filter ``resample_poly(x, up, down)`` designs for itself (float64): it
    depends only on ``max_rate = max(up, down)`` (in lowest terms), so at most 64 are designed."""
    from scipy.signal import firwin

    taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    taps.setflags(write=False)
    return taps


@functools.lru_cache(maxsize=1024)
def _polyphase(up: int, down: int) -> tuple[np.ndarray, int]:
    """``resample_poly``'s filter for ``up / down`` (in lowest terms) as a matrix: ``(H, d0)``.

    Output sample ``up * s + p`` is ``sum(x[down * s + d0 + e] * H[e, p] for e)``: every block
    of ``up`` outputs is one row of input samples times ``H``, so the whole resampling is one
    float32 matrix product (BLAS), about 3x faster than ``upfirdn`` on a one-second clip.
    The constants are those of ``resample_poly`` (zero padding, ``n_pre_remove``).
    """
    h = _resample_filter(max(up, down)) * up
    n_taps = len(h)
    half_len = (n_taps - 1) // 2
    n_pre_pad = down - half_len % down
    # output j (after resample_poly's padding and trimming) reads h[j * down + offset - up * m]
    offset = (half_len + n_pre_pad) // down * down - n_pre_pad
    d0 = -((n_taps - 1 - offset) // up)  # ceil((offset - n_taps + 1) / up)
    d1 = ((up - 1) * down + offset) // up
    index = (np.arange(up) * down + offset)[None, :] - up * np.arange(d0, d1 + 1)[:, None]
    valid = (index >= 0) & (index < n_taps)
    matrix = np.where(valid, h[np.clip(index, 0, n_taps - 1)], 0.0).astype(np.float32)
    matrix.setflags(write=False)
    return matrix, d0


def _resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``resample_poly(x, up, down)`` of float32 ``x`` (default filter, zero padding), float32."""
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    matrix, d0 = _polyphase(up, down)
    n_in = len(x)
    n_out = -(-n_in * up // down)
    rows, width = -(-n_out // up), len(matrix)
    left = max(0, -d0)
    right = max(0, (rows - 1) * down + d0 + width - n_in)
    padded = np.zeros(left + n_in + right, dtype=np.float32)
    padded[left : left + n_in] = x
    windows = _strided(padded[left + d0 :], rows, width, down)
    # Rows overlap (width > down): BLAS needs them copied to a plain array first.
    return (np.ascontiguousarray(windows) @ matrix).reshape(-1)[:n_out]


def _strided(x: np.ndarray, rows: int, width: int, step: int) -> np.ndarray:
    """Read-only view of contiguous 1-D ``x``: row r is ``x[r * step : r * step + width]``
    (``as_strided`` without its overhead; the caller makes sure it stays inside ``x``)."""
    view = np.ndarray((rows, width), x.dtype, x, 0, (x.strides[0] * step, x.strides[0]))
    view.flags.writeable = False
    return view


def time_stretch(x: np.ndarray, rate: float | np.ndarray, n_fft: int = 512) -> np.ndarray:
    """Change the duration of ``x`` by ``1/rate`` keeping its pitch (an STFT phase vocoder).

    Hann window of ``n_fft`` samples, hop ``n_fft // 4``; output length ``round(len(x) / rate)``.
    ``rate`` may also be a curve: an array of rates spread evenly over the input (linearly
    interpolated between), so parts of the clip are stretched by different amounts (see
    :func:`random_tempo_curve`); the output then lasts the integral of ``1/rate``.
    """

    curve = np.asarray(rate, dtype=np.float64)
    if curve.ndim > 1 or curve.size == 0 or not np.all(curve > 0):
        raise ValueError(f"time-stretch rate must be positive, got {rate}")
    if n_fft < 8 or n_fft % 4:
        raise ValueError(f"n_fft must be a multiple of 4 and at least 8, got {n_fft}")
    x = np.asarray(x, dtype=np.float32)
    if curve.ndim == 1 and np.all(curve == curve[0]):
        curve = curve[0]  # a constant curve is a plain rate
    if len(x) < 4 or (curve.ndim == 0 and curve == 1.0):
        return x.copy()
    spec = _stft(x, n_fft)
    n_frames = len(spec)
    mag_in = np.abs(spec)
    if curve.ndim == 0:
        n_out = int(round(len(x) / float(curve)))
        steps = np.arange(0, n_frames - 1, float(curve))
    else:
        steps, n_out = _curve_steps(curve, n_frames, len(x))
    i = steps.astype(np.int64)
    frac = (steps - i).astype(np.float32)[:, None]
    mag = mag_in[i]
    mag *= 1 - frac
    upper = mag_in[i + 1]
    upper *= frac
    mag += upper
    phasor = _vocoder_phasors(spec, mag_in, i, n_fft)
    phasor *= mag
    out = _istft(phasor, n_fft)[n_fft // 2 : n_fft // 2 + n_out]
    if len(out) < n_out:
        out = np.pad(out, (0, n_out - len(out)))
    return out


def _curve_steps(curve: np.ndarray, n_frames: int, n_samples: int) -> tuple[np.ndarray, int]:
    """Input frame positions read by successive output frames under a rate curve, and the
    output length in samples: output time is the integral of ``1 / rate`` over the input."""
    grid = np.linspace(0.0, n_frames - 1, len(curve))
    pos = np.arange(n_frames, dtype=np.float64)
    inv = 1.0 / np.interp(pos, grid, curve)
    out_time = np.concatenate([[0.0], np.cumsum((inv[1:] + inv[:-1]) / 2)])  # trapezoids
    steps = np.interp(np.arange(0.0, out_time[-1]), out_time, pos)
    steps = steps[steps < n_frames - 1]
    n_out = int(round(n_samples * out_time[-1] / max(1.0, n_frames - 1)))
    return steps, n_out


def random_tempo_curve(rng: np.random.Generator, amount: float, knots: int = 3) -> np.ndarray:
    """A random rate curve for :func:`time_stretch`: ``knots`` rates, each a factor within
    ``1 +- amount`` (log-uniform), spread evenly over the clip, so different parts of a phrase
    (the "hey" and the "joe") get different speeds: one speaker draws out a word another
    clips."""
    top = np.log1p(amount)
    return np.exp(rng.uniform(-top, top, size=knots))


def _stft(x: np.ndarray, n_fft: int) -> np.ndarray:
    """Frames of ``x`` (padded by ``n_fft // 2`` in front, hop ``n_fft // 4``, periodic Hann)
    → their one-sided spectra, one row per frame."""
    import scipy.fft

    hop = n_fft // 4
    padded = np.zeros(len(x) + 2 * n_fft, dtype=np.float32)
    padded[n_fft // 2 : n_fft // 2 + len(x)] = x
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = _strided(padded, n_frames, n_fft, hop)
    return scipy.fft.rfft(frames * _periodic_hann(n_fft), axis=1, workers=1)


def _istft(spec: np.ndarray, n_fft: int) -> np.ndarray:
    """Spectra (one row per frame, hop ``n_fft // 4``) → windowed overlap-add, normalised by
    the squared windows; ``spec`` is used up. The signal starts ``n_fft // 2`` samples in."""
    import scipy.fft

    frames = scipy.fft.irfft(spec, n=n_fft, axis=1, workers=1, overwrite_x=True)
    frames = frames.astype(np.float32, copy=False)
    frames *= _periodic_hann(n_fft)
    # Overlap-add, vectorised: each frame is 4 hop-long blocks; block r of frame k lands at k + r.
    k = len(frames)
    blocks = frames.reshape(k, 4, n_fft // 4)
    out = np.zeros((k + 3, n_fft // 4), dtype=np.float32)
    for r in range(4):
        out[r : r + k] += blocks[:, r]
    _overlap_normalize(out, n_fft)
    return out.reshape(-1)


def _vocoder_phasors(spec: np.ndarray, mag_in: np.ndarray, i: np.ndarray, n_fft: int) -> np.ndarray:
    """The phase vocoder's unit phasors for output frames reading input frames ``i``, ``i + 1``.

    Frame k's phasor is ``start * prod(w[i[m]] for m < k)``: ``start`` is frame 0's phase and
    ``w[j]`` the phase advance from frame j to j + 1 (``z[j+1] conj(z[j])``, normalised; the
    bin's own advance where that is ~0). With ``V[j] = start * w[0] ... w[j-1]`` the product
    telescopes: it is ``V[i[k-1] + 1]`` times the advances of the frames read twice (or skipped),
    so the running product only runs over those (about ``|1 - rate|`` of the frames) instead of
    every output frame. ``V`` is the normalised spectrum itself except in (near) silent bins,
    where the advance falls back to the bin's own and ``V`` picks up a constant factor.
    """
    tiny = np.float32(1e-30)
    n_frames, n_bins = spec.shape
    # n = z / |z| (1 where z is 0 or denormal: its phase is meaningless)
    n = spec * (np.float32(1) / np.maximum(mag_in, np.float32(1e-38)))
    dead = mag_in <= np.float32(1e-38)
    if dead.any():
        n[dead] = 1
    # V / n before any fallback: 1, or conj(n[0]) in bins where frame 0 is (nearly) silent
    first = np.where(mag_in[0] > tiny, np.complex64(1), np.conj(n[0]))
    # Frames j -> j + 1 whose advance falls back to the bin's own (|z[j+1] z[j]| ~ 0).
    fallback = ~(mag_in[:-1] * mag_in[1:] > tiny)
    rows = np.flatnonzero(fallback.any(axis=1))
    if len(rows):
        # After fallback row j, V / n is times n[j] e conj(n[j+1]) in its fallback bins.
        jumps = n[rows] * _bin_advance(n_fft) * np.conj(n[rows + 1])
        factors = np.where(fallback[rows], jumps, np.complex64(1))
        factors[0] *= first
        np.cumprod(factors, axis=0, out=factors)
    v = n  # V = n * (V / n), the factor constant between fallback rows: made in place
    if not np.all(first == 1):
        v[: rows[0] + 1 if len(rows) else n_frames] *= first
    if len(rows):
        ends = [*rows[1:].tolist(), n_frames - 1]
        for factor, j, end in zip(factors, rows.tolist(), ends, strict=True):
            v[j + 1 : end + 1] *= factor
    # Output frame k: V[i[k-1] + 1] times the advances of frames read again or skipped.
    k = len(i)
    before = np.empty(k, dtype=np.int64)
    before[0] = -1
    before[1:] = i[:-1]
    phasor = v[before + 1]
    odd = np.flatnonzero(i[1:] != before[1:] + 1) + 1  # steps m that do not advance by one
    if len(odd):
        extra = v[before[odd] + 1] * np.conj(v[i[odd]])
        np.cumprod(extra, axis=0, out=extra)
        extra *= np.float32(1) / np.maximum(np.abs(extra), tiny)
        # phasor k takes the extras of steps m <= k - 1
        table = np.empty((len(odd) + 1, n_bins), dtype=np.complex64)
        table[0] = 1
        table[1:] = extra
        phasor *= table[np.searchsorted(odd, np.arange(k) - 1, side="right")]
    return phasor


def _overlap_normalize(out: np.ndarray, n_fft: int) -> None:
    """Divide an overlap-add of ``k = len(out) - 3`` frames (``(k + 3, hop)`` blocks) by the
    sum of the squared windows under each block (at least 1e-3), in place."""
    k = len(out) - 3
    head, full, tail = _overlap_sums(n_fft)
    if k < 3:
        w2 = (_periodic_hann(n_fft) ** 2).reshape(4, n_fft // 4)
        norm = np.zeros_like(out)
        for r in range(4):
            norm[r : r + k] += w2[r]
        out /= np.maximum(norm, np.float32(1e-3))
        return
    out[:3] /= head
    out[3:k] /= full
    out[k:] /= tail


@functools.lru_cache(maxsize=8)
def _overlap_sums(n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squared-window sums of the first 3 blocks, of any block with 4 frames over it, and of
    the last 3 blocks (at least 1e-3), each summed in frame order."""
    w2 = (_periodic_hann(n_fft) ** 2).reshape(4, n_fft // 4)
    sums = np.zeros((7, n_fft // 4), dtype=np.float32)  # rows 0-2 head, 3 full, 4-6 tail
    for r in range(4):
        sums[r:4] += w2[r]
        sums[4 : 4 + r] += w2[r]
    np.maximum(sums, np.float32(1e-3), out=sums)
    sums.setflags(write=False)
    return sums[:3], sums[3], sums[4:]


@functools.lru_cache(maxsize=8)
def _periodic_hann(n: int) -> np.ndarray:
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
    window.setflags(write=False)
    return window


@functools.lru_cache(maxsize=8)
def _bin_advance(n_fft: int) -> np.ndarray:
    """Each bin's phase advance over one hop (``n_fft // 4``), as a unit phasor."""
    hop = n_fft // 4
    advance = np.exp(1j * (2 * np.pi * hop / n_fft) * np.arange(n_fft // 2 + 1))
    advance = advance.astype(np.complex64)
    advance.setflags(write=False)
    return advance


def pitch_shift(x: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Shift the pitch of ``x`` by ``semitones`` keeping its duration (stretch, then resample)."""
    if semitones == 0:
        return np.asarray(x, dtype=np.float32)
    factor = 2.0 ** (semitones / 12.0)
    n_fft = 512 if sample_rate <= 24000 else 1024
    stretched = time_stretch(x, 1.0 / factor, n_fft=n_fft)
    out = change_speed(stretched, factor)
    n = len(x)
    return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


def random_formant_warp(
    rng: np.random.Generator, amount: float, sample_rate: int, knots: int = 4
) -> np.ndarray:
    """A random monotonic frequency map for :func:`formant_warp`: (knots + 2) x 2 points.

    Inner knots spread evenly on a mel-like scale up to 5 kHz each move by a factor in
    ``1 +- amount``; 0 Hz and Nyquist stay put. Different formants move by different amounts,
    unlike a uniform vocal-tract-length stretch."""
    nyquist = sample_rate / 2
    mel = np.linspace(0.0, 2595 * np.log10(1 + min(5000.0, nyquist * 0.8) / 700), knots + 1)[1:]
    src = 700 * (10 ** (mel / 2595) - 1)
    dst = src * rng.uniform(1 - amount, 1 + amount, size=knots)
    dst = np.maximum.accumulate(np.clip(dst, 50.0, nyquist * 0.95))
    dst = dst + np.arange(knots) * 1e-3  # strictly increasing
    return np.stack(
        [np.concatenate([[0.0], src, [nyquist]]), np.concatenate([[0.0], dst, [nyquist]])], 1
    ).astype(np.float64)


def formant_warp(
    x: np.ndarray, points: np.ndarray, sample_rate: int, n_fft: int = 512, lifter: int = 24
) -> np.ndarray:
    """Move the spectral envelope of ``x`` along a frequency map, keeping pitch and timing.

    ``points``: rows (source Hz, destination Hz), increasing (see :func:`random_formant_warp`);
    what the envelope has at a source frequency it gets at the destination. Each STFT frame's
    envelope is its cepstrally smoothed log magnitude (``lifter`` coefficients); the frame is
    multiplied by warped envelope / envelope, so harmonics (the pitch) stay where they are
    while the formants move: a pseudo-speaker with another vocal tract.
    """
    import scipy.fft

    x = np.asarray(x, dtype=np.float32)
    if len(x) < n_fft:
        return x.copy()
    spec = _stft(x, n_fft)
    log_mag = np.log(np.abs(spec) + 1e-7)
    cep = scipy.fft.irfft(log_mag, n=n_fft, axis=1, workers=1)
    cep[:, lifter + 1 : n_fft - lifter] = 0.0
    env = scipy.fft.rfft(cep, axis=1, workers=1).real
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    # the envelope at destination f is the old one at the source frequency that maps to f
    source_of = np.interp(freqs, points[:, 1], points[:, 0])
    pos = source_of / (sample_rate / n_fft)
    lo = np.clip(pos.astype(np.int64), 0, n_fft // 2 - 1)
    frac = (pos - lo)[None, :]
    warped = env[:, lo] * (1 - frac) + env[:, lo + 1] * frac
    spec *= np.exp(np.clip(warped - env, -6.0, 6.0)).astype(np.float32)
    y = _istft(spec, n_fft)[n_fft // 2 : n_fft // 2 + len(x)]
    # same level as the input
    rms_in, rms_out = float(np.sqrt(np.mean(x * x))), float(np.sqrt(np.mean(y * y)))
    return (y * np.float32(rms_in / rms_out) if rms_out > 0 else y).astype(np.float32)


def add_onset_noise(
    x: np.ndarray,
    rng: np.random.Generator,
    level_db: tuple[float, float] = (-24.0, -6.0),
    sample_rate: int = 16000,
) -> np.ndarray:
    """A short burst of breath-like noise before (and into) the clip's first sound.

    Speakers' word onsets differ: a breathy or strongly fricated /h/, a lip smack, an intake
    of breath. The burst lasts 30-150 ms, ends up to 40 ms into the sound, is low-passed at a
    random 2.5-8 kHz and sits ``level_db`` (drawn in the range) relative to the clip's RMS;
    the clip grows by the part before its onset.
    """
    from scipy.signal import butter, sosfilt

    x = np.asarray(x, dtype=np.float32)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0
    if rms == 0.0:
        return x.copy()
    hop = max(1, sample_rate // 100)
    frames = np.abs(x[: len(x) // hop * hop]).reshape(-1, hop).max(axis=1)
    onset = int(np.argmax(frames >= 0.1 * frames.max())) * hop if len(frames) else 0
    n = int(rng.uniform(0.03, 0.15) * sample_rate)
    into = min(int(rng.uniform(0.0, 0.04) * sample_rate), n, len(x) - onset)
    cutoff = min(float(rng.uniform(2500.0, 8000.0)), 0.45 * sample_rate)
    sos = butter(4, cutoff, btype="low", fs=sample_rate, output="sos")
    burst = sosfilt(sos, rng.standard_normal(n + 256))[256:]
    burst *= np.hanning(n)
    burst *= (
        rms
        * 10.0 ** (float(rng.uniform(*level_db)) / 20.0)
        / max(1e-12, float(np.sqrt(np.mean(burst**2))))
    )
    lead = max(0, n - into - onset)  # samples added in front of the clip
    y = np.concatenate([np.zeros(lead, np.float32), x])
    start = lead + onset + into - n
    y[start : start + n] += burst.astype(np.float32)
    return y


def scale_fricatives(
    x: np.ndarray,
    gain_db: float,
    sample_rate: int = 16000,
    cutoff_hz: float = 2000.0,
    n_fft: int = 256,
) -> np.ndarray:
    """Make the clip's fricatives and affricate releases weaker (or stronger) by ``gain_db``.

    Speakers differ in how hard they fricate: one speaker's /dʒ/ in "joe" is a long hiss,
    another's a short faint one (``ked_diphone``'s, next to ``kal_diphone``'s). A frame is
    fricative where its energy above ``cutoff_hz`` exceeds its energy below 1 kHz (no voicing
    dominates) and it is not silence (within 50 dB of the loudest frame); those frames, and one
    either side, have what lies above the cutoff scaled by ``gain_db``, with a half-octave ramp
    below it. Vowels, voicing, timing and pitch stay as they are. Applied to every clip alike
    (positives and negatives), it is a speaker property, not a cue for the label.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n_fft or gain_db == 0.0:
        return x.copy()
    spec = _stft(x, n_fft)
    power = spec.real**2 + spec.imag**2
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    high = power[:, freqs >= cutoff_hz].sum(axis=1)
    low = power[:, (freqs >= 300.0) & (freqs < 1000.0)].sum(axis=1)  # F1, not a voice bar
    total = power.sum(axis=1)
    loud = total > total.max() * 1e-5 if total.max() > 0 else np.zeros(len(total), bool)
    mask = (high > low) & loud
    mask[1:] |= mask[:-1].copy()
    mask[:-1] |= mask[1:].copy()
    if not mask.any():
        return x.copy()
    # the gain in dB per bin: 0 up to cutoff / sqrt(2), gain_db from the cutoff, linear between
    ramp = np.clip((np.log2(np.maximum(freqs, 1.0) / cutoff_hz) + 0.5) / 0.5, 0.0, 1.0)
    spec[mask] *= (10.0 ** (gain_db * ramp / 20.0)).astype(np.float32)
    y = _istft(spec, n_fft)[n_fft // 2 : n_fft // 2 + len(x)]
    return np.ascontiguousarray(y, dtype=np.float32)


def room_impulse_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: a direct path, a few early reflections, exponentially decaying noise.

    The tail decays by 60 dB over ``rt60`` seconds (the response is ``rt60`` long); its energy
    is 0.2-1.0 times the direct path's.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    n = max(int(rt60 * sample_rate), 2)
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    tail = rng.standard_normal(n).astype(np.float32) * np.exp(-math.log(1000.0) * t / rt60)
    onset = min(int(0.002 * sample_rate) + 1, n - 1)
    tail[:onset] = 0.0
    energy = float(np.dot(tail, tail))
    if energy > 0:
        tail *= np.float32(math.sqrt(rng.uniform(0.2, 1.0) / energy))
    ir = tail
    ir[0] = 1.0
    for _ in range(int(rng.integers(2, 6))):
        delay = int(rng.uniform(0.002, 0.03) * sample_rate)
        if 0 < delay < n:
            sign = np.float64((-1.0, 1.0)[int(rng.integers(0, 2))])  # = rng.choice((-1.0, 1.0))
            ir[delay] += sign * rng.uniform(0.15, 0.6)  # (in float64, as before)
    return ir


def add_reverb(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve ``x`` with ``ir``; the output keeps the reverb tail (``len(x) + len(ir) - 1``).

    One FFT product at a length whose FFT is fast here (``m * 2**k``, ``m`` in
    :data:`_FAST_FFT_FACTORS`), float32 throughout.
    """
    import scipy.fft

    x = np.asarray(x, dtype=np.float32)
    ir = np.asarray(ir, dtype=np.float32)
    if len(x) == 0 or len(ir) == 0:
        return np.zeros(0, dtype=np.float32)
    n = len(x) + len(ir) - 1
    if min(len(x), len(ir)) <= 32:
        return np.convolve(x, ir).astype(np.float32, copy=False)
    size = _fast_fft_length(n)
    spectrum = scipy.fft.rfft(x, size, workers=1)
    spectrum *= scipy.fft.rfft(ir, size, workers=1)
    return scipy.fft.irfft(spectrum, size, workers=1, overwrite_x=True)[:n]


#: Odd factors ``m`` of the FFT lengths ``m * 2**k`` :func:`add_reverb` uses: pocketfft's
#: single float32 transforms of these lengths were the fastest measured (``next_fast_len``'s
#: 5-smooth lengths such as 22500 took up to twice as long as the next length of this form).
_FAST_FFT_FACTORS = (1, 3, 5, 7, 9, 15, 25)


@functools.lru_cache(maxsize=4096)
def _fast_fft_length(n: int) -> int:
    """The smallest ``m * 2**k >= n`` with ``m`` in :data:`_FAST_FFT_FACTORS`."""
    best = 1 << max(n - 1, 0).bit_length()
    for m in _FAST_FFT_FACTORS[1:]:
        size = m << max(0, (-(-n // m) - 1).bit_length())
        best = min(best, size)
    return best


# --------------------------------------------------------------------------------------------
# The corpus in memory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One source clip, resampled to the synthesis sample rate."""

    path: str  # relative to the raw corpus folder
    kind: str  # "activate", "negative" or "background"
    audio: np.ndarray
    engine: str = ""


@dataclass
class Corpus:
    """The clips of one split, loaded once; bad clips are listed in ``skipped``."""

    activates: list[Clip]
    negatives: list[Clip]
    backgrounds: list[Clip]
    sample_rate: int
    split: str = "train"
    raw_dir: Path | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = _array_fingerprint(
                self.activates + self.negatives + self.backgrounds
            )

    def check(self, where: str = "", *, need_activates: bool = True) -> None:
        """Raise DatasetError if a kind needed for synthesis has no clips."""
        needed = ["activates", "backgrounds"] if need_activates else ["backgrounds"]
        empty = [k for k in needed if not getattr(self, k)]
        if empty:
            place = where or str(self.raw_dir or "the corpus")
            skipped = (
                f" ({len(self.skipped)} clips skipped: see Corpus.skipped)" if self.skipped else ""
            )
            raise DatasetError(
                f"no usable {' or '.join(empty)} for split {self.split!r} in {place}{skipped}; "
                "build the raw corpus first (lib.corpus.bootstrap_corpus) or choose another split"
            )

    def summary(self) -> dict[str, Any]:
        """Counts per kind and per engine, the clips used and the clips skipped (for manifests)."""
        per_kind: dict[str, dict[str, int]] = {}
        for clip in self.activates + self.negatives + self.backgrounds:
            engines = per_kind.setdefault(clip.kind, {})
            engines[clip.engine or "unknown"] = engines.get(clip.engine or "unknown", 0) + 1
        return {
            "split": self.split,
            "raw_dir": str(self.raw_dir) if self.raw_dir else None,
            "fingerprint": self.fingerprint,
            "counts": {
                "activate": len(self.activates),
                "negative": len(self.negatives),
                "background": len(self.backgrounds),
            },
            "counts_per_engine": per_kind,
            "clips": {
                "activate": [c.path for c in self.activates],
                "negative": [c.path for c in self.negatives],
                "background": [c.path for c in self.backgrounds],
            },
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }

    @classmethod
    def from_arrays(
        cls,
        activates: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray],
        backgrounds: Sequence[np.ndarray],
        sample_rate: int,
        split: str = "train",
    ) -> Corpus:
        """A corpus from arrays already at ``sample_rate`` (tests, benchmarks, notebooks)."""

        def clips(kind: str, arrays: Sequence[np.ndarray]) -> list[Clip]:
            return [
                Clip(f"{kind}s/{i:04d}", kind, np.ascontiguousarray(a, dtype=np.float32))
                for i, a in enumerate(arrays)
            ]

        return cls(
            clips("activate", activates),
            clips("negative", negatives),
            clips("background", backgrounds),
            sample_rate=sample_rate,
            split=split,
        )


def _array_fingerprint(clips: Sequence[Clip]) -> str:
    h = hashlib.sha1()
    for c in clips:
        h.update(f"{c.kind}|{c.path}|{len(c.audio)}|".encode())
        h.update(np.ascontiguousarray(c.audio, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def _kind(value: str) -> str:
    kind = str(value).strip().lower()
    return kind[:-1] if kind.endswith("s") else kind


def _split_records(
    raw_dir: Path,
    split: str,
    engines: Sequence[str] | None = None,
    exclude_phrases: Sequence[str] | None = None,
) -> list[Any]:
    """The manifest records of ``split``; with ``engines``, activates and negatives only from
    those engines (backgrounds always); clips saying one of ``exclude_phrases`` left out."""
    from lib.corpus import load_manifest, normalise_text

    records = load_manifest(raw_dir)
    keep = set(engines) if engines is not None else None
    drop = {normalise_text(t) for t in exclude_phrases or ()}
    return [
        r
        for r in records
        if r.split == split
        and _kind(r.kind) in KINDS
        and (
            keep is None
            or _kind(r.kind) == "background"
            or str(getattr(r, "engine", "") or "user") in keep
        )
        and (
            not drop
            or _kind(r.kind) == "background"
            or normalise_text(getattr(r, "text", "") or "") not in drop
        )
    ]


def source_fingerprint(
    raw_dir: Path | str | None = None,
    split: str = "train",
    engines: Sequence[str] | None = None,
    exclude_phrases: Sequence[str] | None = None,
) -> str:
    """A short hash of the clips of ``split`` in the raw corpus (paths and file sizes).

    Changes when a clip is added, removed or rewritten, without reading any audio.
    """
    raw_dir = Path(raw_dir) if raw_dir else paths.raw_dir()
    h = hashlib.sha1()
    records = _split_records(raw_dir, split, engines, exclude_phrases)
    for r in sorted(records, key=lambda r: str(r.path)):
        p = raw_dir / r.path
        size = p.stat().st_size if p.is_file() else -1
        h.update(f"{_kind(r.kind)}|{r.path}|{size}\n".encode())
    return h.hexdigest()[:16]


def load_corpus(
    raw_dir: Path | str | None = None,
    split: str = "train",
    sample_rate: int = 16000,
    max_clip_seconds: float | None = None,
    *,
    need_activates: bool = True,
    engines: Sequence[str] | None = None,
    exclude_phrases: Sequence[str] | None = None,
) -> Corpus:
    """Load the clips of ``split`` listed in the raw corpus manifest, resampled to ``sample_rate``.

    ``engines``: activates and negatives only from these engines (``espeak``, ``flite``,
    ``festival``, ``user`` for recordings dropped in); backgrounds are always loaded.
    ``exclude_phrases``: activates and negatives saying one of these are left out.

    Unreadable clips, and activates/negatives longer than ``max_clip_seconds`` (they would not
    fit in an example), are skipped and listed in ``Corpus.skipped`` (one warning names them).
    Raises DatasetError naming the split and the folder if no activates or backgrounds remain.
    """
    from lib.audio import load_audio

    raw_dir = Path(raw_dir) if raw_dir else paths.raw_dir()
    records = _split_records(raw_dir, split, engines, exclude_phrases)
    by_kind: dict[str, list[Clip]] = {k: [] for k in KINDS}
    skipped: list[tuple[str, str]] = []
    for r in records:
        kind = _kind(r.kind)
        try:
            audio = load_audio(raw_dir / r.path, sample_rate, allow_silent=kind == "background")
        except AudioError as exc:
            skipped.append((str(r.path), str(exc).removeprefix(f"{raw_dir / r.path}: ")))
            continue
        seconds = len(audio) / sample_rate
        if kind != "background" and max_clip_seconds is not None and seconds > max_clip_seconds:
            skipped.append(
                (
                    str(r.path),
                    f"{seconds:.2f} s long, longer than the example ({max_clip_seconds:g} s)",
                )
            )
            continue
        by_kind[kind].append(Clip(str(r.path), kind, audio, str(getattr(r, "engine", "") or "")))
    if skipped:
        lines = "\n".join(f"  {p}: {why}" for p, why in skipped)
        log.warning(
            "skipped %d of %d clips of split %r in %s:\n%s",
            len(skipped),
            len(records),
            split,
            raw_dir,
            lines,
        )
    corpus = Corpus(
        by_kind["activate"],
        by_kind["negative"],
        by_kind["background"],
        sample_rate=sample_rate,
        split=split,
        raw_dir=raw_dir,
        skipped=skipped,
        fingerprint=source_fingerprint(raw_dir, split, engines, exclude_phrases),
    )
    corpus.check(str(raw_dir), need_activates=need_activates)
    return corpus


def corpus_for(cfg: SynthesisConfig, raw_dir: Path | str | None = None) -> Corpus:
    """The corpus a config needs: its split, at its sample rate, clips that fit an example."""
    return load_corpus(
        raw_dir,
        cfg.split,
        cfg.sample_rate,
        max_clip_seconds=cfg.example_seconds,
        need_activates=cfg.activates_per_example[1] > 0,
        engines=cfg.engines,
        exclude_phrases=cfg.exclude_phrases,
    )


# --------------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------------


def _background(clip: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of a background: a random cut of a longer clip, a shorter one looped."""
    if len(clip) >= n:
        start = int(rng.integers(len(clip) - n + 1))
        return clip[start : start + n].astype(np.float32, copy=True)
    reps = -(-n // len(clip))
    start = int(rng.integers(len(clip)))
    return np.tile(clip, reps + 1)[start : start + n].astype(np.float32, copy=True)


def _augment_clip(
    x: np.ndarray, cfg: SynthesisConfig, rng: np.random.Generator, level_db: float
) -> tuple[np.ndarray, int]:
    """Speed, pitch, formants, tempo curve, onset noise, fricatives, reverb and level of one clip →
    (wet audio, dry speech length)."""
    if rng.random() < cfg.speed_probability:
        x = change_speed(x, float(rng.uniform(*cfg.speed_range)))
    if rng.random() < cfg.pitch_probability:
        x = pitch_shift(x, float(rng.uniform(*cfg.pitch_semitones)), cfg.sample_rate)
    # drawn only when enabled, so datasets built without it keep their random stream
    if cfg.formant_probability > 0 and rng.random() < cfg.formant_probability:
        warp = random_formant_warp(rng, cfg.formant_warp, cfg.sample_rate)
        x = formant_warp(x, warp, cfg.sample_rate)
    if cfg.tempo_probability > 0 and rng.random() < cfg.tempo_probability:
        x = time_stretch(x, random_tempo_curve(rng, cfg.tempo_warp))
    if cfg.onset_noise_probability > 0 and rng.random() < cfg.onset_noise_probability:
        x = add_onset_noise(x, rng, cfg.onset_noise_db, cfg.sample_rate)
    if cfg.fricative_probability > 0 and rng.random() < cfg.fricative_probability:
        x = scale_fricatives(x, float(rng.uniform(*cfg.fricative_db)), cfg.sample_rate)
    dry = len(x)
    if rng.random() < cfg.reverb_probability:
        ir = room_impulse_response(float(rng.uniform(*cfg.rt60_seconds)), cfg.sample_rate, rng)
        x = add_reverb(x, ir)
    level = level_db
    if rng.random() < cfg.gain_probability:
        level += float(rng.uniform(*cfg.gain_db))
    current = _level_db(x)
    if current > -math.inf:
        x = x * np.float32(10.0 ** ((level - current) / 20.0))
    return x.astype(np.float32, copy=False), dry


def synthesize_example(
    cfg: SynthesisConfig,
    corpus: Corpus,
    rng: np.random.Generator,
    *,
    feature_config: Any = None,
    compute_features: bool = True,
) -> Example:
    """One labelled example from ``corpus``; every random choice is drawn from ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if corpus.sample_rate != cfg.sample_rate:
        raise ValueError(
            f"the corpus is at {corpus.sample_rate} Hz but sample_rate is {cfg.sample_rate}"
        )
    corpus.check(need_activates=cfg.activates_per_example[1] > 0)
    sr, n = cfg.sample_rate, cfg.n_samples

    bg_clip = corpus.backgrounds[int(rng.integers(len(corpus.backgrounds)))]
    mix = _background(bg_clip.audio, n, rng)
    if cfg.background_correction:
        bg_level = cfg.background_dbfs
        if rng.random() < cfg.snr_probability:
            bg_level = cfg.target_dbfs - float(rng.uniform(*cfg.snr_db))
        current = _level_db(mix)
        if current > _SILENT_DBFS:
            mix *= np.float32(10.0 ** ((bg_level - current) / 20.0))

    n_act = int(rng.integers(cfg.activates_per_example[0], cfg.activates_per_example[1] + 1))
    n_neg = int(rng.integers(cfg.negatives_per_example[0], cfg.negatives_per_example[1] + 1))
    activates = [corpus.activates[int(rng.integers(len(corpus.activates)))] for _ in range(n_act)]
    negatives: list[Clip] = []
    if corpus.negatives:
        negatives = [
            corpus.negatives[int(rng.integers(len(corpus.negatives)))] for _ in range(n_neg)
        ]

    gap = int(round(cfg.min_gap_seconds * sr))
    events: list[Event] = []
    busy: list[tuple[int, int]] = []

    def overlay(clip: Clip, wet: np.ndarray, dry: int, start: int) -> None:
        mix[start : start + len(wet)] += wet
        busy.append((start, start + len(wet)))
        events.append(Event(clip.kind, start / sr, min(start + dry, n) / sr, clip.path))

    # Activates first, spread together so they all fit whenever they can; then negatives in
    # the room left, each dropped if none is left.
    augmented = [_augment_clip(c.audio, cfg, rng, cfg.target_dbfs) for c in activates]
    starts = place_together([len(w[:n]) for w, _ in augmented], n, rng, min_gap=gap)
    for clip, (wet, dry), start in zip(activates, augmented, starts, strict=True):
        if start is not None:
            overlay(clip, wet[:n], dry, start)
    for clip in negatives:
        wet, dry = _augment_clip(clip.audio, cfg, rng, cfg.target_dbfs)
        (start,) = place_segments([len(wet[:n])], n, rng, min_gap=gap, occupied=busy)
        if start is not None:
            overlay(clip, wet[:n], dry, start)
    dropped = n_act + len(negatives) - len(events)
    events.sort(key=lambda e: e.start_s)

    level = _level_db(mix)
    peak_limited = False
    if level > -math.inf:
        mix *= np.float32(10.0 ** ((cfg.target_dbfs - level) / 20.0))
        peak = max(float(mix.max()), -float(mix.min()))  # max |mix|, without a temporary
        if peak > 0.999:
            mix *= np.float32(0.999 / peak)
            peak_limited = True

    labels = labels_from_events(events, cfg.label_steps, cfg.example_seconds, cfg.label_ones)
    features = None
    if compute_features:
        from lib.features import compute_features as _features

        features = _features(mix, feature_config or cfg.feature_config())
        features = np.asarray(features, dtype=np.float32)  # no copy: already float32
    return Example(mix, features, labels, events, bg_clip.path, dropped, peak_limited)


def fresh_examples(
    cfg: SynthesisConfig,
    seed: int,
    epoch: int,
    *,
    corpus: Corpus | None = None,
    n: int | None = None,
    raw_dir: Path | str | None = None,
    compute_features: bool = True,
) -> Iterator[Example]:
    """New examples on the fly: ``(seed, epoch)`` fixes the stream (``n`` long, or endless).

    Training can ask for ``epoch=0, 1, 2, ...`` to see new examples every epoch, and get the
    same ones again on a rerun.
    """
    corpus = corpus if corpus is not None else corpus_for(cfg, raw_dir)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    fc = cfg.feature_config() if compute_features else None
    count = 0
    while n is None or count < n:
        yield synthesize_example(
            cfg, corpus, rng, feature_config=fc, compute_features=compute_features
        )
        count += 1


class FreshSource:
    """Examples synthesized on demand, read like a stored dataset (``features_and_events(i)``,
    ``features(i)``, ``events(i)``, ``feature_config``, ``feature_shape``, ``manifest``) so
    training can mix them with named datasets. Example ``i`` is a function of
    ``(cfg.seed, i)`` only: a resumed run sees the same examples, and a trainer that asks for
    new indices every epoch never sees one twice. ``len()`` is ``cfg.n_examples`` (what an
    epoch counts it as)."""

    name = "fresh"

    def __init__(
        self, cfg: SynthesisConfig, raw_dir: Path | str | None = None, corpus: Corpus | None = None
    ) -> None:
        self.cfg = cfg
        self.corpus = corpus if corpus is not None else corpus_for(cfg, raw_dir)
        self.path = self.corpus.raw_dir
        self.feature_config = cfg.feature_config()
        self.feature_shape = (
            self.feature_config.frames_for(cfg.n_samples),
            self.feature_config.n_bins,
        )
        params = dataclasses.asdict(cfg)
        text = json.dumps(params, sort_keys=True, default=str)
        recipe = hashlib.sha1(f"{text}|{self.corpus.fingerprint}".encode()).hexdigest()[:16]
        self.manifest = {
            "created": f"on the fly {recipe}",
            "split": cfg.split,
            "parameters": params,
            "sources": {"fingerprint": self.corpus.fingerprint},
        }

    def __len__(self) -> int:
        return self.cfg.n_examples

    def features_and_events(self, i: int) -> tuple[np.ndarray, list[Event]]:
        """(features, events) of example ``i``, from one synthesis."""
        rng = np.random.default_rng(np.random.SeedSequence([int(self.cfg.seed), int(i), 23]))
        ex = synthesize_example(self.cfg, self.corpus, rng, feature_config=self.feature_config)
        return ex.features, ex.events

    def features(self, i: int) -> np.ndarray:
        return self.features_and_events(i)[0]

    def events(self, i: int) -> list[Event]:
        return self.features_and_events(i)[1]


def fresh_tf_dataset(
    cfg: SynthesisConfig,
    seed: int,
    epoch: int,
    *,
    corpus: Corpus | None = None,
    n: int | None = None,
    batch_size: int = 32,
    raw_dir: Path | str | None = None,
) -> Any:
    """:func:`fresh_examples` as a ``tf.data.Dataset`` of (features, labels[..., None]), float32.

    Iterating the dataset again restarts the same ``(seed, epoch)`` stream; build one per epoch.
    """
    import tensorflow as tf

    corpus = corpus if corpus is not None else corpus_for(cfg, raw_dir)
    fc = cfg.feature_config()
    frames, bins = fc.frames_for(cfg.n_samples), fc.n_bins

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ex in fresh_examples(cfg, seed, epoch, corpus=corpus, n=n):
            yield ex.features, ex.labels.astype(np.float32)[:, None]

    ds = tf.data.Dataset.from_generator(
        gen,
        output_signature=(
            tf.TensorSpec((frames, bins), tf.float32),
            tf.TensorSpec((cfg.label_steps, 1), tf.float32),
        ),
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
