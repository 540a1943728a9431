"""Speaker triplet batches: time to build one batch of 32 triplets of 4 s segments.

Ours: crops cut from the float16 feature cache (features computed once per utterance),
(a) in numpy (draw triplets + gather) and (b) through the ``tf.data`` pipeline the trainer
uses (parallel map, prefetch; steady-state time per batch). Reference (the seed notebook's
way, which measured 9 s per batch on its data): each of the 96 segments read from its audio
file and turned into log-mel features when the batch is built. Also the training step time
of the configured ResCNN on such a batch (``configs/speaker.yaml``), so the two can be
compared: the goal is a batch in <= 10 ms, far below a training step.

Usage: .venv/bin/python benchmarks/speaker_batches.py [--quick]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lib import audio  # noqa: E402
from lib.config import load_config  # noqa: E402
from lib.features import compute_features  # noqa: E402
from lib.speaker import batches, cache  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few repeats")
    args = parser.parse_args()
    cfg = load_config("speaker", "full")
    fc = cfg.feature_config()
    n_triplets, seconds = 32, 4.0
    crop = int(round(seconds / cfg.hop_seconds))
    n_speakers, per_speaker = (8, 3) if args.quick else (40, 5)
    repeats = 3 if args.quick else 20
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory(prefix="heyjoe-bench-") as tmp_name:
        tmp = Path(tmp_name)
        utts, files = [], []
        for s in range(n_speakers):
            for u in range(per_speaker):
                x = 0.1 * rng.standard_normal(int(rng.uniform(4.5, 8.0) * fc.sample_rate))
                path = tmp / "audio" / f"s{s}" / f"{u}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, x.astype(np.float32), fc.sample_rate)
                files.append((path, s))
                utts.append(
                    (f"s{s}/{u}", f"s{s}", "train", compute_features(x.astype(np.float32), fc))
                )
        c = cache.write_cache(tmp / "cache", utts, fc)
        sampler = batches.TripletSampler(c, "train", crop)

        def ours_numpy() -> np.ndarray:
            starts = sampler.triplet_batch_starts(rng, n_triplets)
            return batches.crop_numpy(c.features, starts, crop)

        by_speaker: dict[int, list[Path]] = {}
        for p, s in files:
            by_speaker.setdefault(s, []).append(p)

        def seed_style() -> np.ndarray:
            """Read and featurize every segment of the batch at batch time (the seed's way)."""
            out = []
            for _ in range(n_triplets):
                s, o = rng.choice(n_speakers, size=2, replace=False)
                a, p = rng.choice(by_speaker[s], size=2, replace=False)
                n = by_speaker[o][rng.integers(per_speaker)]
                for f in (a, p, n):
                    x = audio.load_audio(f, fc.sample_rate)
                    feats = compute_features(x, fc)
                    st = rng.integers(len(feats) - crop + 1)
                    out.append(feats[st : st + crop])
            return np.stack(out)

        times = {"ours_numpy": [], "seed_style": []}
        cpu = {"ours_numpy": [], "seed_style": []}  # CPU time: what a busy machine hides
        ours_numpy(), seed_style()
        for _ in range(repeats):
            for name, fn in (("ours_numpy", ours_numpy), ("seed_style", seed_style)):
                t, c0 = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c0)

        import keras
        import tensorflow as tf

        from lib.speaker.model import TripletModel, build_embedder

        feats_t = batches.features_tensor(c)
        ds = batches.triplet_dataset(sampler, feats_t, n_triplets, seed=0)
        it = iter(ds)
        for _ in range(3):
            next(it)
        n_batches = 10 if args.quick else 100
        t = time.perf_counter()
        for _ in range(n_batches):
            batch = next(it)
        tfdata_ms = 1000 * (time.perf_counter() - t) / n_batches

        channels = (8, 16) if args.quick else cfg.channels
        model = TripletModel(build_embedder(cfg.n_mels, channels, cfg.blocks_per_stage,
                                            cfg.embedding_dim), cfg.margin)  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        step = tf.function(model.train_step)
        float(step(batch)["loss"])
        steps = []
        for _ in range(2 if args.quick else 5):
            t = time.perf_counter()
            float(step(next(it))["loss"])
            steps.append(time.perf_counter() - t)

    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    train_ms = 1000 * statistics.median(steps)
    figures = {
        "benchmark": "speaker_batches",
        "batch": f"{n_triplets} triplets x {seconds:g} s ({crop} frames x {fc.n_mels} mels)",
        "ours_numpy_batch_ms": round(med["ours_numpy"], 3),
        "ours_numpy_batch_cpu_ms": round(1000 * statistics.median(cpu["ours_numpy"]), 3),
        "ours_tfdata_batch_ms": round(tfdata_ms, 3),
        "seed_style_batch_ms": round(med["seed_style"], 1),
        "seed_style_batch_cpu_ms": round(1000 * statistics.median(cpu["seed_style"]), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seed_notes_batch_ms": 9000.0,
        "speedup_vs_seed_style": round(med["seed_style"] / med["ours_numpy"], 1),
        "goal_batch_ms": 10.0,
        "meets_goal": bool(med["ours_numpy"] <= 10.0 and tfdata_ms <= 10.0),
        "train_step_ms": round(train_ms, 1),
        "train_step_model": f"ResCNN channels {list(channels)}",
        "batch_share_of_step": round(tfdata_ms / train_ms, 4),
        "quick": args.quick,
    }
    print(f"{'one batch of 32 triplets of 4 s':<44} {'ms':>10}", file=sys.stderr)
    for name, v in (("ours: numpy crops from the cache", med["ours_numpy"]),
                    ("ours: tf.data pipeline (steady state)", tfdata_ms),
                    ("seed style: read + featurize per batch", med["seed_style"]),
                    ("training step (ResCNN)", train_ms)):  # fmt: skip
        print(f"{name:<44} {v:>10.2f}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
