"""The embedder: a ResCNN in the Deep Speaker pattern, sized for CPU training.

``log-mel (T, 64)`` → per-utterance mean normalisation → for each stage: a 5×5 stride-2
convolution (batch norm, clipped ReLU at 20) and ``blocks_per_stage`` residual blocks of two
3×3 convolutions → frequency folded into channels → average over time → dense → batch norm →
L2-normalised embedding. Time length is free: training crops and inference windows differ.

:class:`TripletModel` trains it with the triplet loss on cosine similarity
``max(0, cos(a, n) - cos(a, p) + alpha)`` in a custom ``train_step``/``test_step``;
:class:`ClassifierModel` pre-trains it with a softmax or additive-angular-margin softmax head.
Both track ``keras.metrics.Mean`` values, including ``spread`` (1 - |mean embedding|²: 0 when
every embedding is the same) used by :func:`detect_collapse`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

PACKAGE = "heyjoe_speaker"
#: batch-norm moving-average momentum: short CPU trainings need the statistics to settle fast
BN_MOMENTUM = 0.95


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanNormalize(layers.Layer):
    """Subtract each feature bin's mean over time (per utterance): removes channel colour."""

    def call(self, x: Any) -> Any:
        return x - tf.reduce_mean(x, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package=PACKAGE)
class L2Normalize(layers.Layer):
    """Scale each vector to unit length."""

    def call(self, x: Any) -> Any:
        return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


def build_embedder(
    n_mels: int = 64,
    channels: tuple[int, ...] | list[int] = (16, 32, 64, 128),
    blocks_per_stage: int = 1,
    embedding_dim: int = 128,
    name: str = "speaker_embedder",
) -> keras.Model:
    """The ResCNN embedder: ``(batch, frames, n_mels)`` → ``(batch, embedding_dim)``."""
    inp = keras.Input((None, n_mels), name="logmel")
    x = MeanNormalize(name="mean_norm")(inp)
    x = layers.Reshape((-1, n_mels, 1), name="to_image")(x)
    for s, c in enumerate(channels):
        x = layers.Conv2D(c, 5, strides=2, padding="same", use_bias=False, name=f"s{s}_down")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"s{s}_down_bn")(x)
        x = layers.ReLU(max_value=20.0, name=f"s{s}_down_relu")(x)
        for b in range(blocks_per_stage):
            p = f"s{s}_res{b}"
            y = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"{p}_conv1")(x)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{p}_bn1")(y)
            y = layers.ReLU(max_value=20.0, name=f"{p}_relu1")(y)
            y = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"{p}_conv2")(y)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{p}_bn2")(y)
            x = layers.Add(name=f"{p}_add")([x, y])
            x = layers.ReLU(max_value=20.0, name=f"{p}_relu2")(x)
    freq = n_mels
    for _ in channels:
        freq = math.ceil(freq / 2)
    x = layers.Reshape((-1, freq * channels[-1]), name="fold_freq")(x)
    x = layers.GlobalAveragePooling1D(name="time_average")(x)
    x = layers.Dense(embedding_dim, name="affine")(x)
    # centres the embeddings before the L2 norm: without it they all start in one direction
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="affine_bn")(x)
    out = L2Normalize(name="l2_norm")(x)
    return keras.Model(inp, out, name=name)


def receptive_field(model: keras.Model, hop_seconds: float = 0.010) -> dict[str, float]:
    """Receptive field of one output position along time and frequency (the conv chain)."""
    r, j = 1, 1
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            k, s = layer.kernel_size[0], layer.strides[0]
            r += (k - 1) * j
            j *= s
    n_mels = int(model.input.shape[-1])
    return {
        "frames": r,
        "seconds": round(r * hop_seconds, 3),
        "mel_bins": min(r, n_mels),  # the kernels are square; the band axis is only n_mels long
        "stride_frames": j,
    }


def architecture(model: keras.Model, hop_seconds: float = 0.010) -> dict[str, Any]:
    """The documented architecture: a layer table, parameter counts, receptive field."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = layer.output.shape if hasattr(layer, "output") else None
        row = {
            "layer": layer.name,
            "type": type(layer).__name__,
            "output": "×".join("T" if d is None else str(d) for d in (shape[1:] if shape else [])),
            "params": int(layer.count_params()),
        }
        if isinstance(layer, layers.Conv2D):
            row["kernel"] = "×".join(map(str, layer.kernel_size))
            row["stride"] = "×".join(map(str, layer.strides))
        rows.append(row)
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    total = int(model.count_params())
    return {
        "name": model.name,
        "layers": rows,
        "params": total,
        "trainable_params": trainable,
        "size_mb_float32": round(total * 4 / 1e6, 2),
        "receptive_field": receptive_field(model, hop_seconds),
        "embedding_dim": int(model.output.shape[-1]),
    }


def for_gradients(loss: Any) -> Any:
    """The loss to differentiate: under a ``tf.distribute`` strategy with several replicas the
    optimizer sums their gradients, so each replica's mean loss is divided by their number
    (the global batch's mean, as Keras' own ``train_step`` does); unchanged on one replica."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def embedding_spread(e: Any) -> Any:
    """1 - |mean of unit embeddings|²: about 1 for well spread embeddings, 0 when all equal."""
    m = tf.reduce_mean(e, axis=0)
    return 1.0 - tf.reduce_sum(m * m)


