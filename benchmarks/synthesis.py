"""Example synthesis speed: our dataset builder beside the seed notes' pydub + matplotlib loop.

Reference (what the notes did, Coursera's trigger-word helpers): pydub ``AudioSegment``s at
44.1 kHz; per example the background lowered by 20 dB, 0-4 activates and 0-2 negatives
``overlay``-ed at random non-overlapping positions (``insert_audio_clip`` / ``is_overlapping``),
``insert_ones`` labels, ``match_target_amplitude`` to -20 dBFS, the example exported to
``train.wav``, read back with ``scipy.io.wavfile`` and turned into features with
``plt.specgram(NFFT=200, Fs=8000, noverlap=120)`` (Agg backend: it makes the image, as in the
notes, but nothing is rendered); the features collected and saved with ``np.save`` at the end.
Each example's image is removed from the axes afterwards, which keeps memory flat and costs
next to nothing (the notes never cleared the axes; ``plt.cla()`` would add ~50 ms an example).
Its randomness comes from a passed-in generator (the notes' fixed seed is not copied).

Ours, through ``lib.datasets.build_dataset`` (corpus loading, pool start-up and writing the
shards included):
  (a) the default config: 16 kHz log-mel, augmentation on; 1 process and 2 processes;
  (b) seed-equivalent settings: 44.1 kHz, the seed's spectrogram, no augmentation, 0-4
      activates and 0-2 negatives; 1 process and 2 processes.

The machine may be busy, so the cases run in rounds, side by side (the order reversed every
other round), and each of ours is compared with the seed's run in the same round: the
speedups are the median of the per-round ratios, with their range.

Clips: "hey joe" and other phrases from espeak-ng (synthetic tone bursts if it is missing),
backgrounds of generated noise, written at 44.1 kHz to a temporary folder (never data/).

Usage: .venv/bin/python benchmarks/synthesis.py [--quick] [--rounds N]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.audio import read_audio, resample, write_wav  # noqa: E402
from lib.corpus import ClipRecord, write_manifest  # noqa: E402

RATE = 44100
ACTIVATE_VOICES = ["en-us", "en-gb", "en+f3", "en+m3", "en-gb-scotland", "en+f4"]
NEGATIVE_TEXTS = ["hello", "hey john", "okay", "play music", "joey", "what time is it"]


# ------------------------------------------------------------------------------- clips


def _espeak(text: str, voice: str, out: Path) -> np.ndarray | None:
    if shutil.which("espeak-ng") is None:
        return None
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "160", "-w", str(out), text], capture_output=True
    )
    if done.returncode != 0 or not out.is_file():
        return None
    x, sr = read_audio(out)
    nz = np.flatnonzero(np.abs(x) > 1e-3)
    x = x[nz[0] : nz[-1] + 1] if len(nz) else x
    return resample(x, sr, RATE)


def _burst(rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(150, 400)
    x = np.sin(2 * np.pi * (f0 * t + 80 * t**2)) * np.hanning(len(t))
    return (0.3 * x).astype(np.float32)


def _noise(rng: np.random.Generator, seconds: float, exponent: float) -> np.ndarray:
    n = int(seconds * RATE)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec[1:] /= f[1:] ** (exponent / 2)
    x = np.fft.irfft(spec, n)
    return (0.05 * x / np.std(x)).astype(np.float32)


def make_corpus(raw: Path, rng: np.random.Generator) -> str:
    """A small raw corpus at 44.1 kHz with a manifest; returns how the speech was made."""
    records: list[ClipRecord] = []
    engine = "espeak" if shutil.which("espeak-ng") else "tones"

    def add(kind: str, name: str, x: np.ndarray, text: str) -> None:
        rel = f"{kind}s/{name}.wav"
        write_wav(raw / rel, x, RATE)
        records.append(
            ClipRecord(
                rel,
                kind,
                "benchmark",
                text,
                engine,
                "",
                "",
                None,
                None,
                "train",
                RATE,
                len(x) / RATE,
            )
        )

    tmp = raw / "tmp.wav"
    for i, voice in enumerate(ACTIVATE_VOICES):
        x = _espeak("hey joe", voice, tmp)
        add("activate", f"a{i}", x if x is not None else _burst(rng, 0.8), "hey joe")
    for i, text in enumerate(NEGATIVE_TEXTS):
        x = _espeak(text, ACTIVATE_VOICES[i % len(ACTIVATE_VOICES)], tmp)
        add("negative", f"n{i}", x if x is not None else _burst(rng, 0.6), text)
    for i, exponent in enumerate((0.0, 1.0, 2.0)):
        add("background", f"b{i}", _noise(rng, 10.0, exponent), "")
    tmp.unlink(missing_ok=True)
    write_manifest(records, raw)
    return engine


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))  # fmt: skip
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# ------------------------------------------------------------------------------- the seed


def seed_reference(raw: Path, n: int, out: Path, rng: np.random.Generator) -> tuple[float, float]:
    """The notes' loop; returns (seconds, CPU seconds) for ``n`` examples (loading the clips
    included, imports not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pydub import AudioSegment
    from scipy.io import wavfile

    ty = 1375

    def load_raw_audio():
        def folder(name):
            return [AudioSegment.from_wav(p) for p in sorted((raw / name).glob("*.wav"))]

        return folder("activates"), folder("negatives"), folder("backgrounds")

    def get_random_time_segment(segment_ms):
        start = int(rng.integers(0, 10000 - segment_ms))
        return start, start + segment_ms - 1

    def is_overlapping(segment_time, previous_segments):
        start, end = segment_time
        return any(start <= p_end and end >= p_start for p_start, p_end in previous_segments)

    def insert_audio_clip(background, clip, previous_segments):
        segment_ms = len(clip)
        segment_time = get_random_time_segment(segment_ms)
        for _ in range(1000):  # Coursera's loop had no bound
            if not is_overlapping(segment_time, previous_segments):
                break
            segment_time = get_random_time_segment(segment_ms)
        else:
            return background, None
        previous_segments.append(segment_time)
        return background.overlay(clip, position=segment_time[0]), segment_time

    def insert_ones(y, segment_end_ms):
        end_y = int(segment_end_ms * ty / 10000.0)
        for i in range(end_y + 1, end_y + 51):
            if i < ty:
                y[0, i] = 1
        return y

    def match_target_amplitude(sound, target_dbfs):
        return sound.apply_gain(target_dbfs - sound.dBFS)

    def graph_spectrogram(wav_file):
        rate, data = wavfile.read(wav_file)
        pxx, freqs, bins, im = plt.specgram(data, NFFT=200, Fs=8000, noverlap=120)
        im.remove()  # keeps memory flat; the notes let images pile up (same cost per call)
        return pxx

    def create_training_example(background, activates, negatives, path):
        background = background - 20
        y = np.zeros((1, ty))
        previous_segments = []
        for k in rng.integers(len(activates), size=int(rng.integers(0, 5))):
            background, segment = insert_audio_clip(background, activates[k], previous_segments)
            if segment is not None:
                y = insert_ones(y, segment[1])
        for k in rng.integers(len(negatives), size=int(rng.integers(0, 3))):
            background, _ = insert_audio_clip(background, negatives[k], previous_segments)
        background = match_target_amplitude(background, -20.0)
        background.export(path, format="wav")
        return graph_spectrogram(path), y

    start, cpu_start = time.perf_counter(), _cpu_seconds()
    activates, negatives, backgrounds = load_raw_audio()
    xs, ys = [], []
    for i in range(n):
        bg = backgrounds[i % len(backgrounds)]
        x, y = create_training_example(bg, activates, negatives, str(out / "train.wav"))
        xs.append(x.T)
        ys.append(y.T)
    np.save(out / "X.npy", np.stack(xs))
    np.save(out / "Y.npy", np.stack(ys))
    plt.close("all")
    return time.perf_counter() - start, _cpu_seconds() - cpu_start


