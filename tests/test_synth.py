"""Tests for lib.synth: labels, placement, augmentation, every synthesis parameter, seeds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from lib import paths, synth
from lib.audio import dbfs, write_wav
from lib.config import load_config
from lib.corpus import ClipRecord, write_manifest
from lib.errors import ConfigError, DatasetError
from lib.features import FeatureConfig, compute_features
from lib.synth import (
    Corpus,
    Event,
    SynthesisConfig,
    add_onset_noise,
    formant_warp,
    fresh_examples,
    labels_from_events,
    load_corpus,
    pitch_shift,
    place_segments,
    place_together,
    random_formant_warp,
    random_tempo_curve,
    room_impulse_response,
    scale_fricatives,
    synthesize_example,
    time_stretch,
)

SR = 8000  # small sample rate keeps the tests fast

# Everything off: each test turns on what it looks at.
PLAIN = dict(
    sample_rate=SR,
    example_seconds=4.0,
    activates_per_example=(1, 1),
    negatives_per_example=(0, 0),
    min_gap_seconds=0.05,
    gain_probability=0.0,
    snr_probability=0.0,
    reverb_probability=0.0,
    speed_probability=0.0,
    pitch_probability=0.0,
    background_correction=True,
    background_dbfs=-40.0,
    target_dbfs=-30.0,
    label_steps=400,
    label_ones=10,
)


def cfg_with(**changes) -> SynthesisConfig:
    return SynthesisConfig(**{**PLAIN, **changes})


def tone(seconds: float, freq: float, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    """A steady tone with 10 ms fades: its level is the same everywhere."""
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    fade = int(0.01 * sr)
    ramp = np.linspace(0, 1, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    return x.astype(np.float32)


def noise(seconds: float, sr: int = SR, std: float = 0.05, seed: int = 9) -> np.ndarray:
    return (std * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_arrays(
        [tone(0.5, 600), tone(0.6, 500)],
        [tone(0.4, 300), tone(0.3, 900)],
        [noise(6.0), noise(3.0, seed=4)],
        SR,
    )


def make(cfg: SynthesisConfig, corpus: Corpus, seed: int = 0, features: bool = False):
    return synthesize_example(cfg, corpus, np.random.default_rng(seed), compute_features=features)


def region_db(ex, event: Event, sr: int = SR) -> float:
    a, b = int(event.start_s * sr), int(event.end_s * sr)
    margin = int(0.02 * sr)
    return dbfs(ex.audio[a + margin : b - margin])


def background_db(ex, sr: int = SR, tail: float = 0.7) -> float:
    """Level of the mix outside every event (and its reverb tail)."""
    mask = np.ones(len(ex.audio), dtype=bool)
    for e in ex.events:
        mask[int(e.start_s * sr) : int((e.end_s + tail) * sr)] = False
    return dbfs(ex.audio[mask])


# ------------------------------------------------------------------------------- labels


def test_labels_hand_worked_activate_at_five_seconds():
    y = labels_from_events([Event("activate", 4.0, 5.0, "a")], 1375, 10.0, 50)
    first = int(5.0 * 1375 / 10)  # 687
    assert first == 687
    assert y.dtype == np.uint8 and y.shape == (1375,)
    assert np.flatnonzero(y).tolist() == list(range(687, 737))


def test_labels_clipped_at_the_end_and_negatives_ignored():
    events = [("activate", 9.0, 9.9, "a"), ("negative", 1.0, 2.0, "n")]
    y = labels_from_events(events, 1375, 10.0, 50)
    assert np.flatnonzero(y).tolist() == list(range(1361, 1375))  # int(9.9 * 137.5) = 1361
    assert labels_from_events([("negative", 1.0, 2.0, "n")], 100, 10.0, 5).sum() == 0


def test_labels_other_resolutions_and_overlapping_windows():
    y = labels_from_events([("activate", 0, 1.0, "a"), ("activate", 1, 1.2, "a")], 10, 2.0, 3)
    # ends at steps int(1.0*5)=5 and int(1.2*5)=6: windows 5-7 and 6-8 merge
    assert y.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]
    assert labels_from_events([("activate", 0, 1.0, "a")], 10, 2.0, 0).sum() == 0
    with pytest.raises(ValueError, match="label_steps"):
        labels_from_events([], 0, 10.0, 5)


# ------------------------------------------------------------------------------- placement


def test_place_segments_never_overlaps_and_keeps_the_gap():
    rng = np.random.default_rng(1)
    for _ in range(50):
        lengths = rng.integers(5, 40, size=6)
        starts = place_segments(lengths, 200, rng, min_gap=3)
        spans = sorted(
            (s, s + int(n)) for s, n in zip(starts, lengths, strict=True) if s is not None
        )
        assert all(0 <= a and b <= 200 for a, b in spans)
        assert all(b1 + 3 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))


def test_place_segments_drops_what_does_not_fit_and_respects_occupied():
    rng = np.random.default_rng(0)
    assert place_segments([60, 60], 100, rng)[1] is None
    starts = place_segments([10] * 20, 100, rng, occupied=[(0, 50)])
    placed = [s for s in starts if s is not None]
    assert all(50 <= s <= 90 for s in placed) and 3 <= len(placed) <= 5
    a = place_segments([10, 20, 30], 500, np.random.default_rng(7), min_gap=5)
    assert a == place_segments([10, 20, 30], 500, np.random.default_rng(7), min_gap=5)
    assert len({place_segments([10], 500, np.random.default_rng(s))[0] for s in range(20)}) > 10


def test_place_together_fits_everything_that_can_fit():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        starts = place_together([90, 90, 90, 90], 375, rng, min_gap=5)  # 360 + 15 = 375: tight
        assert None not in starts
        spans = sorted((s, s + 90) for s in starts)
        assert spans[0][0] >= 0 and spans[-1][1] <= 375
        assert all(b + 5 <= a for (_, b), (a, _) in zip(spans, spans[1:], strict=False))
    dropped = place_together([90, 90, 90, 90, 90], 375, np.random.default_rng(0), min_gap=5)
    assert dropped.count(None) == 1
    firsts = {place_together([10, 10], 1000, np.random.default_rng(s))[0] for s in range(20)}
    assert len(firsts) > 10


# ------------------------------------------------------------------------------- augmentation


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def test_time_stretch_and_pitch_shift():
    x = tone(1.0, 440, sr=16000)
    slow = time_stretch(x, 0.8)
    assert len(slow) == 20000 and abs(dominant_hz(slow, 16000) - 440) < 3
    up = pitch_shift(x, 4.0, 16000)
    assert len(up) == len(x)
    assert abs(dominant_hz(up, 16000) - 440 * 2 ** (4 / 12)) < 5
    assert abs(dominant_hz(pitch_shift(x, -3.0, 16000), 16000) - 440 * 2 ** (-3 / 12)) < 5


def _vowel(f0: float, formant: float, seconds: float = 0.6, sr: int = 16000) -> np.ndarray:
    """A buzz at ``f0`` through one resonance at ``formant`` Hz (a crude vowel)."""
    from scipy.signal import lfilter

    n = int(seconds * sr)
    pulses = np.zeros(n)
    pulses[:: int(sr / f0)] = 1.0
    r, theta = 0.97, 2 * np.pi * formant / sr
    y = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], pulses)
    return (0.1 * y / np.abs(y).max()).astype(np.float32)


def _envelope_peak_hz(x: np.ndarray, sr: int = 16000) -> float:
    from scipy.signal import lfilter

    spec = np.abs(np.fft.rfft(x[: sr // 2] * np.hanning(sr // 2)))
    smooth = lfilter(np.ones(41) / 41, [1.0], spec)  # over several harmonics
    return float((np.argmax(smooth) - 20) * sr / (sr // 2))


def test_formant_warp_moves_the_envelope_keeps_pitch_length_and_level():
    x = _vowel(120.0, 1000.0)
    identity = np.array([[0.0, 0.0], [8000.0, 8000.0]])
    np.testing.assert_allclose(formant_warp(x, identity, 16000), x, atol=1e-5)
    up = np.array([[0.0, 0.0], [1000.0, 1250.0], [8000.0, 8000.0]])
    y = formant_warp(x, up, 16000)
    assert len(y) == len(x) and float(np.sqrt(np.mean(y**2))) == pytest.approx(
        float(np.sqrt(np.mean(x**2))), rel=1e-3
    )
    assert abs(_envelope_peak_hz(x) - 1000) < 100
    assert abs(_envelope_peak_hz(y) - 1250) < 100  # the resonance moved ...
    assert abs(dominant_hz(y, 16000) % 120) < 6 or abs(dominant_hz(y, 16000) % 120) > 114
    # ... the harmonics did not (still multiples of 120 Hz)
    warp = random_formant_warp(np.random.default_rng(1), 0.2, 16000)
    assert np.all(np.diff(warp[:, 0]) > 0) and np.all(np.diff(warp[:, 1]) > 0)
    moved = warp[1:-1, 1] / warp[1:-1, 0]
    assert np.all(np.abs(moved - 1) <= 0.2 + 1e-9) and np.ptp(moved) > 0  # not uniform
    assert np.array_equal(warp, random_formant_warp(np.random.default_rng(1), 0.2, 16000))


def test_time_stretch_follows_a_tempo_curve():
    """A rate curve stretches each part of the clip by its own amount, keeping the pitch."""
    x = np.concatenate([tone(0.5, 440, sr=16000), tone(0.5, 880, sr=16000)])
    # a constant curve is exactly the plain rate
    np.testing.assert_array_equal(time_stretch(x, np.array([0.8, 0.8, 0.8])), time_stretch(x, 0.8))
    # first half slowed to half speed, second half doubled: 1.0 s + 0.25 s (between the knots
    # the rate changes linearly, so the ends of each half are blended: about, not exactly)
    y = time_stretch(x, np.array([0.5, 0.5, 2.0, 2.0]))
    assert 1.0 * 16000 < len(y) < 1.3 * 16000
    first, second = y[: int(0.8 * 16000)], y[-int(0.15 * 16000) :]
    assert abs(dominant_hz(first, 16000) - 440) < 5 and abs(dominant_hz(second, 16000) - 880) < 8
    curve = random_tempo_curve(np.random.default_rng(2), 0.4)
    assert curve.shape == (3,) and np.all((curve >= 1 / 1.4 - 1e-9) & (curve <= 1.4 + 1e-9))
    assert np.ptp(curve) > 0 and np.array_equal(
        curve, random_tempo_curve(np.random.default_rng(2), 0.4)
    )
    with pytest.raises(ValueError, match="positive"):
        time_stretch(x, np.array([1.0, 0.0]))


def test_onset_noise_adds_a_burst_before_the_first_sound():
    x = np.concatenate([np.zeros(800, np.float32), tone(0.5, 300, sr=16000)])
    rms = float(np.sqrt(np.mean(x**2)))
    y = add_onset_noise(x, np.random.default_rng(4), (-12.0, -12.0), 16000)
    lead = len(y) - len(x)
    assert 0 <= lead <= int(0.15 * 16000)
    diff = y[lead:] - x
    touched = np.flatnonzero(np.abs(diff) > 1e-7)
    # the burst ends at most 40 ms into the sound (which starts at sample 800) ...
    assert touched.size and touched.max() < 800 + int(0.04 * 16000)
    # ... and sits 12 dB under the clip's level
    burst = np.concatenate([y[:lead], diff[: touched.max() + 1]])
    assert 10 * np.log10(np.mean(burst**2) / rms**2) == pytest.approx(-12, abs=1.5)
    assert np.array_equal(y, add_onset_noise(x, np.random.default_rng(4), (-12.0, -12.0), 16000))
    silent = np.zeros(1000, np.float32)
    assert np.array_equal(add_onset_noise(silent, np.random.default_rng(0)), silent)


def band_db(x: np.ndarray, lo: float, hi: float, sr: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].sum() + 1e-20))


def test_scale_fricatives_changes_only_the_hiss():
    """vowel - hiss - vowel: the hiss above 2 kHz moves by the gain, the vowels stay."""
    from scipy.signal import butter, sosfilt

    sr = 16000
    vowel = tone(0.3, 300, sr=sr) + tone(0.3, 700, sr=sr, amp=0.2)
    rng = np.random.default_rng(0)
    hiss = sosfilt(butter(6, 3000, "high", fs=sr, output="sos"), rng.standard_normal(2 * 1600))
    hiss = (0.1 * hiss[1600:]).astype(np.float32)  # 0.1 s, filter settled
    x = np.concatenate([vowel, hiss, vowel])
    mid = slice(len(vowel) + 160, len(vowel) + len(hiss) - 160)  # inside the hiss
    for gain in (-20.0, 10.0):
        y = scale_fricatives(x, gain, sr)
        assert len(y) == len(x) and y.dtype == np.float32
        assert band_db(y[mid], 2500, 8000) - band_db(x[mid], 2500, 8000) == pytest.approx(
            gain, abs=1.5
        )
        # the vowels, away from the hiss (one STFT frame of margin and more), are untouched
        keep = np.r_[0 : len(vowel) - 800, len(vowel) + len(hiss) + 800 : len(x)]
        np.testing.assert_allclose(y[keep], x[keep], atol=1e-4)
    assert np.array_equal(scale_fricatives(x, 0.0, sr), x)
    # nothing fricative (voiced sound only, or silence): unchanged
    np.testing.assert_allclose(scale_fricatives(vowel, -20.0, sr), vowel, atol=1e-4)
    silent = np.zeros(4000, np.float32)
    assert np.array_equal(scale_fricatives(silent, -20.0, sr), silent)


def test_fricative_option_changes_examples_only_when_on():
    """Off by default (the random stream of existing datasets is kept); on, it is seeded."""
    sr = 16000
    vowel = tone(0.3, 300, sr=sr) + tone(0.3, 700, sr=sr, amp=0.2)
    hiss = (0.05 * np.random.default_rng(1).standard_normal(1600)).astype(np.float32)
    clip = np.concatenate([vowel, hiss, vowel])
    corpus = Corpus.from_arrays([clip], [tone(0.4, 500, sr=sr)], [tone(2.0, 100, sr=sr, amp=0.01)],
                                sr)  # fmt: skip
    base = dict(PLAIN, sample_rate=sr, example_seconds=2.0, label_steps=50, label_ones=2,
                activates_per_example=(1, 1), negatives_per_example=(0, 0))  # fmt: skip

    def make(**changes):
        cfg = SynthesisConfig(**{**base, **changes})
        return synthesize_example(cfg, corpus, np.random.default_rng(3), compute_features=False)

    plain = make()
    assert np.array_equal(make(fricative_db=(-30.0, -30.0)).audio, plain.audio)
    weak = make(fricative_probability=1.0, fricative_db=(-20.0, -20.0))
    assert not np.array_equal(weak.audio, plain.audio)
    assert np.array_equal(weak.audio, make(fricative_probability=1.0,
                                           fricative_db=(-20.0, -20.0)).audio)  # fmt: skip
    assert band_db(weak.audio, 4000, 8000) < band_db(plain.audio, 4000, 8000) - 3


def test_room_impulse_response_decays_and_is_seeded():
    ir = room_impulse_response(0.4, SR, np.random.default_rng(3))
    assert len(ir) == int(0.4 * SR) and ir[0] == pytest.approx(1.0, abs=0.7)
    tenth = len(ir) // 10
    assert np.sum(ir[tenth : 2 * tenth] ** 2) > 100 * np.sum(ir[-tenth:] ** 2)
    assert np.array_equal(ir, room_impulse_response(0.4, SR, np.random.default_rng(3)))
    assert not np.array_equal(ir, room_impulse_response(0.4, SR, np.random.default_rng(4)))


def reference_time_stretch(x: np.ndarray, rate: float, n_fft: int = 512) -> np.ndarray:
    """The phase vocoder as first written (one running product over every output frame)."""
    import scipy.fft

    x = np.asarray(x, dtype=np.float32)
    n_out, hop = int(round(len(x) / rate)), n_fft // 4
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    padded = np.pad(x, (n_fft // 2, n_fft // 2 + n_fft))
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    spec = scipy.fft.rfft(frames * window, axis=1)
    mag_in = np.abs(spec)
    steps = np.arange(0, n_frames - 1, rate)
    i = steps.astype(np.int64)
    frac = (steps - i).astype(np.float32)[:, None]
    mag = (1 - frac) * mag_in[i] + frac * mag_in[i + 1]
    tiny = np.float32(1e-30)
    advance = spec[i + 1] * np.conj(spec[i])
    size = np.abs(advance)
    expected = np.exp(1j * (2 * np.pi * hop / n_fft) * np.arange(n_fft // 2 + 1))
    unit = np.where(size > tiny, advance / np.maximum(size, tiny), expected.astype(np.complex64))
    start = np.where(mag_in[0] > tiny, spec[0] / np.maximum(mag_in[0], tiny), np.complex64(1))
    phasor = np.empty_like(unit)
    phasor[0] = start
    np.cumprod(unit[:-1], axis=0, out=phasor[1:])
    phasor[1:] *= start
    phasor /= np.maximum(np.abs(phasor), tiny)
    out_frames = scipy.fft.irfft(mag * phasor, n=n_fft, axis=1).astype(np.float32) * window
    k = len(steps)
    out = np.zeros((k + 3, hop), dtype=np.float32)
    norm = np.zeros((k + 3, hop), dtype=np.float32)
    for r in range(4):
        out[r : r + k] += out_frames.reshape(k, 4, hop)[:, r]
        norm[r : r + k] += (window**2).reshape(4, hop)[r]
    out = (out / np.maximum(norm, np.float32(1e-3))).reshape(-1)[n_fft // 2 : n_fft // 2 + n_out]
    return np.pad(out, (0, n_out - len(out)))


@pytest.mark.parametrize("rate", [0.5, 0.8, 1 / 1.12, 1.12, 1.5, 2.3])
def test_time_stretch_equals_the_reference_vocoder(rate):
    """The telescoped running product gives the vocoder's output, silent stretches included."""
    rng = np.random.default_rng(int(rate * 100))
    for n_fft, n in ((512, 12_800), (64, 3_001), (512, 700)):
        x = tone(n / SR, 440) + noise(n / SR, std=0.01, seed=n)[:n]
        x[n // 3 : n // 3 + n // 5] = 0  # digital silence inside the clip
        x[: int(rng.integers(0, 40))] = 0
        ours, ref = time_stretch(x, rate, n_fft), reference_time_stretch(x, rate, n_fft)
        assert ours.shape == ref.shape == (int(round(n / rate)),) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    silence = np.zeros(2000, np.float32)
    np.testing.assert_array_equal(time_stretch(silence, rate), np.zeros(round(2000 / rate)))


@pytest.mark.parametrize(("up", "down"), [(64, 61), (9, 10), (10, 9), (1, 2), (3, 1), (57, 64)])
def test_polyphase_resampler_equals_resample_poly(up, down):
    from scipy.signal import resample_poly

    for n in (0, 1, 5, 333, 8_000):
        x = noise(max(n, 1) / SR, seed=n)[:n]
        x[: n // 4] += np.float32(0.3) * np.sin(0.3 * np.arange(n // 4), dtype=np.float32)
        ref = resample_poly(x.astype(np.float64), up, down)
        ours = synth._resample(x, up, down)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_speed_factor_rounding_equals_fraction():
    from fractions import Fraction

    factors = [*np.random.default_rng(0).uniform(0.05, 4.0, 2_000).tolist(), 1.0, 0.5, 2.0, 1 / 3]
    for f in factors:
        frac = Fraction(f).limit_denominator(64)
        assert synth._limit_denominator(f, 64) == (frac.numerator, frac.denominator)


def test_reverb_is_the_full_convolution():
    ir = room_impulse_response(0.3, SR, np.random.default_rng(0))
    for n in (1, 30, 2_401, 9_000):
        x = noise(n / SR, seed=n)[:n]
        wet = synth.add_reverb(x, ir)
        ref = np.convolve(x.astype(np.float64), ir.astype(np.float64))
        assert wet.shape == ref.shape and wet.dtype == np.float32
        np.testing.assert_allclose(wet, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_room_impulse_response_draws_as_before():
    """Same generator calls in the same order as ``rng.choice`` made: examples are unchanged."""

    def reference(rt60, sr, rng):
        n = max(int(rt60 * sr), 2)
        t = np.arange(n, dtype=np.float32) / np.float32(sr)
        tail = rng.standard_normal(n).astype(np.float32) * np.exp(-math.log(1000.0) * t / rt60)
        tail[: min(int(0.002 * sr) + 1, n - 1)] = 0.0
        tail *= np.float32(math.sqrt(rng.uniform(0.2, 1.0) / float(np.dot(tail, tail))))
        tail[0] = 1.0
        for _ in range(int(rng.integers(2, 6))):
            delay = int(rng.uniform(0.002, 0.03) * sr)
            if 0 < delay < n:
                tail[delay] += rng.choice((-1.0, 1.0)) * rng.uniform(0.15, 0.6)
        return tail

    for seed in range(20):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        np.testing.assert_array_equal(
            room_impulse_response(0.25, 16000, a), reference(0.25, 16000, b)
        )
        assert a.random() == b.random()


class Counter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("key", "function"),
    [
        ("speed", "change_speed"),
        ("pitch", "pitch_shift"),
        ("reverb", "add_reverb"),
        ("formant", "random_formant_warp"),
        ("tempo", "random_tempo_curve"),
    ],
)
def test_each_augmentation_follows_its_probability(corpus, monkeypatch, key, function):
    counter = Counter(getattr(synth, function))
    monkeypatch.setattr(synth, function, counter)
    cfg = cfg_with(activates_per_example=(2, 2), negatives_per_example=(1, 1))
    rates = {}
    for p in (0.0, 0.5, 1.0):
        counter.calls = 0
        rng = np.random.default_rng(5)
        for _ in range(20):  # 60 clips
            synthesize_example(
                cfg.replace(**{f"{key}_probability": p}), corpus, rng, compute_features=False
            )
        rates[p] = counter.calls / 60
    assert rates[0.0] == 0 and rates[1.0] == 1 and 0.3 < rates[0.5] < 0.7


def test_speed_changes_clip_duration(corpus):
    off = make(cfg_with(), corpus)
    fast = make(cfg_with(speed_probability=1.0, speed_range=(1.25, 1.25)), corpus)
    for ex, factor in ((off, 1.0), (fast, 1.25)):
        (e,) = ex.events
        dry = len(corpus.activates[0].audio if "0000" in e.clip else corpus.activates[1].audio)
        assert e.end_s - e.start_s == pytest.approx(dry / SR / factor, abs=2 / SR)


def test_pitch_keeps_duration_and_moves_frequency(corpus):
    ex = make(cfg_with(pitch_probability=1.0, pitch_semitones=(5.0, 5.0)), corpus, seed=2)
    (e,) = ex.events
    base = 600 if e.clip.endswith("0000") else 500
    dry = len(corpus.activates[0 if base == 600 else 1].audio)
    assert e.end_s - e.start_s == pytest.approx(dry / SR, abs=1 / SR)
    region = ex.audio[int(e.start_s * SR) : int(e.end_s * SR)]
    assert abs(dominant_hz(region, SR) - base * 2 ** (5 / 12)) < 12


def test_reverb_adds_a_tail_after_the_clip(corpus):
    dry = make(cfg_with(background_dbfs=-90.0), corpus, seed=3)
    wet = make(cfg_with(background_dbfs=-90.0, reverb_probability=1.0), corpus, seed=3)

    def tail_ratio(ex):
        (e,) = ex.events
        end = int(e.end_s * SR)
        return dbfs(ex.audio[end + 40 : end + 800]) - region_db(ex, e)

    assert tail_ratio(wet) > -35 and tail_ratio(wet) > tail_ratio(dry) + 20


def test_gain_sets_clip_levels(corpus):
    cfg = cfg_with(activates_per_example=(4, 4), background_dbfs=-60.0)
    off = make(cfg, corpus)
    spread_off = np.ptp([region_db(off, e) for e in off.events])
    assert spread_off < 0.5
    up = make(cfg.replace(gain_probability=1.0, gain_db=(10.0, 10.0)), corpus)

    def ratio(ex) -> float:
        return float(np.mean([region_db(ex, e) for e in ex.events])) - background_db(ex)

    assert ratio(up) - ratio(off) == pytest.approx(10.0, abs=1.0)
    varied = make(cfg.replace(gain_probability=1.0, gain_db=(-9.0, 9.0)), corpus)
    assert np.ptp([region_db(varied, e) for e in varied.events]) > 3


def test_background_correction_on_off_and_snr(corpus):
    on = make(cfg_with(background_dbfs=-50.0), corpus)  # clip at -30, background at -50
    (e,) = on.events
    assert region_db(on, e) - background_db(on) == pytest.approx(20.0, abs=1.0)
    off = make(cfg_with(background_correction=False), corpus)  # background as recorded: -26
    (e,) = off.events
    clip_vs_bg = region_db(off, e) - background_db(off)
    assert clip_vs_bg == pytest.approx(10 * math.log10(1 + 10 ** ((-30 + 26) / 10)), abs=1.0)
    snr = make(cfg_with(snr_probability=1.0, snr_db=(10.0, 10.0)), corpus)
    (e,) = snr.events
    assert region_db(snr, e) - background_db(snr) == pytest.approx(10.41, abs=1.0)


def test_target_dbfs(corpus):
    for target in (-35.0, -25.0):
        ex = make(cfg_with(target_dbfs=target, activates_per_example=(3, 3)), corpus)
        assert not ex.peak_limited
        assert dbfs(ex.audio) == pytest.approx(target, abs=0.05)
    loud = make(cfg_with(target_dbfs=-1.0, background_dbfs=-60), corpus)
    assert loud.peak_limited and np.max(np.abs(loud.audio)) <= 0.999 + 1e-6


# ------------------------------------------------------------------------------- parameters


def test_activates_per_example_bounds(corpus):
    counts = []
    for seed in range(30):
        ex = make(cfg_with(activates_per_example=(1, 3)), corpus, seed=seed)
        n = sum(e.kind == "activate" for e in ex.events)
        counts.append(n)
        assert labels_from_events(ex.events, 400, 4.0, 10).tolist() == ex.labels.tolist()
    assert min(counts) == 1 and max(counts) == 3
    none = make(cfg_with(activates_per_example=(0, 0), negatives_per_example=(2, 2)), corpus)
    assert {e.kind for e in none.events} == {"negative"} and none.labels.sum() == 0


def test_negatives_are_reduced_so_nothing_collides(corpus):
    long = Corpus.from_arrays([tone(0.9, 500)], [tone(0.8, 300)], [noise(6.0)], SR)
    cfg = cfg_with(activates_per_example=(4, 4), negatives_per_example=(3, 3))
    total_dropped = 0
    for seed in range(10):
        ex = make(cfg, long, seed=seed)
        spans = sorted((e.start_s, e.end_s) for e in ex.events)
        assert all(b + 0.05 - 1e-9 <= a for (_, b), (a, _) in zip(spans, spans[1:], strict=False))
        assert sum(e.kind == "activate" for e in ex.events) == 4  # activates have priority
        total_dropped += ex.dropped
        assert len(ex.events) + ex.dropped == 7
    assert total_dropped > 0


def test_label_steps_and_label_ones(corpus):
    ex = make(cfg_with(label_steps=100, label_ones=3, activates_per_example=(2, 2)), corpus)
    assert ex.labels.shape == (100,) and ex.labels.dtype == np.uint8
    assert ex.labels.tolist() == labels_from_events(ex.events, 100, 4.0, 3).tolist()
    assert 3 <= ex.labels.sum() <= 6


def test_example_seconds_sample_rate_and_feature_kind(corpus):
    ex = make(cfg_with(example_seconds=3.0), corpus, features=True)
    fc = cfg_with(example_seconds=3.0).feature_config()
    assert ex.audio.shape == (3 * SR,) and ex.audio.dtype == np.float32
    assert ex.features.shape == (fc.frames_for(3 * SR), 40)
    np.testing.assert_allclose(ex.features, compute_features(ex.audio, fc), rtol=1e-5)
    assert all(e.end_s <= 3.0 for e in ex.events)
    spec = make(cfg_with(feature_kind="spectrogram"), corpus, features=True)
    assert spec.features.shape == (FeatureConfig(kind="spectrogram").frames_for(4 * SR), 101)
    coarse = cfg_with(n_mels=20, hop_seconds=0.02, window_seconds=0.04)
    frames = coarse.feature_config().frames_for(4 * SR)
    assert make(coarse, corpus, features=True).features.shape == (frames, 20)
    assert frames < ex.features.shape[0] * 4 / 3 * 0.6
    wide = Corpus.from_arrays([tone(0.5, 600, sr=16000)], [], [noise(5.0, sr=16000)], 16000)
    ex16 = make(cfg_with(sample_rate=16000), wide, features=True)
    assert ex16.audio.shape == (64000,) and ex16.features.shape[1] == 40
    with pytest.raises(ValueError, match="8000 Hz"):
        make(cfg_with(sample_rate=16000), corpus)


def test_backgrounds_shorter_than_the_example_are_looped(corpus):
    short = Corpus.from_arrays([tone(0.5, 600)], [], [noise(1.0)], SR)
    ex = make(cfg_with(background_dbfs=-40.0), short)
    assert ex.audio.shape == (4 * SR,) and background_db(ex) > -80


def test_same_seed_same_example_different_seed_different(corpus):
    cfg = cfg_with(
        activates_per_example=(1, 3),
        negatives_per_example=(0, 2),
        gain_probability=0.5,
        snr_probability=0.5,
        reverb_probability=0.5,
        speed_probability=0.5,
        pitch_probability=0.5,
    )
    a, b = make(cfg, corpus, seed=11), make(cfg, corpus, seed=11)
    assert np.array_equal(a.audio, b.audio) and a.events == b.events
    c = make(cfg, corpus, seed=12)
    assert not np.array_equal(a.audio, c.audio)
    with pytest.raises(TypeError, match="Generator"):
        synthesize_example(cfg, corpus, 11)  # type: ignore[arg-type]


def test_fresh_examples_are_fixed_by_seed_and_epoch(corpus):
    cfg = cfg_with(activates_per_example=(1, 3))

    def stream(seed, epoch):
        return [
            ex.audio
            for ex in fresh_examples(cfg, seed, epoch, corpus=corpus, n=3, compute_features=False)
        ]

    first = stream(1, 0)
    assert len(first) == 3
    assert all(np.array_equal(x, y) for x, y in zip(first, stream(1, 0), strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(first, stream(1, 1), strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(first, stream(2, 0), strict=True))
    endless = fresh_examples(cfg, 1, 0, corpus=corpus, compute_features=False)
    assert sum(1 for _, _ in zip(range(5), endless, strict=False)) == 5


def test_fresh_tf_dataset_shapes(corpus):
    tf = pytest.importorskip("tensorflow")
    cfg = cfg_with(example_seconds=2.0)
    ds = synth.fresh_tf_dataset(cfg, 0, 0, corpus=corpus, n=5, batch_size=2)
    batches = list(ds)
    assert [int(x.shape[0]) for x, _ in batches] == [2, 2, 1]
    x, y = batches[0]
    fc = cfg.feature_config()
    assert x.shape[1:] == (fc.frames_for(2 * SR), 40) and y.shape[1:] == (400, 1)
    assert x.dtype == tf.float32 and y.dtype == tf.float32


# ------------------------------------------------------------------------------- config


def test_yaml_loads_documents_every_key_and_quick_shrinks():
    full = load_config("synthesis")
    quick = load_config("synthesis", "quick")
    assert isinstance(full, SynthesisConfig) and full.n_examples == 1400
    assert full.label_steps == 1375 and full.activates_per_example == (1, 4)
    assert quick.n_examples < full.n_examples and quick.shard_size < full.shard_size
    text = (paths.CONFIGS_DIR / "synthesis.yaml").read_text()
    keys = set(yaml.safe_load(text)) - {"profiles"}
    assert keys == {f for f in SynthesisConfig.__dataclass_fields__}
    for line in text.splitlines():
        if line and not line.startswith((" ", "#", "profiles")):
            assert "  # " in line, f"no comment on: {line}"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"activates_per_example": (3, 1)}, "activates_per_example"),
        ({"negatives_per_example": (-1, 2)}, "negatives_per_example"),
        ({"reverb_probability": 1.5}, "reverb_probability"),
        ({"gain_db": (6.0, -6.0)}, "gain_db"),
        ({"label_ones": 2000}, "label_ones"),
        ({"speed_range": (0.0, 1.1)}, "speed_range"),
        ({"target_dbfs": 3.0}, "target_dbfs"),
        ({"store_audio": False, "store_features": False}, "store_features"),
        ({"dataset_name": "../escape"}, "dataset_name"),
        ({"shard_size": 0}, "shard_size"),
        ({"n_mels": 400}, "n_mels"),
        ({"tempo_warp": 1.5}, "tempo_warp"),
        ({"tempo_probability": -0.1}, "tempo_probability"),
        ({"onset_noise_db": (-6.0, -24.0)}, "onset_noise_db"),
        ({"onset_noise_probability": 2.0}, "onset_noise_probability"),
        ({"fricative_db": (-5.0, -25.0)}, "fricative_db"),
        ({"fricative_db": (-90.0, 0.0)}, "fricative_db"),
        ({"fricative_probability": -1.0}, "fricative_probability"),
    ],
)
def test_config_range_checks_name_the_key(changes, key):
    with pytest.raises(ConfigError, match=key):
        SynthesisConfig(**changes)


