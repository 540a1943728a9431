"""lib.features: settings, agreement with librosa and matplotlib, numpy == TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lib.errors import AudioError, ConfigError
from lib.features import (
    FeatureConfig,
    compute_features,
    compute_features_tf,
    mel_filterbank,
    spectrogram_psd,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC = FeatureConfig(kind="spectrogram", sample_rate=44100)


def noise(seconds: float, sr: int, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * sr))).astype(dtype)


def test_config_derived_sizes() -> None:
    fc = FeatureConfig()
    assert (fc.win_length, fc.hop_length, fc.n_fft, fc.n_bins) == (400, 160, 512, 40)
    assert fc.frame_rate == 100.0
    assert (fc.frames_for(399), fc.frames_for(400), fc.frames_for(559), fc.frames_for(560)) == (
        0, 1, 1, 2
    )  # fmt: skip
    assert (SPEC.win_length, SPEC.hop_length, SPEC.n_fft, SPEC.n_bins) == (200, 80, 200, 101)
    assert SPEC.frames_for(441000) == 5511
    assert FeatureConfig(window_seconds=0.032).n_fft == 512
    assert hash(fc) == hash(FeatureConfig())  # usable as a cache key


@pytest.mark.parametrize(
    "field, value",
    [("kind", "mfcc"), ("sample_rate", 0), ("sample_rate", 16000.0), ("n_mels", 0),
     ("window_seconds", 0.0), ("hop_seconds", -0.01), ("fmin", 9000.0), ("fmax", 10.0),
     ("fmax", 9000.0), ("spectrogram_nfft", 1), ("spectrogram_noverlap", 200),
     ("log_floor", 0.0), ("n_mels", 200)],
)  # fmt: skip
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        FeatureConfig(**{field: value})


def test_config_dict_roundtrip() -> None:
    fc = FeatureConfig(n_mels=64, fmax=7600.0)
    data = json.loads(json.dumps(fc.to_dict()))
    assert data["n_mels"] == 64 and data["kind"] == "logmel"
    assert FeatureConfig.from_dict(data) == fc
    assert FeatureConfig.from_dict({"kind": "spectrogram", "fmax": 8000}).fmax == 8000.0
    with pytest.raises(ConfigError, match="n_melz"):
        FeatureConfig.from_dict({**data, "n_melz": 3})
    with pytest.raises(ConfigError, match="n_mels"):
        FeatureConfig.from_dict({"n_mels": "forty"})


@pytest.mark.parametrize(
    "sr, n_fft, n_mels, fmin, fmax", [(16000, 512, 40, 20.0, 8000.0), (44100, 2048, 128, 0.0, None)]
)
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax) -> None:
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
    )
    assert ours.shape == (n_fft // 2 + 1, n_mels) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref.T, rtol=1e-5, atol=1e-9)


def test_spectrogram_psd_matches_matplotlib_specgram() -> None:
    from matplotlib import mlab

    x = noise(1.0, 44100, dtype=np.float64)
    ref = mlab.specgram(x, NFFT=200, Fs=8000, noverlap=120, mode="psd")[0].T
    ours = spectrogram_psd(x)
    assert ours.dtype == np.float64 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    ours32 = spectrogram_psd(x.astype(np.float32))
    assert ours32.dtype == np.float32
    np.testing.assert_allclose(ours32, ref, rtol=1e-3, atol=1e-6 * ref.max())
    # other geometry, odd nfft: same agreement
    ref = mlab.specgram(x, NFFT=255, Fs=16000, noverlap=55, mode="psd")[0].T
    np.testing.assert_allclose(spectrogram_psd(x, 255, 55, fs=16000), ref, rtol=1e-10)


def test_seed_spectrogram_shape_and_values() -> None:
    x = noise(10.0, 44100)
    feats = compute_features(x, SPEC)
    assert feats.shape == (5511, 101) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, np.log10(spectrogram_psd(x) + SPEC.log_floor), rtol=1e-6)


@pytest.mark.parametrize("window_seconds", [0.032, 0.025])
def test_logmel_matches_librosa(window_seconds: float) -> None:
    librosa = pytest.importorskip("librosa")
    fc = FeatureConfig(window_seconds=window_seconds)
    x = noise(2.0, fc.sample_rate)
    ref = librosa.feature.melspectrogram(
        y=x, sr=fc.sample_rate, n_fft=fc.n_fft, win_length=fc.win_length,
        hop_length=fc.hop_length, window="hann", center=False, power=2.0, n_mels=fc.n_mels,
        fmin=fc.fmin, fmax=fc.sample_rate / 2, htk=False, norm="slaney",
    ).T  # fmt: skip
    # librosa frames n_fft samples and centres the shorter window inside them
    offset = (fc.n_fft - fc.win_length) // 2
    ours = compute_features(x[offset:], fc)[: len(ref)]
    assert ours.shape == ref.shape == (fc.frames_for(len(x) - 2 * offset), 40)
    np.testing.assert_allclose(ours, np.log(ref + fc.log_floor), atol=1e-4)


def test_batch_equals_single_clips_and_short_clips_are_empty() -> None:
    fc = FeatureConfig()
    batch = np.stack([noise(0.5, 16000, seed=s) for s in range(3)])
    feats = compute_features(batch, fc)
    assert feats.shape == (3, fc.frames_for(8000), 40) and feats.dtype == np.float32
    for clip, f in zip(batch, feats, strict=True):
        np.testing.assert_array_equal(f, compute_features(clip, fc))
    long = noise(12.0, 16000)  # spans several internal FFT blocks
    start = (fc.frames_for(len(long)) - 5) * fc.hop_length  # the last 5 frames, on their own
    np.testing.assert_allclose(compute_features(long, fc)[-5:], compute_features(long[start:], fc))
    assert compute_features(np.zeros(399, np.float32), fc).shape == (0, 40)
    assert compute_features(np.zeros((2, 100), np.float32), fc).shape == (2, 0, 40)
    silence = compute_features(np.zeros(1600, np.float32), fc)
    np.testing.assert_allclose(silence, np.log(np.float32(fc.log_floor)))


def _pinned_signal(sr: int) -> np.ndarray:
    """One second of a chirp, a tone and a deterministic broadband term (no random generator)."""
    t = np.arange(sr) / sr
    x = 0.3 * np.sin(2 * np.pi * (300 * t + 900 * t**2)) + 0.1 * np.sin(2 * np.pi * 2500 * t)
    x += 0.02 * np.sin(1e6 * t**2)
    return x.astype(np.float32)


# Values computed before the feature code was optimised: the shipped models were trained on
# features computed this way, so any change to them must be deliberate.
PINNED = {
    "logmel": (FeatureConfig(), (98, 40), [
        (0, 0, -9.448644638061523), (10, 5, 2.2474093437194824), (50, 12, -7.375324726104736),
        (97, 39, -5.565652370452881), (40, 20, -6.740034580230713), (70, 30, -6.270663738250732),
    ]),
    "spectrogram": (SPEC, (549, 101), [
        (0, 0, -4.1663126945495605), (10, 2, -3.261129140853882), (300, 13, -6.539059638977051),
        (5, 1, -3.217642307281494), (400, 8, -3.409090280532837), (100, 20, -9.909828186035156),
    ]),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_feature_values_are_pinned(kind: str) -> None:
    fc, shape, values = PINNED[kind]
    feats = compute_features(_pinned_signal(fc.sample_rate), fc)
    assert feats.shape == shape
    for i, j, value in values:
        assert feats[i, j] == pytest.approx(value, rel=1e-5, abs=1e-5), (i, j)


def test_reused_buffers_do_not_leak_between_calls_or_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    fc = FeatureConfig()
    clips = [noise(s, 16000, seed=k) for k, s in enumerate((12.0, 0.7, 3.3, 12.0, 0.03))]
    alone = [compute_features(c, fc) for c in clips]
    # interleaved with other settings and other lengths, sequentially and from 4 threads
    mixed = [(compute_features(noise(1.0, 44100), SPEC), compute_features(c, fc))[1] for c in clips]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda c: compute_features(c, fc), clips * 4))
    for got in (mixed, threaded[:5], threaded[5:10], threaded[15:]):
        for a, b in zip(alone, got, strict=True):
            np.testing.assert_array_equal(a, b)


def test_bad_audio_is_rejected_clearly() -> None:
    fc = FeatureConfig()
    with pytest.raises(AudioError, match="1-D"):
        compute_features(np.zeros((2, 2, 400), np.float32), fc)
    x = noise(0.1, 16000)
    x[7] = np.inf
    with pytest.raises(AudioError, match="NaN or Inf"):
        compute_features(x, fc)
    with pytest.raises(AudioError, match="from_int16"):
        compute_features(np.zeros(1000, np.int16), fc)


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, lib.features; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize("fc", [FeatureConfig(), SPEC], ids=["logmel", "spectrogram"])
def test_tensorflow_matches_numpy(tf, fc: FeatureConfig) -> None:
    clip = noise(1.0, fc.sample_rate)
    batch = np.stack([clip, noise(1.0, fc.sample_rate, seed=1)])
    np.testing.assert_allclose(compute_features_tf(clip, fc).numpy(), compute_features(clip, fc),
                               atol=1e-3)  # fmt: skip
    out = compute_features_tf(tf.constant(batch), fc)
    assert out.dtype == tf.float32 and out.shape == (2, fc.frames_for(len(clip)), fc.n_bins)
    np.testing.assert_allclose(out.numpy(), compute_features(batch, fc), atol=1e-3)
    assert compute_features_tf(np.zeros(10, np.float32), fc).shape == (0, fc.n_bins)


def test_tensorflow_inside_tf_data(tf) -> None:
    fc = FeatureConfig()
    clips = np.stack([noise(0.5, 16000, seed=s) for s in range(4)])

    def featurize(x):
        return compute_features_tf(x, fc)

    ds = tf.data.Dataset.from_tensor_slices(clips).map(featurize).batch(2)
    got = np.concatenate([b.numpy() for b in ds])
    np.testing.assert_allclose(got, compute_features(clips, fc), atol=1e-3)
    # clips of unknown length in the graph
    ragged = tf.data.Dataset.from_generator(
        lambda: iter([clips[0][:4000], clips[1]]),
        output_signature=tf.TensorSpec([None], tf.float32),
    ).map(featurize)
    assert [tuple(f.shape) for f in ragged] == [(fc.frames_for(4000), 40), (48, 40)]


def test_benchmark_quick_run() -> None:
    script = ROOT / "benchmarks" / "features.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("logmel_speedup_vs_librosa", "spectrogram_speedup_vs_librosa",
                "spectrogram_speedup_vs_matplotlib"):  # fmt: skip
        assert figures[key] > 0
    assert "ms/10 s" in out.stderr
