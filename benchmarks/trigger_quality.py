"""Trigger detection quality and cost: our model beside PocketSphinx keyword spotting.

PocketSphinx's keyphrase search (the CMU Sphinx way to spot a wake word, what Mycroft used
before Precise) spots any phrase with its English acoustic model, which was trained on real
speech, not on our synthetic voices: a reference for how far training only on local TTS
gets. Both detectors run on the same audio through the same event metrics
(:func:`lib.evaluate.evaluate_trigger`): the dev set (festival voices over dev backgrounds)
with the long negatives for false accepts per hour, and the test set (MBROLA and Pico voices).

Our model gives a score per 40 ms, so its DET curve sweeps the threshold; PocketSphinx gives
detections, so its curve is one point per keyphrase threshold (``--kws-thresholds``), each a
full pass. Reported: the false-reject rate at <= 0.5 / 2 / 5 / 10 / 50 false accepts per hour
(None where no point is that quiet), with the 95 % interval of the difference (PocketSphinx
minus ours) from a paired bootstrap over the files (:func:`lib.metrics.compare_frr`, as
``heyjoe compare``), the false-reject rate per voice at each system's <= 5 FA/h operating
point, and milliseconds of one CPU core per second of audio.

Usage: .venv/bin/python benchmarks/trigger_quality.py [--quick] [--model NAME_OR_DIR]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from lib import evalsets, metrics  # noqa: E402
from lib.evaluate import evaluate_trigger, evaluate_trigger_scores, frr_by_voice  # noqa: E402
from lib.trigger.train import dev_eval_sets  # noqa: E402

BUDGETS = metrics.COMPARISON_BUDGETS
KWS_THRESHOLDS = (1e10, 1e5, 1.0, 1e-5, 1e-10)


class KeyphraseDetector:
    """PocketSphinx keyphrase spotting behind the streaming-detector interface: audio in
    chunks of any size, one score per 100 ms block (1.0 where the phrase was spotted)."""

    sample_rate = 16000
    hop_seconds = 0.1
    offset_seconds = 0.1  # score i is for the audio up to (i + 1) * 100 ms
    threshold = 0.5

    def __init__(self, phrase: str, kws_threshold: float) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=self.sample_rate, loglevel="FATAL", keyphrase=phrase,
                               kws_threshold=kws_threshold)  # fmt: skip
        self._block = int(self.sample_rate * self.hop_seconds)
        self._pending = np.zeros(0, np.float32)
        self._open = False

    def reset(self) -> None:
        if self._open:
            self.decoder.end_utt()
        self.decoder.start_utt()
        self._open = True
        self._pending = np.zeros(0, np.float32)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        if not self._open:
            self.reset()
        x = np.concatenate([self._pending, np.asarray(chunk, np.float32)])
        n = len(x) // self._block
        self._pending = x[n * self._block :]
        out = np.zeros(n, np.float32)
        pcm = (np.clip(x[: n * self._block], -1.0, 1.0) * 32767).astype(np.int16)
        for i in range(n):
            self.decoder.process_raw(pcm[i * self._block : (i + 1) * self._block].tobytes())
            if self.decoder.hyp() is not None:  # spotted: count it, then listen afresh
                out[i] = 1.0
                self.decoder.end_utt()
                self.decoder.start_utt()
        return out


class CpuTimed:
    """A detector whose ``process`` calls are timed in CPU seconds of this process (other
    jobs on the machine do not count; reading and resampling the files do not either)."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.cpu_seconds = 0.0
        for name in ("sample_rate", "hop_seconds", "offset_seconds"):
            setattr(self, name, getattr(detector, name))
        self.threshold = getattr(detector, "threshold", 0.5)

    def reset(self) -> None:
        self.detector.reset()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        t = time.process_time()
        out = self.detector.process(chunk)
        self.cpu_seconds += time.process_time() - t
        return out


def budget_frrs(curve: list[dict[str, Any]]) -> dict[str, float | None]:
    return {f"{b:g}": metrics.frr_at_fa_per_hour(curve, b) for b in BUDGETS}


