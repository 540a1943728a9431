"""Speaker verification quality and cost: our embedder beside Resemblyzer (pretrained GE2E).

Trials: every pair of up to N utterances of the held-out dev speakers of the synthetic
database (festival voices and their pitch/formant-shifted variants, never seen in training;
``--split test``: the held-out espeak-ng/flite speakers instead, same engines as training).
Both systems embed each whole file their own way (ours: energy VAD, 2 s windows, average;
Resemblyzer: its preprocess_wav (webrtcvad) and embed_utterance); the same trials are scored
by cosine similarity and the equal error rate comes from ``lib.metrics.equal_error_rate``,
with the 95 % interval of the difference (Resemblyzer minus ours) from a paired bootstrap over
the speakers (``lib.metrics.compare_eer``).
Cost: milliseconds of one CPU core per second of audio (both limited to one thread).

Resemblyzer is optional (``pip install -e .[bench]``); without it its figures are null.

Usage: .venv/bin/python benchmarks/speaker_quality.py [--quick] [--model NAME_OR_DIR]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from lib import audio  # noqa: E402
from lib.config import load_config  # noqa: E402
from lib.metrics import compare_eer, equal_error_rate  # noqa: E402
from lib.speaker import database  # noqa: E402
from lib.speaker.train import trial_scores, trial_speakers  # noqa: E402


def run_ours(model_arg: str | None, files: list[Path]) -> tuple[np.ndarray, float, dict]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from lib import speaker

    model = speaker.load_model(model_arg)
    speaker.embed_file(model, files[0])  # warm-up (graph tracing)
    t = time.process_time()
    emb = np.stack([speaker.embed_file(model, f) for f in files])
    return (
        emb,
        time.process_time() - t,
        {"name": model.name, "params": model.keras_model.count_params()},
    )


def run_resemblyzer(files: list[Path]) -> tuple[np.ndarray | None, float | None, dict]:
    try:
        import torch
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError as exc:
        return None, None, {"error": f"resemblyzer not installed ({exc})"}
    torch.set_num_threads(1)
    enc = VoiceEncoder("cpu", verbose=False)
    enc.embed_utterance(preprocess_wav(files[0]))
    t = time.process_time()
    emb = np.stack([enc.embed_utterance(preprocess_wav(f)) for f in files])
    params = sum(p.numel() for p in enc.parameters())
    return emb, time.process_time() - t, {"params": int(params)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick database, few trials")
    parser.add_argument("--model", help="our speaker model (default: the shipped one)")
    parser.add_argument("--utterances", type=int, default=None, help="utterances used")
    parser.add_argument(
        "--split", default="dev", choices=["dev", "test"],
        help="dev: festival voices (other engine); test: held-out espeak/flite speakers",
    )  # fmt: skip
    args = parser.parse_args()
    cfg = load_config("speaker", "quick" if args.quick else "full")
    db = database.load_database(cfg)
    utts = db.sample(args.split, args.utterances or (16 if args.quick else 200))
    files = [db.full_path(u) for u in utts]
    speakers = [u.speaker for u in utts]
    seconds = sum(len(audio.read_audio(f)[0]) / audio.read_audio(f)[1] for f in files)

    results, trials = {}, {}
    for name, fn in (("ours", lambda: run_ours(args.model, files)),
                     ("resemblyzer", lambda: run_resemblyzer(files))):  # fmt: skip
        emb, cpu, info = fn()
        if emb is None:
            results[name] = {"eer": None, "ms_per_audio_second": None, **info}
            continue
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        scores, labels = trial_scores(emb, speakers)
        trials[name] = scores
        eer, thr = equal_error_rate(scores, labels)
        results[name] = {"eer": round(eer, 4), "eer_threshold": round(thr, 4),
                         "ms_per_audio_second": round(1000 * cpu / seconds, 2), **info}  # fmt: skip
    ours, ref = results["ours"], results["resemblyzer"]
    both = ref["eer"] is not None
    diff_95 = None
    if both:  # is the gap more than these speakers' noise? (bootstrap over speakers)
        diff_95 = compare_eer(trials["ours"], trials["resemblyzer"], labels,
                              trial_speakers(speakers))["difference_95"]  # fmt: skip
    figures = {
        "benchmark": "speaker_quality",
        "split": args.split,
        "speakers": len(set(speakers)),
        "utterances": len(files),
        "trials": len(files) * (len(files) - 1) // 2,
        "audio_seconds": round(seconds, 1),
        "ours_eer": ours["eer"],
        "resemblyzer_eer": ref["eer"],
        "resemblyzer_minus_ours_eer_95": diff_95,
        "eer_ratio_ours_over_resemblyzer": round(ours["eer"] / ref["eer"], 3)
        if both and ref["eer"] > 0 else None,
        "ours_ms_per_audio_second": ours["ms_per_audio_second"],
        "resemblyzer_ms_per_audio_second": ref["ms_per_audio_second"],
        "compute_ratio_ours_over_resemblyzer": round(
            ours["ms_per_audio_second"] / ref["ms_per_audio_second"], 3) if both else None,
        "ours_params": ours.get("params"),
        "resemblyzer_params": ref.get("params"),
        "ours_model": ours.get("name"),
        "resemblyzer_note": ref.get("error"),
        "quick": args.quick,
    }  # fmt: skip
    print(f"{'system':<14} {'EER':>8} {'ms/s audio (1 core)':>20} {'params':>10}", file=sys.stderr)
    for name, r in results.items():
        eer = "n/a" if r["eer"] is None else f"{100 * r['eer']:.2f}%"
        ms = "n/a" if r["ms_per_audio_second"] is None else f"{r['ms_per_audio_second']:.1f}"
        print(f"{name:<14} {eer:>8} {ms:>20} {r.get('params', 'n/a')!s:>10}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
