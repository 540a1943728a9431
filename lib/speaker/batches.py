"""Triplet (and classification) batches cut from the feature cache inside ``tf.data``.

Python only draws indices: which utterances form each (anchor, positive, negative) triplet and
where each crop starts (from an explicit ``np.random.Generator``). The crops themselves are
gathered from the cached feature matrix by a parallel ``tf.data`` map and prefetched, so
building a batch overlaps the previous training step.

Negatives are random, or — for ``hard_negative_fraction`` of the triplets, once an embedding
table exists — the most similar of ``hard_candidates`` random other-speaker utterances that is
still less similar than the positive plus the margin (semi-hard; the hardest if none is).
The table (one embedding per utterance of a sample) is refreshed by the trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib.errors import DatasetError
from lib.speaker.cache import FeatureCache

log = logging.getLogger(__name__)


@dataclass
class TripletSampler:
    """Which utterances of one split can be cropped, grouped by speaker; draws triplets."""

    cache: FeatureCache
    split: str
    crop_frames: int
    margin: float = 0.1
    hard_negative_fraction: float = 0.0
    hard_candidates: int = 16
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        by_speaker: dict[str, list[int]] = {}
        for i in self.cache.indices(self.split):
            e = self.cache.entries[i]
            if e.frames < self.crop_frames:
                self.skipped.append(
                    (e.path, f"{e.frames} frames, shorter than a crop of {self.crop_frames}")
                )
                continue
            by_speaker.setdefault(e.speaker, []).append(i)
        for speaker, utts in list(by_speaker.items()):
            if len(utts) < 2:
                self.skipped.append(
                    (f"{speaker}/", f"only {len(utts)} utterance long enough for a crop")
                )
                del by_speaker[speaker]
        if self.skipped:
            log.warning("%s split: skipped %d item(s) for crops of %d frames:\n  %s", self.split,
                        len(self.skipped), self.crop_frames,
                        "\n  ".join(f"{p}: {w}" for p, w in self.skipped[:20]))  # fmt: skip
        if len(by_speaker) < 2:
            raise DatasetError(
                f"the {self.split} split of {self.cache.dir} has {len(by_speaker)} speaker(s) "
                f"with 2 or more utterances of at least {self.crop_frames} frames; triplets "
                "need at least 2 (use shorter crops or more data)"
            )
        self.speakers = sorted(by_speaker)
        self.by_speaker = [np.array(by_speaker[s], dtype=np.int64) for s in self.speakers]
        self.utterances = np.concatenate(self.by_speaker)
        self.flat = self.utterances  # speaker-major: speaker k's ids start at offsets[k]
        self.sizes = np.array([len(u) for u in self.by_speaker], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.speaker_of = np.empty(len(self.cache), dtype=np.int64)
        self.speaker_of[:] = -1
        for k, utts in enumerate(self.by_speaker):
            self.speaker_of[utts] = k
        self.starts = np.array([e.start for e in self.cache.entries], dtype=np.int64)
        self.frames = np.array([e.frames for e in self.cache.entries], dtype=np.int64)
        self.table_index: np.ndarray | None = None  # utterance ids of the embedding table
        self.table: np.ndarray | None = None  # (n, dim) L2-normalised embeddings

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)

    def set_table(self, utterance_ids: np.ndarray, embeddings: np.ndarray) -> None:
        """Install a fresh embedding table (for hard negatives)."""
        self.table_index = np.asarray(utterance_ids, dtype=np.int64)
        self.table = np.asarray(embeddings, dtype=np.float32)
        self._row = {int(u): r for r, u in enumerate(self.table_index)}

    def triplets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, 3)`` utterance ids: anchor, positive (same speaker), negative (another)."""
        spk = rng.integers(self.n_speakers, size=n)
        other = (spk + 1 + rng.integers(self.n_speakers - 1, size=n)) % self.n_speakers
        sizes = self.sizes[spk]
        a = (rng.random(n) * sizes).astype(np.int64)
        p = (a + 1 + (rng.random(n) * (sizes - 1)).astype(np.int64)) % sizes
        neg = (rng.random(n) * self.sizes[other]).astype(np.int64)
        out = np.stack(
            [self.flat[self.offsets[spk] + a], self.flat[self.offsets[spk] + p],
             self.flat[self.offsets[other] + neg]], axis=1,
        )  # fmt: skip
        if self.table is not None and self.hard_negative_fraction > 0:
            hard = np.flatnonzero(rng.random(n) < self.hard_negative_fraction)
            for t in hard:
                out[t, 2] = self._hard_negative(rng, out[t, 0], out[t, 1], out[t, 2])
        return out

    def _hard_negative(self, rng: np.random.Generator, a: int, p: int, fallback: int) -> int:
        ra, rp = self._row.get(int(a)), self._row.get(int(p))
        if ra is None or rp is None:
            return fallback
        cand = rng.integers(len(self.table_index), size=self.hard_candidates)
        cand = cand[self.speaker_of[self.table_index[cand]] != self.speaker_of[a]]
        if cand.size == 0:
            return fallback
        sim_an = self.table[cand] @ self.table[ra]
        sim_ap = float(self.table[rp] @ self.table[ra])
        semi = sim_an < sim_ap + self.margin
        pool = np.flatnonzero(semi) if semi.any() else np.arange(len(cand))
        return int(self.table_index[cand[pool[np.argmax(sim_an[pool])]]])

    def crop_starts(self, rng: np.random.Generator, ids: np.ndarray) -> np.ndarray:
        """A random first frame (in the cache matrix) for a crop of each utterance id."""
        room = self.frames[ids] - self.crop_frames + 1
        return self.starts[ids] + (rng.random(ids.shape) * room).astype(np.int64)

    def center_starts(self, ids: np.ndarray) -> np.ndarray:
        return self.starts[ids] + (self.frames[ids] - self.crop_frames) // 2

    def triplet_batch_starts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Crop starts of one batch: ``3n`` rows, anchors then positives then negatives."""
        ids = self.triplets(rng, n)
        return self.crop_starts(rng, ids.T.reshape(-1)).astype(np.int32)

    def classification_batch(
        self, rng: np.random.Generator, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Crop starts and speaker labels of ``n`` random utterances."""
        ids = self.utterances[rng.integers(len(self.utterances), size=n)]
        return self.crop_starts(rng, ids).astype(np.int32), self.speaker_of[ids].astype(np.int32)


