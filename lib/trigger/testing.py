"""Tiny synthetic corpora and datasets for tests, benchmarks' ``--quick`` runs and smoke runs.

The "trigger" is a rising chirp, negatives are steady tones, backgrounds are noise: a model
can learn it in a few steps, and nothing here needs the TTS engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.synth import Corpus


def chirp_in_noise(seconds: float, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    """A rising chirp (300 Hz, sweeping 800 Hz a second) in white noise: a test signal whose
    spectrum and phonetic features move, so streamed and offline results can be compared."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    x = 0.1 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t)
    return x.astype(np.float32)


def toy_corpus(rng: np.random.Generator, sample_rate: int = 16000, split: str = "train") -> Corpus:
    """Chirps (activates), tones (negatives) and noise (backgrounds), all from ``rng``."""
    t = np.arange(int(0.4 * sample_rate)) / sample_rate
    activates = [
        0.3 * np.sin(2 * np.pi * (f0 + 2500 * t) * t).astype(np.float32)
        for f0 in rng.uniform(300, 600, 6)
    ]
    negatives = [
        0.3 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in rng.uniform(200, 3000, 6)
    ]
    backgrounds = [
        (0.05 * rng.standard_normal(3 * sample_rate)).astype(np.float32) for _ in range(3)
    ]
    return Corpus.from_arrays(activates, negatives, backgrounds, sample_rate, split=split)


def toy_dataset(
    name: str, n_examples: int = 16, seed: int = 0, example_seconds: float = 2.0, **changes: Any
) -> Any:
    """Build (or reuse) a small named dataset from :func:`toy_corpus` in the datasets folder."""
    from lib.config import load_config
    from lib.datasets import build_dataset

    cfg = load_config("synthesis", "quick").replace(
        dataset_name=name,
        n_examples=n_examples,
        seed=seed,
        example_seconds=example_seconds,
        activates_per_example=(1, 2),
        negatives_per_example=(0, 1),
        shard_size=max(8, n_examples),
        workers=1,
        reverb_probability=0.0,
        pitch_probability=0.0,
        **changes,
    )
    corpus = toy_corpus(np.random.default_rng(seed), cfg.sample_rate)
    return build_dataset(cfg, corpus=corpus, workers=1, progress=False)
