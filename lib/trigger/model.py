"""Trigger-word model architectures (Keras), all causal so they can run streaming.

Every architecture is the same shape of network, sized by an :class:`ArchSpec`:

    features (frames, n_bins)
    → ZeroPadding1D(kernel - 1 frames on the left)       ``conv_pad``   (causal conv)
    → Conv1D(filters, kernel, stride)                    ``conv``
    → BatchNorm → ReLU → Dropout                         ``conv_bn``, ``conv_relu``, ``conv_drop``
    → for each GRU k: GRU(units, return_sequences) → Dropout → BatchNorm
                                                         ``gru{k}``, ``gru{k}_drop``, ``gru{k}_bn``
    → Dropout → Dense(1, sigmoid) on every step         ``out_drop``, ``out``

``seed`` is the seed notes' network: Conv1D(196, 15, stride 4), two GRU(128). Dropout is a
*rate* (the fraction dropped): the notes were bitten by Keras turning keep_prob 0.8 into rate
0.8. The conv is causal (left padding only) and the GRUs are unidirectional, so output step
``i`` depends only on frames ``0 .. stride * i``: the model can run on a live stream.

Output step ``i`` therefore covers the audio up to ``win/sr + i * stride * hop/sr`` seconds
(:func:`output_timing`). A clip of ``T`` frames gives ``ceil(T / stride)`` output steps.
Only built-in Keras layers are used, so models load with ``safe_mode=True`` and no custom code.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from lib.errors import ConfigError

#: Named architectures. ``seed`` is the notes' baseline; ``small`` is a cheaper variant.
PRESETS: dict[str, dict[str, Any]] = {
    "seed": {"conv_filters": 196, "conv_kernel": 15, "conv_stride": 4, "gru_units": [128, 128]},
    "small": {"conv_filters": 64, "conv_kernel": 15, "conv_stride": 4, "gru_units": [64]},
    "tiny": {"conv_filters": 16, "conv_kernel": 7, "conv_stride": 4, "gru_units": [8]},
}


@dataclass(frozen=True)
class ArchSpec:
    """The size of a trigger network (see the module docstring for the layers)."""

    name: str = "seed"
    conv_filters: int = 196
    conv_kernel: int = 15
    conv_stride: int = 4
    gru_units: tuple[int, ...] = (128, 128)
    dropout: float = 0.2  # a RATE: the fraction of units dropped while training

    def __post_init__(self) -> None:
        object.__setattr__(self, "gru_units", tuple(int(u) for u in self.gru_units))
        for key in ("conv_filters", "conv_kernel", "conv_stride"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"architecture setting {key!r} must be an integer >= 1, "
                                  f"got {value!r}")  # fmt: skip
        if not self.gru_units or min(self.gru_units) < 1:
            raise ConfigError(
                f"architecture setting 'gru_units' must list at least one GRU size >= 1, "
                f"got {list(self.gru_units)!r}"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(
                f"architecture setting 'dropout' is a rate (fraction dropped) in [0, 1), "
                f"got {self.dropout!r}"
            )

    @classmethod
    def preset(cls, name: str, dropout: float = 0.2) -> ArchSpec:
        """One of :data:`PRESETS` by name."""
        if name not in PRESETS:
            raise ConfigError(
                f"unknown architecture {name!r}; architectures are: {', '.join(PRESETS)}"
            )
        return cls(name=name, dropout=dropout, **PRESETS[name])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["gru_units"] = list(self.gru_units)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "architecture") -> ArchSpec:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: architecture must be a mapping, got {data!r}")
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"{where}: unknown architecture setting(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def output_steps(n_frames: int, stride: int) -> int:
    """Output steps for ``n_frames`` input frames: ``ceil(n_frames / stride)``."""
    return -(-int(n_frames) // int(stride)) if n_frames > 0 else 0


def output_timing(feature_config: Any, arch: ArchSpec) -> tuple[float, float]:
    """(hop_seconds, offset_seconds): output step ``i`` has heard the audio up to
    ``offset_seconds + i * hop_seconds``."""
    sr = feature_config.sample_rate
    return (
        arch.conv_stride * feature_config.hop_length / sr,
        feature_config.win_length / sr,
    )


def build_model(arch: ArchSpec, n_bins: int, seed: int = 0) -> Any:
    """The Keras model for ``arch`` on ``n_bins`` features per frame (any number of frames).

    ``seed`` fixes the initial weights and the dropout masks' generators.
    """
    import keras
    from keras import layers

    if n_bins < 1:
        raise ConfigError(f"n_bins must be at least 1, got {n_bins}")
    init = keras.initializers
    k = 0

    def s() -> int:
        nonlocal k
        k += 1
        return seed * 1000 + k

    inputs = keras.Input(shape=(None, n_bins), name="features")
    x = layers.ZeroPadding1D((arch.conv_kernel - 1, 0), name="conv_pad")(inputs)
    x = layers.Conv1D(
        arch.conv_filters,
        arch.conv_kernel,
        strides=arch.conv_stride,
        padding="valid",
        kernel_initializer=init.GlorotUniform(seed=s()),
        name="conv",
    )(x)
    x = layers.BatchNormalization(name="conv_bn")(x)
    x = layers.ReLU(name="conv_relu")(x)
    x = layers.Dropout(arch.dropout, seed=s(), name="conv_drop")(x)
    for i, units in enumerate(arch.gru_units, start=1):
        x = layers.GRU(
            units,
            return_sequences=True,
            kernel_initializer=init.GlorotUniform(seed=s()),
            recurrent_initializer=init.Orthogonal(seed=s()),
            name=f"gru{i}",
        )(x)
        x = layers.Dropout(arch.dropout, seed=s(), name=f"gru{i}_drop")(x)
        x = layers.BatchNormalization(name=f"gru{i}_bn")(x)
    x = layers.Dropout(arch.dropout, seed=s(), name="out_drop")(x)
    # Dense on (batch, steps, units) acts on every step: the notes' TimeDistributed(Dense), but
    # Keras 3's TimeDistributed unrolls a Python loop over a known number of steps (250 per
    # 10 s), which made the first training step take ~40 s to trace.
    outputs = layers.Dense(
        1, activation="sigmoid", kernel_initializer=init.GlorotUniform(seed=s()), name="out"
    )(x)
    return keras.Model(inputs, outputs, name=f"trigger_{arch.name}")


def weight_shapes(model: Any) -> dict[str, list[tuple[int, ...]]]:
    """Layer name → shapes of its weights (layers without weights left out)."""
    return {
        layer.name: [tuple(int(d) for d in w.shape) for w in layer.weights]
        for layer in model.layers
        if layer.weights
    }


def architecture_differences(model: Any, arch: ArchSpec, n_bins: int) -> list[str]:
    """How ``model`` differs from what ``arch`` on ``n_bins`` features builds (empty: same)."""
    expected = weight_shapes(build_model(arch, n_bins))
    actual = weight_shapes(model)
    diffs = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            diffs.append(f"layer {name!r} missing")
        elif name not in expected:
            diffs.append(f"unexpected layer {name!r}")
        elif expected[name] != actual[name]:
            diffs.append(f"layer {name!r} has weights {actual[name]}, expected {expected[name]}")
    return diffs


def count_parameters(model: Any) -> int:
    """Trainable and non-trainable parameters (BatchNorm statistics included)."""
    return int(sum(math.prod(w.shape) for w in model.weights))


def transfer_weights(target: Any, source: Any) -> dict[str, list[str]]:
    """Copy weights from ``source`` into ``target`` layer by layer, matched by layer name AND
    weight shapes. Returns the report: ``loaded`` (copied), ``skipped`` (same name, other
    shapes: kept at their fresh initialisation, with why) and ``initialised`` (no layer of
    that name in the source)."""
    by_name = {layer.name: layer for layer in source.layers}
    report: dict[str, list[str]] = {"loaded": [], "skipped": [], "initialised": []}
    for layer in target.layers:
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None or not other.weights:
            report["initialised"].append(layer.name)
            continue
        mine = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in other.weights]
        if mine != theirs:
            report["skipped"].append(f"{layer.name} (shapes {theirs} in the parent, {mine} here)")
            continue
        layer.set_weights(other.get_weights())
        report["loaded"].append(layer.name)
    return report


def format_transfer_report(report: dict[str, list[str]], parent: str) -> str:
    """The transfer report as a few readable lines."""
    lines = [f"transfer learning from {parent}:"]
    for key, label in (
        ("loaded", "loaded"),
        ("skipped", "skipped (shape mismatch, re-initialised)"),
        ("initialised", "initialised (not in the parent)"),
    ):
        items = report.get(key, [])
        lines.append(f"  {label}: {len(items)}" + (f" — {', '.join(items)}" if items else ""))
    return "\n".join(lines)