# ------------------------------------------------------------------------------- corpus


def write_corpus(raw: Path, activate_seconds=(0.5, 0.6), dev: bool = True) -> None:
    """A tiny raw corpus on disk, at 22.05 kHz, with a manifest as lib.corpus writes it."""
    records = []

    def add(kind, name, x, sr, split="train", engine="espeak"):
        rel = f"{kind}s/{name}.wav"
        write_wav(raw / rel, x, sr)
        records.append(
            ClipRecord(
                rel, kind, "test", "hey joe", engine, "v", "", None, None, split, sr, len(x) / sr
            )
        )

    for i, s in enumerate(activate_seconds):
        add("activate", f"a{i}", tone(s, 500, sr=22050), 22050)
    add("negative", "n0", tone(0.4, 300, sr=22050), 22050, engine="flite")
    add("background", "b0", noise(5.0, sr=22050), 22050)
    if dev:
        add("activate", "dev0", tone(0.5, 700, sr=22050), 22050, split="dev")
        add("background", "dev_b0", noise(4.0, sr=22050), 22050, split="dev")
    write_manifest(records, raw)


def test_load_corpus_resamples_filters_and_lists_skipped(tmp_path):
    raw = tmp_path / "raw"
    write_corpus(raw, activate_seconds=(0.5, 3.0))
    (raw / "activates" / "broken.wav").write_bytes(b"RIFF")
    from lib.corpus import load_manifest

    recs = load_manifest(raw)
    bad = ClipRecord(
        "activates/broken.wav",
        "activate",
        "test",
        "x",
        "espeak",
        "v",
        "",
        None,
        None,
        "train",
        22050,
        1.0,
    )
    write_manifest([*recs, bad], raw)
    c = load_corpus(raw, "train", SR, max_clip_seconds=2.0)
    assert [x.path for x in c.activates] == ["activates/a0.wav"]
    assert len(c.activates[0].audio) == pytest.approx(0.5 * SR, abs=2)
    assert {p for p, _ in c.skipped} == {"activates/a1.wav", "activates/broken.wav"}
    assert "longer than the example" in dict(c.skipped)["activates/a1.wav"]
    summary = c.summary()
    assert summary["counts"] == {"activate": 1, "negative": 1, "background": 1}
    assert summary["counts_per_engine"]["negative"] == {"flite": 1}
    dev = load_corpus(raw, "dev", SR)
    assert [x.path for x in dev.activates] == ["activates/dev0.wav"] and not dev.negatives
    assert [x.path for x in dev.backgrounds] == ["backgrounds/dev_b0.wav"]


