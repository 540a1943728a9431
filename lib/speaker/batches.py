"""Triplet (and classification) batches cut from the feature cache inside ``tf.data``.

Python only draws indices: which utterances form each (anchor, positive, negative) triplet and
where each crop starts (from an explicit ``np.random.Generator``, vectorised over the batch).
The crops are then cut by one gather per batch — the cache is one contiguous
``(total_frames, bins)`` matrix, each utterance a run of rows, so crop ``i`` is rows
``starts[i] : starts[i] + crop``: in numpy one fancy index on a strided window view
(:func:`crop_windows`), in ``tf.data`` one ``tf.gather`` on the whole cache held as a tensor
(float32 when it fits :data:`FLOAT32_BUDGET_BYTES`, so no cast per batch). Batches are
prefetched, so building one overlaps the previous training step.

The index draws run in a ``tf.numpy_function`` (sequential, so the stream is deterministic by
seed), not ``Dataset.from_generator``: with that, every large buffer the pipeline allocates was
page-faulted afresh (about 6 ms per 10 MB batch on a VM), which made a 1 ms gather cost 8 ms.

Negatives are random, or — for ``hard_negative_fraction`` of the triplets, once an embedding
table exists — the most similar of ``hard_candidates`` random other-speaker utterances that is
still less similar than the positive plus the margin (semi-hard; the hardest if none is).
The table (one embedding per utterance of a sample) is refreshed by the trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lib.errors import DatasetError
from lib.speaker.cache import FeatureCache

log = logging.getLogger(__name__)

#: the cache is held as a float32 tensor for training up to this size (else float16, cast
#: per batch); 1.1 M frames x 64 bins (about 3 h of speech) take 290 MB
FLOAT32_BUDGET_BYTES = 2 << 30


class _Table(NamedTuple):
    """An embedding table, swapped in whole (the input pipeline reads it from another thread)."""

    index: np.ndarray  # (n,) utterance ids
    emb: np.ndarray  # (n, dim) L2-normalised embeddings
    row_of: np.ndarray  # (len(cache),) row of each utterance id in the table, -1 if absent


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
        self._table: _Table | None = None

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)

    @property
    def table_index(self) -> np.ndarray | None:
        """Utterance ids of the embedding table (None before :meth:`set_table`)."""
        return None if self._table is None else self._table.index

    @property
    def table(self) -> np.ndarray | None:
        """The ``(n, dim)`` L2-normalised embeddings of the table (None before one is set)."""
        return None if self._table is None else self._table.emb

    def set_table(self, utterance_ids: np.ndarray, embeddings: np.ndarray) -> None:
        """Install a fresh embedding table (for hard negatives)."""
        index = np.asarray(utterance_ids, dtype=np.int64)
        row_of = np.full(len(self.cache), -1, dtype=np.int64)
        row_of[index] = np.arange(len(index))
        self._table = _Table(index, np.asarray(embeddings, dtype=np.float32), row_of)

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
        table = self._table  # one snapshot: the trainer may swap in a new table meanwhile
        if table is not None and self.hard_negative_fraction > 0:
            hard = np.flatnonzero(rng.random(n) < self.hard_negative_fraction)
            if hard.size:
                out[hard, 2] = self._hard_negatives(
                    rng, out[hard, 0], out[hard, 1], out[hard, 2], table
                )
        return out

    def _hard_negatives(
        self,
        rng: np.random.Generator,
        a: np.ndarray,
        p: np.ndarray,
        fallback: np.ndarray,
        table: _Table,
    ) -> np.ndarray:
        """Semi-hard negatives for anchors ``a`` / positives ``p``, all at once.

        For each, ``hard_candidates`` random table rows of other speakers are scored against
        the anchor; the most similar one below ``sim(a, p) + margin`` wins (the most similar
        of all if none is below). ``fallback`` where the anchor or positive is not in the
        table or no candidate is another speaker's.
        """
        ra, rp = table.row_of[a], table.row_of[p]
        cand = rng.integers(len(table.index), size=(len(a), self.hard_candidates))
        valid = self.speaker_of[table.index[cand]] != self.speaker_of[a][:, None]
        ea = table.emb[np.maximum(ra, 0)]  # (m, dim); rows of absent ids are masked below
        sim_an = np.einsum("md,mkd->mk", ea, table.emb[cand])
        sim_ap = np.einsum("md,md->m", ea, table.emb[np.maximum(rp, 0)])
        semi = valid & (sim_an < sim_ap[:, None] + self.margin)
        pool = np.where(semi.any(axis=1, keepdims=True), semi, valid)
        best = np.where(pool, sim_an, -np.inf).argmax(axis=1)
        picked = table.index[cand[np.arange(len(a)), best]]
        ok = (ra >= 0) & (rp >= 0) & valid.any(axis=1)
        return np.where(ok, picked, fallback)

    def _hard_negative(self, rng: np.random.Generator, a: int, p: int, fallback: int) -> int:
        """One semi-hard negative (see :meth:`_hard_negatives`)."""
        if self._table is None:
            return fallback
        one = self._hard_negatives(
            rng, np.array([a]), np.array([p]), np.array([fallback]), self._table
        )
        return int(one[0])

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


# ---------------------------------------------------------------------------- gathering crops


def crop_windows(features: np.ndarray, crop_frames: int) -> np.ndarray:
    """A read-only view ``(frames - crop + 1, crop, bins)``: window ``s`` is
    ``features[s : s + crop]``. No copy; indexing it with crop starts gathers whole crops."""
    if features.ndim != 2:
        raise ValueError(f"features must be (frames, bins), not {features.shape}")
    if not 0 < crop_frames <= len(features):
        raise ValueError(f"a crop of {crop_frames} frames does not fit {len(features)} frames")
    s0, s1 = features.strides
    return as_strided(
        features, shape=(len(features) - crop_frames + 1, crop_frames, features.shape[1]),
        strides=(s0, s0, s1), writeable=False,
    )  # fmt: skip


def crop_numpy(features: np.ndarray, starts: np.ndarray, crop_frames: int) -> np.ndarray:
    """Gather crops ``(len(starts), crop_frames, bins)`` as float32 in one vectorised copy.

    ``features`` is the cache matrix (the float16 memory map, or a float32 copy from
    :func:`feature_bank`, which needs no conversion). Out-of-range starts raise IndexError.
    """
    starts = np.asarray(starts, dtype=np.intp)
    if starts.size and starts.min() < 0:
        raise IndexError(f"crop start {int(starts.min())} is negative")
    crops = crop_windows(features, crop_frames)[starts]  # len(starts) contiguous blocks
    return crops if crops.dtype == np.float32 else crops.astype(np.float32)


def feature_bank(cache: FeatureCache, budget_bytes: int = FLOAT32_BUDGET_BYTES) -> np.ndarray:
    """The cache matrix for fast numpy crops: a float32 copy in memory when it fits
    ``budget_bytes`` (no conversion per batch), else the float16 memory map itself."""
    if cache.features.size * 4 > budget_bytes:
        return cache.features
    return np.asarray(cache.features, dtype=np.float32)


def features_tensor(cache: FeatureCache, budget_bytes: int = FLOAT32_BUDGET_BYTES) -> Any:
    """The whole cached feature matrix as one tensor (loaded once): float32 when it fits
    ``budget_bytes``, else float16 (each batch is then cast after the gather)."""
    import tensorflow as tf

    with tf.device("/CPU:0"):
        feats = tf.constant(np.ascontiguousarray(cache.features))
        if cache.features.size * 4 <= budget_bytes:
            feats = tf.cast(feats, tf.float32)
    log.info("feature cache as a %s tensor of %s (%.0f MB)", feats.dtype.name,
             tuple(feats.shape), feats.shape.num_elements() * feats.dtype.size / 1e6)  # fmt: skip
    return feats


def _gather(features: Any, crop_frames: int) -> Any:
    """A ``tf.data`` map: crop starts (and any labels) -> float32 crops, one gather a batch."""
    import tensorflow as tf

    offsets = tf.range(crop_frames, dtype=tf.int32)

    def gather(starts: Any, *rest: Any) -> Any:
        crops = tf.gather(features, starts[:, None] + offsets[None, :])
        if crops.dtype != tf.float32:
            crops = tf.cast(crops, tf.float32)
        return (crops, *rest) if rest else crops

    return gather


def _index_stream(draw: Any, specs: tuple[Any, ...]) -> Any:
    """An endless dataset of ``draw()``'s arrays, drawn in order (one Python call each)."""
    import tensorflow as tf

    def call(_: Any) -> Any:
        out = tf.numpy_function(draw, [], [s.dtype for s in specs], stateful=True)
        out = [tf.ensure_shape(t, s.shape) for t, s in zip(out, specs, strict=True)]
        return tuple(out) if len(out) > 1 else out[0]

    return tf.data.Dataset.range(np.iinfo(np.int64).max).map(call)


def triplet_dataset(
    sampler: TripletSampler, features: Any, batch_triplets: int, seed: int, prefetch: int = 4
) -> Any:
    """An endless ``tf.data.Dataset`` of triplet batches ``(3 * batch_triplets, crop, bins)``.

    Batch ``k`` is the ``k``-th draw of ``sampler.triplet_batch_starts`` from
    ``np.random.default_rng(seed)``, gathered from ``features`` (:func:`features_tensor`).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def draw() -> np.ndarray:
        return sampler.triplet_batch_starts(rng, batch_triplets)

    ds = _index_stream(draw, (tf.TensorSpec((3 * batch_triplets,), tf.int32),))
    return ds.map(_gather(features, sampler.crop_frames)).prefetch(prefetch)


def classification_dataset(
    sampler: TripletSampler, features: Any, batch: int, seed: int, prefetch: int = 4
) -> Any:
    """An endless dataset of ``(crops, speaker labels)`` for softmax / AAM pre-training."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        return sampler.classification_batch(rng, batch)

    spec = tf.TensorSpec((batch,), tf.int32)
    ds = _index_stream(draw, (spec, spec))
    return ds.map(_gather(features, sampler.crop_frames)).prefetch(prefetch)
