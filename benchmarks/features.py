"""Feature front-end speed: our numpy log-mel and spectrogram beside librosa and matplotlib.

Log-mel: 60 s of speech-like noise at 16 kHz, ours vs ``librosa.feature.melspectrogram`` + log
with the same settings (25 ms Hann window, 10 ms hop, 512-point FFT, 40 Slaney mels, no
centring). Spectrogram: 10 s at 44.1 kHz, our ``spectrogram_psd`` vs the seed's
``mlab.specgram(NFFT=200, Fs=8000, noverlap=120)`` and a ``librosa.stft`` power spectrogram
(same FFT size and hop). Times are the best of several round-robin runs after a warm-up
(medians shown too). BLAS is limited to one thread for every implementation (as dataset builds
do): on a busy 2-core machine a multithreaded matrix product waits for a second core and made
log-mel extraction, ours and librosa's alike, 10-50x slower and erratic.

Usage: .venv/bin/python benchmarks/features.py [--quick]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.features import FeatureConfig, compute_features, spectrogram_psd  # noqa: E402


def speech_like(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Low-pass noise with a 4 Hz syllable-like envelope, peak 0.5, float32."""
    from scipy.signal import lfilter

    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    noise = lfilter([1.0], [1.0, -0.95], rng.standard_normal(n))
    envelope = np.sin(2 * np.pi * 4 * t + rng.uniform(0, 2 * np.pi)) ** 2
    x = noise * envelope
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def timed(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each case; the cases take turns (round-robin) after one warm-up each,
    so a noisy machine slows them all alike."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short audio, few repeats (smoke run)")
    args = parser.parse_args()

    import librosa
    from matplotlib import mlab

    rng = np.random.default_rng(0)
    repeats = 3 if args.quick else 25
    logmel_seconds = 5.0 if args.quick else 60.0
    spec_seconds = 2.0 if args.quick else 10.0

    fc = FeatureConfig()
    speech = speech_like(rng, logmel_seconds, fc.sample_rate)
    mel_kwargs = dict(
        sr=fc.sample_rate, n_fft=fc.n_fft, win_length=fc.win_length, hop_length=fc.hop_length,
        window="hann", center=False, power=2.0, n_mels=fc.n_mels, fmin=fc.fmin,
        fmax=fc.sample_rate / 2, htk=False, norm="slaney",
    )  # fmt: skip
    spec = speech_like(rng, spec_seconds, 44100)
    hop = 200 - 120

    cases = {
        ("logmel", "ours"): lambda: compute_features(speech, fc),
        ("logmel", "librosa"): lambda: np.log(
            librosa.feature.melspectrogram(y=speech, **mel_kwargs) + fc.log_floor
        ),
        ("spectrogram", "ours"): lambda: spectrogram_psd(spec, nfft=200, noverlap=120),
        ("spectrogram", "matplotlib"): lambda: mlab.specgram(
            spec, NFFT=200, Fs=8000, noverlap=120, mode="psd"
        ),
        ("spectrogram", "librosa"): lambda: (
            np.abs(librosa.stft(spec, n_fft=200, hop_length=hop, window="hann", center=False)) ** 2
        ),
    }
    audio_seconds = {"logmel": logmel_seconds, "spectrogram": spec_seconds}
    figures: dict[str, object] = {"benchmark": "features", "quick": args.quick}
    best: dict[tuple[str, str], float] = {}
    print(f"{'feature':<12} {'impl':<11} {'ms/10 s best':>13} {'median':>8} {'x realtime':>11}",
          file=sys.stderr)  # fmt: skip
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        times = timed(cases, repeats)
    for (feature, impl), runs in times.items():
        b, med = min(runs), statistics.median(runs)
        best[feature, impl] = b
        per10 = 1000 * b * 10 / audio_seconds[feature]
        realtime = audio_seconds[feature] / b
        figures[f"{feature}_ms_per_10s_{impl}"] = round(per10, 3)
        figures[f"{feature}_realtime_{impl}"] = round(realtime, 1)
        print(f"{feature:<12} {impl:<11} {per10:>13.2f} "
              f"{1000 * med * 10 / audio_seconds[feature]:>8.2f} {realtime:>11.0f}",
              file=sys.stderr)  # fmt: skip
    for feature, ref in (("logmel", "librosa"), ("spectrogram", "librosa"),
                         ("spectrogram", "matplotlib")):  # fmt: skip
        figures[f"{feature}_speedup_vs_{ref}"] = round(
            best[feature, ref] / best[feature, "ours"], 2
        )
    figures.update(
        logmel_audio_seconds=logmel_seconds, spectrogram_audio_seconds=spec_seconds,
        repeats=repeats, blas_threads=1,
    )  # fmt: skip
    print(
        "speedups (best-of): "
        + ", ".join(f"{k}={v}" for k, v in figures.items() if "speedup" in k),
        file=sys.stderr,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