def operating_point(curve: list[dict[str, Any]], fa_per_hour: float = 5.0) -> float | None:
    """The lowest threshold of the curve with at most ``fa_per_hour`` false accepts."""
    return metrics.threshold_at_fa_per_hour(curve, fa_per_hour)


def by_voice(rates: dict[str, dict[str, Any]] | None) -> dict[str, float]:
    return {v: round(r["false_reject_rate"], 3) for v, r in (rates or {}).items()}


def run_ours(model_arg: str | None, dev: Path, neg: Path, test: Path) -> dict[str, Any]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from lib.evaluate import load_trigger_model

    model = load_trigger_model(model_arg)
    from lib.trigger import StreamingDetector

    timed = CpuTimed(StreamingDetector(model))
    report, scored = evaluate_trigger_scores([dev, neg], detector=timed,
                                             threshold=model.threshold)  # fmt: skip
    cpu = timed.cpu_seconds
    th = operating_point(report["det"])
    at = {"dev": None, "test": None}
    if th is not None:
        at["dev"] = by_voice(frr_by_voice(scored, [dev, neg], th))
        test_report = evaluate_trigger(test, model, threshold=th)
        at["test"] = by_voice(test_report["frr_by_voice"])
        test_frr = test_report["at_model_threshold"]["false_reject_rate"]
    seconds = report["audio_seconds"]
    return {
        "name": model.name,
        "frr_at": budget_frrs(report["det"]),
        "threshold_at_5": th,
        "test_frr_at_5": test_frr if th is not None else None,
        "by_voice_at_5": at,
        "ms_per_audio_second": round(1000 * cpu / seconds, 2),
        "dev_triggers": report["at_model_threshold"]["n_triggers"],
        "hours": round(report["at_model_threshold"]["hours"], 3),
        "counts": metrics.error_counts([s.item() for s in scored]),
    }


def run_pocketsphinx(phrase: str, thresholds: list[float], dev: Path, neg: Path,
                     test: Path) -> dict[str, Any]:  # fmt: skip
    try:
        import pocketsphinx  # noqa: F401
    except ImportError as exc:
        return {"error": f"pocketsphinx not installed ({exc})"}
    curve, reports, cpu, seconds = [], {}, 0.0, 0.0
    passes = []  # per file, each pass's misses and false accepts: the bootstrap's input
    for kt in thresholds:
        det = KeyphraseDetector(phrase, kt)
        timed = CpuTimed(det)
        r, scored = evaluate_trigger_scores([dev, neg], detector=timed, threshold=0.5)
        passes.append(metrics.error_counts([s.item() for s in scored], [0.5]))
        cpu += timed.cpu_seconds
        seconds += r["audio_seconds"]
        point = {**r["at_model_threshold"], "threshold": kt}
        curve.append(point)
        reports[kt] = (det, scored)
        print(f"  pocketsphinx kws_threshold {kt:g}: FRR {point['false_reject_rate']:.3f}, "
              f"{point['false_accepts_per_hour']:.1f} FA/h", file=sys.stderr)  # fmt: skip
    quiet = [p for p in curve if p["false_accepts_per_hour"] <= 5.0]
    best = min(quiet, key=lambda p: p["false_reject_rate"]) if quiet else None
    at = {"dev": None, "test": None}
    test_frr = None
    if best is not None:
        det, scored = reports[best["threshold"]]
        at["dev"] = by_voice(frr_by_voice(scored, [dev, neg], 0.5))
        test_report = evaluate_trigger(test, detector=det, threshold=0.5)
        at["test"] = by_voice(test_report["frr_by_voice"])
        test_frr = test_report["at_model_threshold"]["false_reject_rate"]
    return {
        "frr_at": {f"{b:g}": _frr_at(curve, b) for b in BUDGETS},
        "kws_threshold_at_5": None if best is None else best["threshold"],
        "test_frr_at_5": test_frr,
        "by_voice_at_5": at,
        "points": [
            {k: p[k] for k in ("threshold", "false_reject_rate", "false_accepts_per_hour")}
            for p in curve
        ],  # fmt: skip
        "ms_per_audio_second": round(1000 * cpu / seconds, 2) if seconds else None,
        "counts": {
            "thresholds": np.asarray(thresholds, float),
            "triggers": passes[0]["triggers"],
            "seconds": passes[0]["seconds"],
            "missed": np.concatenate([c["missed"] for c in passes], axis=1),
            "false_accepts": np.concatenate([c["false_accepts"] for c in passes], axis=1),
        },
    }