# ------------------------------------------------------------------------------- ours


def ours(cfg, raw: Path, workers: int) -> tuple[float, float]:
    """Build the dataset; returns (seconds, CPU seconds of this process and its workers)."""
    from lib.datasets import build_dataset, dataset_dir

    start, cpu_start = time.perf_counter(), _cpu_seconds()
    build_dataset(cfg, raw_dir=raw, workers=workers, progress=False)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    shutil.rmtree(dataset_dir(cfg.dataset_name))  # keep the disk flat between rounds
    return seconds, cpu


SEED = "seed notes (pydub + specgram, 44.1 kHz)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few examples (smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    args = parser.parse_args()
    n_ours, n_seed, shard = (24, 6, 6) if args.quick else (1000, 40, 125)
    rounds = args.rounds or (1 if args.quick else 3)

    from lib.synth import SynthesisConfig

    default = SynthesisConfig(n_examples=n_ours, shard_size=shard, seed=1)
    seed_like = default.replace(
        sample_rate=RATE,
        feature_kind="spectrogram",
        activates_per_example=(0, 4),
        negatives_per_example=(0, 2),
        gain_probability=0.0,
        snr_probability=0.0,
        reverb_probability=0.0,
        speed_probability=0.0,
        pitch_probability=0.0,
    )
    cases = [
        (SEED, None, 0, "seed"),
        ("ours default (16 kHz log-mel, augmented), 1 process", default, 1, "default_1proc"),
        ("ours default (16 kHz log-mel, augmented), 2 processes", default, 2, "default_2proc"),
        ("ours seed-equivalent (44.1 kHz spectrogram), 1 process", seed_like, 1, "seedeq_1proc"),
        ("ours seed-equivalent (44.1 kHz spectrogram), 2 processes", seed_like, 2, "seedeq_2proc"),
    ]  # fmt: skip
    counts = {key: (n_seed if cfg is None else cfg.n_examples) for _, cfg, _, key in cases}
    labels = {key: label for label, _, _, key in cases}
    seconds: dict[str, list[float]] = {key: [] for key in counts}
    cpu: dict[str, list[float]] = {key: [] for key in counts}
    with tempfile.TemporaryDirectory(prefix="heyjoe-bench-synth-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["HEYJOE_DATA_DIR"] = str(tmp / "data")  # build_dataset writes under it
        raw = tmp / "raw"
        speech = make_corpus(raw, np.random.default_rng(0))
        (tmp / "seed").mkdir()
        for r in range(rounds):
            for _, cfg, workers, key in cases if r % 2 == 0 else cases[::-1]:
                if cfg is None:
                    rng = np.random.default_rng(r)
                    wall, cpu_s = seed_reference(raw, n_seed, tmp / "seed", rng)
                else:
                    named = cfg.replace(dataset_name=f"{key}_{r}", seed=cfg.seed + r)
                    wall, cpu_s = ours(named, raw, workers)
                seconds[key].append(wall)
                cpu[key].append(cpu_s)

    rates = {key: [counts[key] / s for s in runs] for key, runs in seconds.items()}
    cpu_ms = {key: 1000 * float(np.median(runs)) / counts[key] for key, runs in cpu.items()}
    median = {key: float(np.median(r)) for key, r in rates.items()}
    ratios = {
        key: [ours / seed for ours, seed in zip(rates[key], rates["seed"], strict=True)]
        for key in rates
        if key != "seed"
    }
    width = max(map(len, labels.values()))
    print(
        f"\nsynthesis of 10 s examples with features ({os.cpu_count()} CPUs, speech: {speech}, "
        f"{rounds} round{'s' * (rounds > 1)}; median examples/s and speedup, [range])",
        file=sys.stderr,
    )
    print(
        f"{'':{width}}  examples  examples/s  vs seed  (per-round range)  CPU ms/example",
        file=sys.stderr,
    )
    for key, label in labels.items():
        spread = ratios.get(key, [1.0])
        print(
            f"{label:{width}}  {counts[key]:8d}  {median[key]:10.1f}  "
            f"{float(np.median(spread)):6.1f}x  [{min(spread):5.1f} - {max(spread):5.1f}]  "
            f"{cpu_ms[key]:14.1f}",
            file=sys.stderr,
        )
    figures = {
        "benchmark": "synthesis",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "speech_clips": speech,
        "rounds": rounds,
        "examples_per_run": {"seed": n_seed, "ours": n_ours},
        "seed_examples_per_s": round(median["seed"], 2),
        **{f"ours_{key}_examples_per_s": round(median[key], 2) for key in ratios},
        "speedup_vs_seed": {key: round(float(np.median(r)), 2) for key, r in ratios.items()},
        "speedup_vs_seed_range": {
            key: [round(min(r), 2), round(max(r), 2)] for key, r in ratios.items()
        },
        "cpu_ms_per_example": {key: round(v, 2) for key, v in cpu_ms.items()},
        "cpu_speedup_vs_seed": {key: round(cpu_ms["seed"] / cpu_ms[key], 2) for key in ratios},
        "goal_examples_per_s": 100,
        "goal_speedup_vs_seed": 20,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
