"""The live assistant's latency and idle cost, on the live demo recordings (issue 7).

- **Detection delay**: from the end of "hey joe" (the recording's truth) to the moment the
  detection event exists: the end of the 80 ms chunk whose score crossed the threshold, plus
  the compute spent on that chunk.
- **Action delay**: from the end of the spoken command to the action: the end-pointing wait
  (``end_silence_seconds`` of silence, in stream time) plus recognition and the controller
  (wall clock, measured).
- **Idle CPU**: the share of one core spent listening to audio without the trigger (dev
  backgrounds, generated noise, speech without the trigger), at real-time pace: process CPU
  time over audio time, with the pacing loop of a real-time source (``--realtime-seconds``
  of it, sleeping between chunks as a microphone would) and as fast as possible over
  ``--idle-seconds``. Goal: at most 5 % of one core. Side by side on the same audio:
  openWakeWord 0.5.1's bundled ONNX ``hey_jarvis`` (``pip install -e .[bench]``), fed the same
  80 ms chunks, when it can be imported.

Everything runs on ONE thread (numpy, TensorFlow, ONNX). PocketSphinx uses the command
grammar (``configs/live.yaml``); the music controller is the dry run.
Usage: .venv/bin/python benchmarks/live.py [--quick] [--recordings 12] [--idle-seconds 120]
[--model NAME] [--threshold T]
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
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from streaming import time_oww  # noqa: E402


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def idle_audio(seconds: float, sr: int, wavs: list[Path]) -> np.ndarray:
    """Background-like audio without the trigger: the demo recordings that hold no trigger,
    then generated pink noise, hum and music, to ``seconds``."""
    from lib.audio import load_audio, match_loudness
    from lib.corpus import make_hum, make_music, make_noise
    from lib.live import demo

    parts = [load_audio(w, sr) for w in wavs if not demo.read_truth(w).commands]
    rng = np.random.default_rng(0)
    k = 0
    while sum(len(p) for p in parts) < seconds * sr:
        kind = k % 3
        if kind == 0:
            bg = make_noise(rng, 10.0, sr, "pink")
        elif kind == 1:
            bg = make_hum(rng, 10.0, sr)
        else:
            bg = make_music(rng, 10.0, sr)
        parts.append(match_loudness(bg.astype(np.float32), -40.0))
        k += 1
    return np.concatenate(parts)[: int(seconds * sr)].astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 recordings, 20 s idle, 3 s paced")
    ap.add_argument("--recordings", type=int, default=12)
    ap.add_argument("--idle-seconds", type=float, default=120.0)
    ap.add_argument("--realtime-seconds", type=float, default=10.0)
    ap.add_argument("--model", default=None, help="trigger model (default: the shipped one)")
    ap.add_argument("--threshold", type=float, default=None, help="default: the model card's")
    args = ap.parse_args()
    if args.quick:
        args.recordings, args.idle_seconds, args.realtime_seconds = 3, 20.0, 3.0

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from lib import config
    from lib.live import assistant, demo
    from lib.live.sources import Chunk

    overrides = {"model": args.model, "threshold": args.threshold}
    cfg = config.load_config("live", "full", {k: v for k, v in overrides.items() if v is not None})
    tmp = tempfile.TemporaryDirectory(prefix="heyjoe-bench-live-")
    wavs = demo.make_live_demo(Path(tmp.name), n=args.recordings)
    bot = assistant.build(cfg, synchronous=True)
    sr = bot.sr
    chunk = int(round(cfg.chunk_seconds * sr))

    # ---- latency on the demo recordings
    from lib.audio import load_audio

    det_delays, act_delays, asr_secs = [], [], []
    right = total = spurious = 0
    for wav in wavs:
        truth = demo.read_truth(wav)
        x = load_audio(wav, sr)
        events = []
        pending: dict = {}
        for i in range(0, len(x), chunk):
            c = Chunk(x[i : i + chunk], wav.name, i / sr)
            t0 = time.perf_counter()
            evs = bot.feed(c)
            wall = time.perf_counter() - t0
            t_end = (i + len(c.audio)) / sr
            for e in evs:
                if e.kind == "detection":
                    seg = next((s for s in truth.commands
                                if s.start - 0.2 <= e.time <= s.end + 1.0), None)  # fmt: skip
                    if seg is not None:
                        det_delays.append(t_end - seg.trigger_end + wall)
                        pending = {"seg": seg}
                if e.kind == "transcript":
                    asr_secs.append(e.data["asr_seconds"])
                if e.kind == "action" and pending:
                    # stream time from speech end to the capture's end, plus the wall time of
                    # the feed call that ended the capture and recognised it
                    act_delays.append(t_end - pending["seg"].end + wall)
                    pending = {}
            events += evs
        events += bot.finish()
        score = demo.score_events(events, truth)
        right += score.correct
        total += score.expected
        spurious += len(score.spurious)

    # ---- idle listening
    from lib.audio import write_wav
    from lib.live.sources import FileSource

    idle = idle_audio(args.idle_seconds, sr, wavs)
    bot.on_scores = None
    c0 = time.process_time()
    bot._new_source("")
    for i in range(0, len(idle), chunk):
        bot.feed(Chunk(idle[i : i + chunk], "idle", i / sr))
    idle_cpu = time.process_time() - c0
    idle_share = idle_cpu / args.idle_seconds

    paced = Path(tmp.name) / "paced.wav"
    write_wav(paced, idle[: int(args.realtime_seconds * sr)], sr)
    src = FileSource([paced], sr, cfg.chunk_seconds, realtime=True)
    c0, w0 = time.process_time(), time.perf_counter()
    for c in src:
        bot.feed(c)
    paced_share = (time.process_time() - c0) / (time.perf_counter() - w0)
    bot.close()

    oww_cpu, _, oww_label = time_oww(idle, 1)
    oww_share = oww_cpu / args.idle_seconds if oww_cpu is not None else None

    figures = {
        "benchmark": "live",
        "recordings": len(wavs),
        "commands": total,
        "commands_right": right,
        "spurious_actions": spurious,
        "model": args.model or "shipped",
        "threshold": round(bot.threshold, 6),
        "detection_delay_s_median": pct(det_delays, 50),
        "detection_delay_s_p90": pct(det_delays, 90),
        "action_delay_s_median": pct(act_delays, 50),
        "action_delay_s_p90": pct(act_delays, 90),
        "asr_seconds_median": pct(asr_secs, 50),
        "end_silence_seconds": cfg.end_silence_seconds,
        "idle_cpu_share_one_core": round(idle_share, 4),
        "idle_cpu_share_realtime_paced": round(paced_share, 4),
        "idle_goal_share": 0.05,
        "idle_goal_met": bool(max(idle_share, paced_share) <= 0.05),
        "openwakeword_idle_cpu_share": round(oww_share, 4) if oww_share is not None else None,
        "openwakeword_over_ours_idle_ratio": (
            round(oww_share / idle_share, 2) if oww_share is not None and idle_share > 0 else None
        ),
        "openwakeword": oww_label,
        "idle_seconds": args.idle_seconds,
    }
    for k, v in figures.items():
        print(f"{k:>36}: {v}", file=sys.stderr)
    print(json.dumps(figures))
    tmp.cleanup()


if __name__ == "__main__":
    main()