def _frr_at(points: list[dict[str, Any]], fa_per_hour: float) -> float | None:
    """The lowest false-reject rate among points with at most ``fa_per_hour``."""
    quiet = [p["false_reject_rate"] for p in points if p["false_accepts_per_hour"] <= fa_per_hour]
    return min(quiet) if quiet else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few clips and a minute of negatives (smoke run)")  # fmt: skip
    parser.add_argument("--model", help="our trigger model (default: the shipped one)")
    parser.add_argument("--kws-thresholds", type=float, nargs="+", default=None,
                        help="PocketSphinx keyphrase thresholds, one pass each")  # fmt: skip
    args = parser.parse_args()
    clips, minutes = (4, 1.0) if args.quick else (40, 60.0)
    evalsets.ensure_corpus("quick" if args.quick else "full")
    # the folders training's evaluation uses (lib.trigger.train.evaluate_model)
    dev, neg = dev_eval_sets(None, clips, minutes)
    test = evalsets.make_trigger_devset(clips, evalsets.set_dir(evalsets.TRIGGER_TEST, clips),
                                        split="test")  # fmt: skip
    thresholds = args.kws_thresholds or ([1e-20] if args.quick else list(KWS_THRESHOLDS))
    ours = run_ours(args.model, dev, neg, test)
    ref = run_pocketsphinx("hey joe", thresholds, dev, neg, test)
    both = "error" not in ref
    # is the difference more than these sets' noise? (A = ours, B = PocketSphinx)
    diff = metrics.compare_frr(ours["counts"], ref["counts"], BUDGETS) if both else {}
    figures = {
        "benchmark": "trigger_quality",
        "dev_triggers": ours["dev_triggers"],
        "hours": ours["hours"],
        "ours_model": ours["name"],
        **{f"ours_frr_at_{k}_fa_per_hour": v for k, v in ours["frr_at"].items()},
        **{f"pocketsphinx_frr_at_{k}_fa_per_hour": (ref["frr_at"][k] if both else None)
           for k in ours["frr_at"]},  # fmt: skip
        **{f"pocketsphinx_minus_ours_at_{k}_95": v["difference_95"] for k, v in diff.items()},
        "ours_test_frr_at_5": ours["test_frr_at_5"],
        "pocketsphinx_test_frr_at_5": ref.get("test_frr_at_5"),
        "ours_frr_by_voice_at_5": ours["by_voice_at_5"],
        "pocketsphinx_frr_by_voice_at_5": ref.get("by_voice_at_5"),
        "pocketsphinx_points": ref.get("points"),
        "ours_ms_per_audio_second": ours["ms_per_audio_second"],
        "pocketsphinx_ms_per_audio_second": ref.get("ms_per_audio_second"),
        "compute_ratio_pocketsphinx_over_ours": round(
            ref["ms_per_audio_second"] / ours["ms_per_audio_second"], 2)
        if both and ref["ms_per_audio_second"] else None,
        "pocketsphinx_note": ref.get("error"),
        "quick": args.quick,
    }  # fmt: skip
    print(f"{'system':<14} " + " ".join(f"{'<=' + f'{b:g}':>7}" for b in BUDGETS)
          + f" {'test@5':>7} {'ms/s':>7}", file=sys.stderr)  # fmt: skip
    for name, r in (("ours", ours), ("pocketsphinx", ref)):
        if "error" in r:
            print(f"{name:<14} {r['error']}", file=sys.stderr)
            continue
        cells = ["  n/a" if v is None else f"{100 * v:.0f}%" for v in r["frr_at"].values()]
        test_frr = r["test_frr_at_5"]
        print(f"{name:<14} " + " ".join(f"{c:>7}" for c in cells)
              + f" {'n/a' if test_frr is None else f'{100 * test_frr:.0f}%':>7}"
              + f" {r['ms_per_audio_second']:>7}", file=sys.stderr)  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