def test_engines_keep_only_those_engines_clips_and_every_background(tmp_path):
    raw = tmp_path / "raw"
    write_corpus(raw)
    flite = synth.corpus_for(SynthesisConfig(engines=["flite"], activates_per_example=(0, 0)), raw)
    assert not flite.activates and [c.path for c in flite.negatives] == ["negatives/n0.wav"]
    assert [c.path for c in flite.backgrounds] == ["backgrounds/b0.wav"]
    everything = synth.corpus_for(SynthesisConfig(), raw)
    assert len(everything.activates) == 2 and flite.fingerprint != everything.fingerprint
    with pytest.raises(DatasetError, match="activates"):  # flite has no activates here
        synth.corpus_for(SynthesisConfig(engines=["flite"]), raw)
    with pytest.raises(ConfigError, match="engines"):
        SynthesisConfig(engines="flite")  # type: ignore[arg-type]


def test_exclude_phrases_leaves_out_clips_saying_them(tmp_path):
    import dataclasses

    from lib.corpus import load_manifest

    raw = tmp_path / "raw"
    write_corpus(raw)
    recs = [
        dataclasses.replace(r, text="hey show") if r.kind == "negative" else r
        for r in load_manifest(raw)
    ]
    write_manifest(recs, raw)
    cfg = SynthesisConfig(exclude_phrases=["Hey, Show"])  # case and commas do not matter
    kept = synth.corpus_for(cfg, raw)
    assert not kept.negatives and len(kept.activates) == 2 and len(kept.backgrounds) == 1
    everything = synth.corpus_for(SynthesisConfig(), raw)
    assert [c.path for c in everything.negatives] == ["negatives/n0.wav"]
    assert kept.fingerprint != everything.fingerprint
    with pytest.raises(ConfigError, match="exclude_phrases"):
        SynthesisConfig(exclude_phrases="hey show")  # type: ignore[arg-type]


def test_empty_split_names_the_split_and_the_raw_dir(tmp_path):
    raw = tmp_path / "raw"
    write_corpus(raw, dev=False)
    with pytest.raises(DatasetError, match=rf"activates or backgrounds for split 'dev' in {raw}"):
        load_corpus(raw, "dev", SR)
    with pytest.raises(DatasetError, match="manifest"):
        load_corpus(tmp_path / "nowhere", "train", SR)