class TripletModel(keras.Model):
    """Triplet loss on cosine similarity; batches are ``[anchors; positives; negatives]``."""

    def __init__(self, embedder: keras.Model, margin: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embedder = embedder
        self.margin = float(margin)
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("loss", "pos_sim", "neg_sim", "active", "spread")
        }

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def call(self, x: Any, training: bool = False) -> Any:
        return self.embedder(x, training=training)

    def _forward(self, x: Any, training: bool) -> tuple[Any, dict[str, Any]]:
        e = self.embedder(x, training=training)
        a, p, n = tf.split(e, 3, axis=0)
        sap = tf.reduce_sum(a * p, axis=-1)
        san = tf.reduce_sum(a * n, axis=-1)
        per = tf.nn.relu(san - sap + self.margin)
        loss = tf.reduce_mean(per)
        values = {
            "loss": loss,
            "pos_sim": tf.reduce_mean(sap),
            "neg_sim": tf.reduce_mean(san),
            "active": tf.reduce_mean(tf.cast(per > 0, tf.float32)),
            "spread": embedding_spread(e),
        }
        return loss, values

    def _update(self, values: dict[str, Any]) -> dict[str, Any]:
        for name, v in values.items():
            self.trackers[name].update_state(v)
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, data: Any) -> dict[str, Any]:
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss, values = self._forward(x, training=True)
            scaled = for_gradients(loss)
        variables = self.embedder.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return self._update(values)

    def test_step(self, data: Any) -> dict[str, Any]:
        x = data[0] if isinstance(data, (tuple, list)) else data
        _, values = self._forward(x, training=False)
        return self._update(values)


class ClassifierModel(keras.Model):
    """Speaker classification pre-training: cosine softmax, or additive angular margin (AAM)."""

    def __init__(
        self,
        embedder: keras.Model,
        n_classes: int,
        kind: str = "aam",
        margin: float = 0.2,
        scale: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embedder = embedder
        self.kind, self.margin, self.scale = kind, float(margin), float(scale)
        dim = int(embedder.output.shape[-1])
        self.centres = self.add_weight(
            shape=(dim, n_classes), initializer="glorot_uniform", name="class_centres"
        )
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "accuracy", "spread")}

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def call(self, x: Any, training: bool = False) -> Any:
        return self.embedder(x, training=training)

    def _forward(self, x: Any, y: Any, training: bool) -> tuple[Any, dict[str, Any]]:
        e = self.embedder(x, training=training)
        w = tf.math.l2_normalize(self.centres, axis=0)
        cos = tf.clip_by_value(tf.matmul(e, w), -1.0, 1.0)
        onehot = tf.one_hot(y, tf.shape(cos)[-1])
        if self.kind == "aam" and self.margin > 0:
            sin = tf.sqrt(tf.maximum(1.0 - cos * cos, 1e-9))
            phi = cos * math.cos(self.margin) - sin * math.sin(self.margin)
            # beyond pi - m, cos(theta + m) is not monotonic: fall back to a linear penalty
            phi = tf.where(cos > math.cos(math.pi - self.margin),
                           phi, cos - math.sin(math.pi - self.margin) * self.margin)  # fmt: skip
            logits = self.scale * (onehot * phi + (1.0 - onehot) * cos)
        else:
            logits = self.scale * cos
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits))
        correct = tf.cast(tf.equal(tf.argmax(cos, -1, output_type=tf.int32), y), tf.float32)
        return loss, {
            "loss": loss,
            "accuracy": tf.reduce_mean(correct),
            "spread": embedding_spread(e),
        }

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with tf.GradientTape() as tape:
            loss, values = self._forward(x, y, training=True)
            scaled = for_gradients(loss)
        variables = self.embedder.trainable_variables + [self.centres]
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        for name, v in values.items():
            self.trackers[name].update_state(v)
        return {name: t.result() for name, t in self.trackers.items()}

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        _, values = self._forward(x, y, training=False)
        for name, v in values.items():
            self.trackers[name].update_state(v)
        return {name: t.result() for name, t in self.trackers.items()}


def detect_collapse(
    loss: float | None, spread: float, margin: float, tolerance: float = 0.01
) -> str | None:
    """Why training looks collapsed (triplet loss pinned at the margin, embeddings all equal),
    or None. ``loss`` None (the classifier phases): only the embeddings' spread is checked."""
    reasons = []
    if (
        loss is not None
        and abs(loss - margin) < tolerance * max(margin, 1e-6) * 10
        and spread < 0.05
    ):
        reasons.append(f"loss {loss:.4f} is pinned at the margin alpha={margin:g}")
    if spread < 0.02:
        reasons.append(f"embeddings are (nearly) all equal (spread {spread:.4f})")
    return "; ".join(reasons) or None