def crop_numpy(features: np.ndarray, starts: np.ndarray, crop_frames: int) -> np.ndarray:
    """Gather crops ``(len(starts), crop_frames, bins)`` as float32 (the reference path)."""
    rows = starts[:, None] + np.arange(crop_frames)[None, :]
    return np.asarray(features[rows], dtype=np.float32)


def features_tensor(cache: FeatureCache) -> Any:
    """The whole cached feature matrix as one float16 tensor (loaded once)."""
    import tensorflow as tf

    with tf.device("/CPU:0"):
        return tf.constant(np.ascontiguousarray(cache.features))


def _gather(features: Any, crop_frames: int) -> Any:
    import tensorflow as tf

    offsets = tf.range(crop_frames, dtype=tf.int32)

    def gather(starts: Any, *rest: Any) -> Any:
        rows = starts[:, None] + offsets[None, :]
        crops = tf.cast(tf.gather(features, rows), tf.float32)
        return (crops, *rest) if rest else crops

    return gather


def triplet_dataset(
    sampler: TripletSampler, features: Any, batch_triplets: int, seed: int, prefetch: int = 4
) -> Any:
    """An endless ``tf.data.Dataset`` of triplet batches ``(3 * batch_triplets, crop, bins)``."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def starts() -> Any:
        while True:
            yield sampler.triplet_batch_starts(rng, batch_triplets)

    spec = tf.TensorSpec((3 * batch_triplets,), tf.int32)
    ds = tf.data.Dataset.from_generator(starts, output_signature=spec)
    ds = ds.map(_gather(features, sampler.crop_frames), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(prefetch)


def classification_dataset(
    sampler: TripletSampler, features: Any, batch: int, seed: int, prefetch: int = 4
) -> Any:
    """An endless dataset of ``(crops, speaker labels)`` for softmax / AAM pre-training."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def draw() -> Any:
        while True:
            yield sampler.classification_batch(rng, batch)

    spec = (tf.TensorSpec((batch,), tf.int32), tf.TensorSpec((batch,), tf.int32))
    ds = tf.data.Dataset.from_generator(draw, output_signature=spec)
    ds = ds.map(_gather(features, sampler.crop_frames), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(prefetch)
