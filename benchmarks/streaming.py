"""Streaming trigger detection speed on ONE CPU thread: ms of compute per second of audio.

Side by side on the same audio (speech-like noise at 16 kHz, fed in 80 ms chunks, the
chunk openWakeWord expects):

- ours: :class:`lib.trigger.StreamingDetector` (incremental features, causal conv and GRU steps
  in numpy) with the shipped model (``checkpoints/trigger/hey_joe``; a same-architecture
  model with fresh weights if none is shipped yet), with the notes' ``seed`` architecture,
  and the ``small`` architecture on each feature kind (``logmel``; ``logmel_phonetic``, which
  adds PocketSphinx's senone posteriors, :mod:`lib.phonetic`);
- naive: what the notes' live loop did — every 0.5 s, Keras ``predict`` on the last 10 s
  window (recomputing the window each time);
- openWakeWord 0.5.1 with its bundled ONNX ``hey_jarvis`` model (melspectrogram + embedding +
  classifier ONNX sessions, one thread each), if it can be imported (``pip install -e .[bench]``);
  otherwise the JSON says why and still reports ours.

Times are CPU time of this process (``time.process_time``): with one thread that is the
compute spent, and it does not grow when other programs share the cores.
Goal: ours <= 5 ms per audio second (200x real time).
Usage: .venv/bin/python benchmarks/streaming.py [--quick] [--seconds 60]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):  # fmt: skip
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK = 1280  # samples: 80 ms at 16 kHz


def speech_like(rng: np.random.Generator, seconds: float, sample_rate: int = 16000) -> np.ndarray:
    from scipy.signal import lfilter

    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    x = lfilter([1.0], [1.0, -0.95], rng.standard_normal(n)) * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def one_thread() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def fresh_model(arch_name: str, kind: str = "logmel") -> Any:
    """A TriggerModel of ``arch_name`` with fresh weights (speed does not depend on them)."""
    from lib.features import FeatureConfig
    from lib.trigger.cards import TriggerModel
    from lib.trigger.model import ArchSpec, build_model

    fc = FeatureConfig(kind=kind)
    arch = ArchSpec.preset(arch_name)
    card = {"name": f"fresh_{arch_name}", "architecture": arch.to_dict(),
            "features": fc.to_dict(), "threshold": 0.5}  # fmt: skip
    return TriggerModel(Path("."), card, build_model(arch, fc.n_bins))


def time_ours(model: Any, audio: np.ndarray, repeats: int) -> float:
    """Best-of seconds to stream ``audio`` through a fresh detector in 80 ms chunks."""
    from lib.trigger import StreamingDetector

    best = float("inf")
    for _ in range(repeats):
        det = StreamingDetector(model)
        start = time.process_time()
        for i in range(0, len(audio), CHUNK):
            det.process(audio[i : i + CHUNK])
        best = min(best, time.process_time() - start)
    return best


def time_naive(model: Any, audio: np.ndarray, seconds: float) -> float:
    """Seconds to run Keras on the last 10 s window every 0.5 s over ``seconds`` of audio."""
    from lib.features import compute_features

    sr, window, every = model.sample_rate, 10 * model.sample_rate, model.sample_rate // 2
    audio = np.concatenate([np.zeros(window, np.float32), audio])  # every window is 10 s long
    km = model.keras_model
    x = compute_features(audio[:window], model.feature_config)[None]
    km.predict(x, verbose=0)  # warm-up: traces the predict function once
    n_calls = int(seconds * 2)
    start = time.process_time()
    for k in range(n_calls):
        end = min(len(audio), window + k * every)
        clip = audio[max(0, end - window) : end]
        km.predict(compute_features(clip, model.feature_config)[None], verbose=0)
    return (time.process_time() - start) * (len(audio) - window) / sr / (n_calls * 0.5)


def time_oww(audio: np.ndarray, repeats: int) -> tuple[float | None, float | None, str]:
    """Best-of (CPU, wall) seconds for openWakeWord 0.5.1 hey_jarvis (ONNX), or None, why not."""
    try:
        import openwakeword
        from openwakeword.model import Model
    except Exception as exc:  # not installed, or its imports fail
        return None, None, f"openwakeword not importable ({type(exc).__name__}: {exc})"
    from importlib.metadata import version as dist_version

    version = dist_version("openwakeword")
    paths = [p for p in openwakeword.get_pretrained_model_paths("onnx") if "hey_jarvis" in p]
    if not paths:
        return None, None, f"openwakeword {version} has no bundled hey_jarvis ONNX model"
    pcm = np.clip(audio * 32767, -32768, 32767).astype(np.int16)
    best = wall = float("inf")
    for _ in range(repeats):
        model = Model(wakeword_models=paths, inference_framework="onnx")
        start, start_wall = time.process_time(), time.perf_counter()
        for i in range(0, len(pcm) - CHUNK + 1, CHUNK):
            model.predict(pcm[i : i + CHUNK])
        best = min(best, time.process_time() - start)
        wall = min(wall, time.perf_counter() - start_wall)
    return best, wall, f"openwakeword {version} hey_jarvis_v0.1.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds of audio (smoke run)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length (default 60)")
    parser.add_argument("--model", default=None, help="trigger model (default: the shipped one)")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else args.seconds
    repeats = 1 if args.quick else 3
    one_thread()
    from lib.trigger import ModelError, load_model

    audio = speech_like(np.random.default_rng(0), seconds)
    try:
        model = load_model(args.model)
        model_label = f"{model.name} ({model.arch.name})"
    except ModelError as exc:
        model = fresh_model("small")
        model_label = f"fresh small (no shipped model: {exc})"
    ours = time_ours(model, audio, repeats)
    seed = time_ours(fresh_model("seed"), audio, repeats)
    by_kind = {kind: time_ours(fresh_model("small", kind), audio, repeats)
               for kind in ("logmel", "logmel_phonetic")}  # fmt: skip
    naive = time_naive(model, audio, min(seconds, 4.0 if args.quick else 10.0))
    oww, oww_wall, oww_label = time_oww(audio, repeats)

    def ms(t: float | None) -> float | None:
        return None if t is None else round(1000 * t / seconds, 3)

    figures: dict[str, Any] = {
        "benchmark": "streaming",
        "threads": 1,
        "audio_seconds": seconds,
        "chunk_seconds": CHUNK / 16000,
        "model": model_label,
        "ours_ms_per_audio_second": ms(ours),
        "ours_real_time_factor": round(seconds / ours, 1),
        "model_features": model.feature_config.kind,
        "seed_arch_ms_per_audio_second": ms(seed),
        "small_logmel_ms_per_audio_second": ms(by_kind["logmel"]),
        "small_logmel_phonetic_ms_per_audio_second": ms(by_kind["logmel_phonetic"]),
        "naive_keras_window_ms_per_audio_second": ms(naive),
        "openwakeword": oww_label,
        "openwakeword_ms_per_audio_second": ms(oww),
        "openwakeword_wall_ms_per_audio_second": ms(oww_wall),
        "openwakeword_over_ours": None if oww is None else round(oww / ours, 2),
        "naive_over_ours": round(naive / ours, 1),
        "goal_ms_per_audio_second": 5.0,
        "meets_goal": ms(ours) <= 5.0,
    }
    rows = [
        ("ours: StreamingDetector, " + model_label, ms(ours)),
        ("ours: StreamingDetector, seed architecture", ms(seed)),
        ("ours: StreamingDetector, small on logmel", ms(by_kind["logmel"])),
        ("ours: StreamingDetector, small on logmel_phonetic", ms(by_kind["logmel_phonetic"])),
        ("naive: Keras on last 10 s every 0.5 s", ms(naive)),
        (oww_label, ms(oww)),
    ]
    print(f"{'ms of compute per audio second, 1 thread':<60} ms/s", file=sys.stderr)
    for label, value in rows:
        print(f"{label[:60]:<60} {value if value is not None else 'n/a'}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
