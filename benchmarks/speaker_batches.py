"""Speaker triplet batches: time to build one batch of 32 triplets of 4 s segments.

Ours: crops cut from the feature cache (features computed once per utterance), with the
trainer's sampler (``configs/speaker.yaml``: semi-hard negatives for half the triplets from an
installed embedding table):

(a) in numpy: draw the triplets and crop starts, then one vectorised gather from the float32
    copy of the cache (:func:`lib.speaker.batches.crop_numpy`); also from the float16 memory
    map (the fallback for caches too big to hold as float32);
(b) through the ``tf.data`` pipeline the trainer iterates (:func:`triplet_dataset`): per batch
    time of back-to-back ``next()`` calls in steady state (after warm-up), median and mean,
    i.e. how fast the pipeline can produce batches when nothing else runs; and the time the
    training loop actually waits for a batch between steps (``data_ms`` in the trainer).

Reference (the seed notebook's way, which measured 9 s per batch on its data): each of the 96
segments read from its audio file and turned into log-mel features when the batch is built;
timed interleaved with (a) in the same run. Also the training step time of the configured
ResCNN on such a batch: the goal is a batch in <= 10 ms, far below a training step.

In the full run the cache is padded with random utterances to about the size of the shipped
speaker cache (1.1 M frames), so the gather reads from a realistically large matrix.

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

GOAL_MS = 10.0
SHIPPED_CACHE_FRAMES = 1_130_000  # data/speaker_cache/<db>/features.npy of the shipped model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few repeats")
    args = parser.parse_args()
    cfg = load_config("speaker", "full")
    fc = cfg.feature_config()
    n_triplets, seconds = 32, 4.0
    crop = int(round(seconds / cfg.hop_seconds))
    n_speakers, per_speaker = (8, 3) if args.quick else (40, 5)
    repeats = 5 if args.quick else 30
    n_tfdata = 20 if args.quick else 100
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
        frames = sum(len(f) for *_, f in utts)
        k = 0
        while not args.quick and frames < SHIPPED_CACHE_FRAMES:  # padding: random features
            n = int(rng.integers(450, 1500))
            feats = rng.standard_normal((n, fc.n_bins), dtype=np.float32)
            utts.append((f"pad{k // 6}/{k % 6}", f"pad{k // 6}", "train", feats))
            frames, k = frames + n, k + 1
        c = cache.write_cache(tmp / "cache", utts, fc)
        del utts
        sampler = batches.TripletSampler(
            c, "train", crop, cfg.margin, cfg.hard_negative_fraction, cfg.hard_candidates
        )
        table_ids = np.sort(
            rng.choice(sampler.utterances, min(cfg.table_utterances, len(sampler.utterances)),
                       replace=False)
        )  # fmt: skip
        emb = rng.standard_normal((len(table_ids), cfg.embedding_dim)).astype(np.float32)
        sampler.set_table(table_ids, emb / np.linalg.norm(emb, axis=1, keepdims=True))
        bank = batches.feature_bank(c)

        def ours_numpy() -> np.ndarray:
            starts = sampler.triplet_batch_starts(rng, n_triplets)
            return batches.crop_numpy(bank, starts, crop)

        def ours_numpy_f16() -> np.ndarray:
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

        fns = {"ours_numpy": ours_numpy, "ours_numpy_f16": ours_numpy_f16,
               "seed_style": seed_style}  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in fns}
        cpu: dict[str, list[float]] = {k: [] for k in fns}  # CPU time: what a busy machine hides
        for fn in fns.values():
            fn()
        for r in range(repeats):
            for name, fn in fns.items():
                if name == "seed_style" and r >= repeats // 3 + 1:
                    continue  # about 1 s each: a third of the repeats is plenty
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
        for _ in range(10):  # warm-up: tracing, first buffers, autotuning
            next(it)
        per_batch = []
        t_all, c_all = time.perf_counter(), time.process_time()
        for _ in range(n_tfdata):
            t = time.perf_counter()
            batch = next(it)
            per_batch.append(time.perf_counter() - t)
        tfdata_mean = (time.perf_counter() - t_all) / n_tfdata
        tfdata_cpu = (time.process_time() - c_all) / n_tfdata
        assert batch.shape == (3 * n_triplets, crop, fc.n_bins) and batch.dtype == tf.float32

        channels = (8, 16) if args.quick else cfg.channels
        model = TripletModel(build_embedder(cfg.n_mels, channels, cfg.blocks_per_stage,
                                            cfg.embedding_dim), cfg.margin)  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        step = tf.function(model.train_step)
        float(step(next(it))["loss"])  # traces
        steps, waits = [], []
        for _ in range(3 if args.quick else 6):  # as the trainer's loop: wait, then train
            t0 = time.perf_counter()
            batch = next(it)
            t1 = time.perf_counter()
            float(step(batch)["loss"])
            waits.append(t1 - t0)
            steps.append(time.perf_counter() - t1)

    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    tfdata_ms = 1000 * statistics.median(per_batch)
    tfdata_mean_ms = 1000 * tfdata_mean
    train_ms = 1000 * statistics.median(steps)
    wait_ms = 1000 * statistics.median(waits)
    figures = {
        "benchmark": "speaker_batches",
        "batch": f"{n_triplets} triplets x {seconds:g} s ({crop} frames x {fc.n_mels} mels)",
        "cache_frames": int(len(c.features)),
        "cache_speakers": sampler.n_speakers,
        "hard_negative_fraction": cfg.hard_negative_fraction,
        "ours_numpy_batch_ms": round(med["ours_numpy"], 3),
        "ours_numpy_batch_cpu_ms": round(1000 * statistics.median(cpu["ours_numpy"]), 3),
        "ours_numpy_f16_mmap_batch_ms": round(med["ours_numpy_f16"], 3),
        "ours_tfdata_batch_ms": round(tfdata_ms, 3),
        "ours_tfdata_batch_mean_ms": round(tfdata_mean_ms, 3),
        "ours_tfdata_batch_cpu_ms": round(1000 * tfdata_cpu, 3),
        "ours_tfdata_batches_timed": n_tfdata,
        "ours_tfdata_wait_in_training_ms": round(wait_ms, 3),
        "seed_style_batch_ms": round(med["seed_style"], 1),
        "seed_style_batch_cpu_ms": round(1000 * statistics.median(cpu["seed_style"]), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seed_notes_batch_ms": 9000.0,
        "speedup_vs_seed_style": round(med["seed_style"] / med["ours_numpy"], 1),
        "speedup_tfdata_vs_seed_style": round(med["seed_style"] / tfdata_mean_ms, 1),
        "goal_batch_ms": GOAL_MS,
        "meets_goal": bool(max(med["ours_numpy"], tfdata_ms, tfdata_mean_ms) <= GOAL_MS),
        "train_step_ms": round(train_ms, 1),
        "train_step_model": f"ResCNN channels {list(channels)}",
        "batch_share_of_step": round(tfdata_mean_ms / train_ms, 4),
        "quick": args.quick,
    }
    print(f"{'one batch of 32 triplets of 4 s':<48} {'ms':>10}", file=sys.stderr)
    for name, v in (("ours: numpy crops from the float32 cache", med["ours_numpy"]),
                    ("ours: numpy crops from the float16 memory map", med["ours_numpy_f16"]),
                    ("ours: tf.data pipeline, median (steady state)", tfdata_ms),
                    ("ours: tf.data pipeline, mean (steady state)", tfdata_mean_ms),
                    ("ours: tf.data wait between training steps", wait_ms),
                    ("seed style: read + featurize per batch", med["seed_style"]),
                    ("training step (ResCNN)", train_ms)):  # fmt: skip
        print(f"{name:<48} {v:>10.2f}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
