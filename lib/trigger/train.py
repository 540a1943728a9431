"""Training a trigger model: Keras ``fit`` on a ``tf.data`` pipeline fed from named datasets.

- **Data.** Each epoch draws ``steps_per_epoch * batch_size`` examples from the named
  datasets at the chosen proportions (``datasets: {bootstrap_train: 0.8, hand_labelled: 0.2}``);
  which dataset each example comes from and the order within each dataset are a function of
  ``(seed, epoch)`` only, so a resumed run sees exactly the batches an uninterrupted one does.
  Labels are regenerated at the model's output rate from each example's events (seconds)
  with :func:`lib.synth.labels_from_events`: ``label_seconds`` of ones after each activate
  (the dataset's stored 1375-step track is for the notes' model, not this one).
- **Features.** Every dataset must have the feature settings of the model (of the parent, when
  fine-tuning); otherwise one error names the dataset and the settings that differ.
- **Transfer learning.** ``parent`` (a model name or directory): weights are copied layer by
  layer where name and shapes match, with a report of what was loaded, skipped and
  re-initialised (:func:`lib.trigger.model.transfer_weights`).
- **Checkpoints and resume.** After every epoch the model with its optimizer state and the
  epoch number are saved to ``data/training/<model_name>/``; running again with the same
  settings resumes from there (dropout masks are re-seeded from ``(seed, epoch)`` at the
  start of each epoch, so resuming is exact up to float rounding).
- **Logs.** ``training_log.csv`` (CSVLogger: losses, metrics, and per-epoch ``data_seconds``,
  ``step_seconds``, ``epoch_seconds``), TensorBoard logs, Keras progress bars, and in a
  notebook a live loss/metric plot. A GPU is used when TensorFlow sees one.
- **Output.** A model directory ``paths.checkpoints_dir()/trigger/<model_name>/`` with the
  model file and its card (:mod:`lib.trigger.cards`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lib import metrics as event_metrics
from lib import paths
from lib.errors import ConfigError, HeyJoeError
from lib.files import write_json
from lib.trigger import cards
from lib.trigger.model import (
    ArchSpec,
    build_model,
    count_parameters,
    format_transfer_report,
    output_steps,
    output_timing,
    transfer_weights,
)

log = logging.getLogger(__name__)

#: the name, in ``datasets``, of examples synthesized on the fly while training
FRESH = "fresh"

#: a false-reject rate at which a threshold is no default: :func:`evaluate_model` then loosens
#: the false-accept budget instead
USELESS_FRR = 0.9


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TriggerConfig:
    """Settings of the ``trigger`` stage (``configs/trigger.yaml`` documents each key)."""

    model_name: str = "hey_joe_dev"
    trigger_phrase: str = "hey joe"
    architecture: str = "seed"
    dropout: float = 0.2
    datasets: dict[str, float] = field(default_factory=lambda: {"bootstrap_train": 1.0})
    dev_dataset: str | None = "bootstrap_dev"
    parent: str | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    steps_per_epoch: int | None = None
    seed: int = 0
    label_seconds: float = 0.36
    gain_augment_db: float = 10.0
    eq_augment_db: float = 0.0
    warp_augment: float = 0.0
    mask_bins: int = 0
    spectral_augment_probability: float = 0.8
    threshold: float = 0.5
    target_metric: str = "val_pr_auc"
    target_value: float = 0.8
    resume: bool = True
    tensorboard: bool = True
    verbose: Literal["auto", 0, 1, 2] = "auto"
    keep_best: bool = True
    average_epochs: int = 0
    compare_scratch: bool = True
    evaluate: bool = True
    eval_dev_clips: int = 40
    eval_negative_minutes: float = 60.0
    raw_dir: str | None = None
    overwrite: bool = False
    fresh_synthesis: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"trigger parameter {key!r} {why}, got {getattr(self, key)!r}")

        name = self.model_name
        if not name or name.startswith(".") or any(c in name for c in "/\\: "):
            raise bad("model_name", "must be a plain folder name (no '/', spaces or leading '.')")
        if not self.datasets:
            raise bad("datasets", "must name at least one dataset with its proportion")
        if any(not p > 0 for p in self.datasets.values()):
            raise bad("datasets", "proportions must be positive")
        if not isinstance(self.fresh_synthesis, dict):
            raise bad("fresh_synthesis", "must be a mapping of synthesis parameters")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise bad("steps_per_epoch", "must be None or at least 1")
        if not self.learning_rate > 0:
            raise bad("learning_rate", "must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "is a RATE (fraction dropped) and must be in [0, 1)")
        if not self.label_seconds > 0:
            raise bad("label_seconds", "must be positive")
        if not 0.0 <= self.gain_augment_db <= 40.0:
            raise bad("gain_augment_db", "must be in [0, 40] dB")
        if not 0.0 <= self.threshold <= 1.0:
            raise bad("threshold", "must be in [0, 1]")
        if not 0 <= self.average_epochs <= self.epochs:
            raise bad("average_epochs", f"must be in [0, epochs = {self.epochs}]")
        if self.average_epochs and self.keep_best:
            raise ConfigError(
                "trigger parameters 'average_epochs' and 'keep_best' exclude each other: the "
                "model is either the average of the last epochs or the best epoch; set "
                "keep_best: false to average"
            )
        ArchSpec.preset(self.architecture, self.dropout)  # raises for an unknown name
        self.spectral_augment()  # raises for out-of-range augmentation settings

    def spectral_augment(self) -> Any:
        from lib.trigger.augment import SpectralAugment

        return SpectralAugment(
            self.eq_augment_db, self.warp_augment, self.mask_bins,
            self.spectral_augment_probability,
        )  # fmt: skip

    def arch(self) -> ArchSpec:
        return ArchSpec.preset(self.architecture, self.dropout)

    def fresh_source(self) -> Any:
        """The on-the-fly source for a ``fresh`` entry of ``datasets``: configs/synthesis.yaml
        with ``fresh_synthesis`` over it, read from ``raw_dir`` (None when not asked for)."""
        if FRESH not in self.datasets:
            return None
        from lib import config
        from lib.synth import FreshSource

        synthesis = config.load_config("synthesis", "full", dict(self.fresh_synthesis))
        return FreshSource(synthesis, self.raw_dir)


# ---------------------------------------------------------------------------- data


class TrainingData:
    """The named datasets of a run, read as batches whose content depends on (seed, epoch)."""

    def __init__(
        self, datasets: dict[str, float], label_seconds: float, feature_config: Any = None,
        arch: ArchSpec | None = None, what: str = "the model", fresh: Any = None,
    ) -> None:  # fmt: skip
        from lib.datasets import open_dataset

        if FRESH in datasets and fresh is None:
            raise ConfigError(f"datasets name {FRESH!r} but no on-the-fly source was given")
        self.sources = [fresh if name == FRESH else open_dataset(name) for name in datasets]
        total = float(sum(datasets.values()))
        self.proportions = np.array([datasets[n] / total for n in datasets], dtype=np.float64)
        self.names = list(datasets)
        fc = feature_config or self.sources[0].feature_config
        for ds in self.sources:
            diff = cards.feature_differences(fc.to_dict(), ds.feature_config.to_dict())
            if diff:
                raise cards.ModelError(
                    f"dataset {ds.name!r} ({ds.path}) has other feature settings than "
                    f"{what}: {'; '.join(diff)}"
                )
            if ds.feature_shape != self.sources[0].feature_shape:
                raise cards.ModelError(
                    f"dataset {ds.name!r} ({ds.path}) has examples of shape {ds.feature_shape}, "
                    f"dataset {self.sources[0].name!r} of {self.sources[0].feature_shape}: "
                    "datasets mixed in one run need the same example length"
                )
        self.feature_config = fc
        self.arch = arch
        self.frames, self.bins = self.sources[0].feature_shape
        stride = arch.conv_stride if arch else 4
        self.steps = output_steps(self.frames, stride)
        hop = stride * fc.hop_length / fc.sample_rate
        self.hop_seconds = hop
        self.label_ones = max(1, int(round(label_seconds / hop)))
        self.data_seconds = 0.0
        self._lock = threading.Lock()
        self._plans: dict[tuple[int, int, int], np.ndarray] = {}

    @property
    def n_examples(self) -> int:
        return int(sum(len(ds) for ds in self.sources))

    def labels(self, ds: Any, i: int) -> np.ndarray:
        return self.labels_of(ds.events(i))

    def labels_of(self, events: Any) -> np.ndarray:
        """The label track of an example's events at the model's output rate."""
        from lib.synth import labels_from_events

        return labels_from_events(
            events, self.steps, self.steps * self.hop_seconds, self.label_ones
        )

    def plan(self, seed: int, epoch: int, n: int) -> np.ndarray:
        """``(n, 2)`` (source, index) pairs for one epoch: a function of (seed, epoch) only."""
        key = (int(seed), int(epoch), int(n))
        with self._lock:
            if key in self._plans:
                return self._plans[key]
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), 7]))
        src = rng.choice(len(self.sources), size=n, p=self.proportions)
        idx = np.empty(n, dtype=np.int64)
        for k, ds in enumerate(self.sources):
            where = np.flatnonzero(src == k)
            if ds.name == FRESH:  # new examples every epoch, never one twice
                idx[where] = int(epoch) * n + np.arange(len(where))
                continue
            reps = -(-len(where) // len(ds)) if len(where) else 0
            order = np.concatenate([rng.permutation(len(ds)) for _ in range(reps)] or [[]])
            idx[where] = order[: len(where)].astype(np.int64)
        plan = np.stack([src.astype(np.int64), idx], axis=1)
        with self._lock:
            self._plans = {k: p for k, p in self._plans.items() if k[1] >= epoch - 1}
            self._plans[key] = plan
        return plan

    def gather(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        x = np.empty((len(pairs), self.frames, self.bins), dtype=np.float32)
        y = np.empty((len(pairs), self.steps, 1), dtype=np.float32)
        for row, (k, i) in enumerate(pairs):
            x[row], events = self.sources[int(k)].features_and_events(int(i))
            y[row, :, 0] = self.labels_of(events)
        with self._lock:
            self.data_seconds += time.perf_counter() - t0
        return x, y

    def train_dataset(
        self, seed: int, first_epoch: int, epochs: int, steps: int, batch_size: int,
        gain_augment_db: float = 0.0, augment: Any = None,
    ) -> Any:  # fmt: skip
        """Batches for epochs ``first_epoch .. epochs - 1``, ``steps`` per epoch, in order.

        ``gain_augment_db``: each example's level is changed by a random gain in
        ``[-g, +g]`` dB (an offset of the log-mel bands, not of phonetic features, which are
        level-normalised already; drawn from (seed, epoch, batch)),
        so the model does not learn the synthesis' fixed mix level. ``augment``: a
        :class:`lib.trigger.augment.SpectralAugment` (equaliser, mel warp, frequency masks)."""
        import tensorflow as tf

        scale = gain_augment_db * np.log(10.0) / 10.0  # dB of power -> natural-log offset

        def load(epoch: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
            pairs = self.plan(seed, int(epoch), steps * batch_size)
            x, y = self.gather(pairs[int(b) * batch_size : (int(b) + 1) * batch_size])
            # the log-mel bands (not a spectrogram's, not the phonetic features), in place
            fc = self.feature_config
            spectral = None
            if fc.kind != "spectrogram" and fc.n_spectral:
                spectral = x[:, :, : fc.n_spectral]
            if spectral is not None and scale > 0:
                rng = np.random.default_rng([int(seed), int(epoch), int(b), 11])
                spectral += rng.uniform(-scale, scale, (len(x), 1, 1)).astype(np.float32)
            if spectral is not None and augment is not None and augment.active:
                augment(spectral, np.random.default_rng([int(seed), int(epoch), int(b), 13]))
            return x, y

        def tf_load(epoch: Any, b: Any) -> tuple[Any, Any]:
            x, y = tf.numpy_function(load, [epoch, b], (tf.float32, tf.float32))
            x.set_shape((batch_size, self.frames, self.bins))
            y.set_shape((batch_size, self.steps, 1))
            return x, y

        def per_epoch(epoch: Any) -> Any:
            return tf.data.Dataset.range(steps).map(lambda b: (epoch, b))

        ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(per_epoch)
        return ds.map(tf_load, num_parallel_calls=1, deterministic=True).prefetch(2)


def dev_arrays(
    name: str, data: TrainingData, max_examples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All (or the first ``max_examples``) examples of a dev dataset with model-rate labels."""
    from lib.datasets import open_dataset

    ds = open_dataset(name)
    diff = cards.feature_differences(data.feature_config.to_dict(), ds.feature_config.to_dict())
    if diff:
        raise cards.ModelError(
            f"dev dataset {ds.name!r} ({ds.path}) has other feature settings than the training "
            f"data: {'; '.join(diff)}"
        )
    n = len(ds) if max_examples is None else min(len(ds), max_examples)
    x = np.stack([ds.features(i) for i in range(n)]).astype(np.float32)
    y = np.stack([data.labels(ds, i) for i in range(n)]).astype(np.float32)[..., None]
    return x, y


# ---------------------------------------------------------------------------- callbacks


class _Callbacks:
    """Callback classes, created on first use (Keras is imported lazily)."""

    _made: dict[str, type] = {}

    @classmethod
    def get(cls, name: str) -> type:
        if not cls._made:
            cls._make()
        return cls._made[name]

    @classmethod
    def _make(cls) -> None:
        import keras

        class Timing(keras.callbacks.Callback):
            """Adds data_seconds / step_seconds / epoch_seconds to each epoch's logs.

            ``data_seconds``: time the input pipeline spent reading and labelling batches
            (overlapped with training by prefetching); ``step_seconds``: time in train steps
            (including any wait for input); ``epoch_seconds``: the whole epoch."""

            def __init__(self, data: TrainingData) -> None:
                super().__init__()
                self.data = data

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.t_epoch = time.perf_counter()
                self.step_total = 0.0
                self.data_start = self.data.data_seconds

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                self.t_batch = time.perf_counter()

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                self.step_total += time.perf_counter() - self.t_batch

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                if logs is not None:
                    logs["data_seconds"] = round(self.data.data_seconds - self.data_start, 3)
                    logs["step_seconds"] = round(self.step_total, 3)
                    logs["epoch_seconds"] = round(time.perf_counter() - self.t_epoch, 3)

        class Reseed(keras.callbacks.Callback):
            """Dropout masks from (seed, epoch): resuming replays the same masks."""

            def __init__(self, seed: int) -> None:
                super().__init__()
                self.seed = seed

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                for k, layer in enumerate(self.model.layers):
                    for sg in getattr(layer, "_seed_generators", []):
                        value = np.array([self.seed * 100003 + epoch * 1009 + k, 0])
                        sg.state.assign(value.astype(sg.state.dtype))

        class EpochCheckpoint(keras.callbacks.Callback):
            """Saves model + optimizer and the epoch after every epoch, atomically."""

            def __init__(
                self, work_dir: Path, fingerprint: str, metric: str, best: dict[str, Any]
            ) -> None:
                super().__init__()
                self.work_dir, self.fingerprint = work_dir, fingerprint
                self.metric, self.best = metric, dict(best)

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                from lib.files import atomic_path

                value = (logs or {}).get(self.metric)
                if value is not None and np.isfinite(value):
                    old = self.best.get("value")
                    lower = "loss" in self.metric
                    if old is None or (value < old if lower else value > old):
                        self.best = {"value": float(value), "epoch": epoch + 1}
                        path = self.work_dir / BEST_WEIGHTS
                        with atomic_path(path, suffix=".weights.h5") as tmp:
                            self.model.save_weights(tmp)
                save_training_state(
                    self.model, self.work_dir, epoch + 1, self.fingerprint, best=self.best
                )

        class AverageWeights(keras.callbacks.Callback):
            """Keeps the weights (moving statistics included) of the last ``n`` epochs in
            ``average.npz``, written atomically after every epoch, before its checkpoint. A
            resumed run repeats the epochs after its checkpoint bit for bit and puts the same
            weights back; a run continued for more epochs finds the last ``n`` there."""

            def __init__(self, work_dir: Path, n: int) -> None:
                super().__init__()
                self.path, self.n = work_dir / AVERAGE_WEIGHTS, n
                self.window = read_weight_window(self.path)  # what a resumed run had

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                from lib.files import atomic_path

                done = epoch + 1
                self.window[done] = [np.asarray(w) for w in self.model.get_weights()]
                self.window = {e: w for e, w in self.window.items() if done - self.n < e <= done}
                with atomic_path(self.path, suffix=".npz") as tmp:
                    np.savez(tmp, **{f"e{e}_w{i}": w for e, ws in self.window.items()
                                     for i, w in enumerate(ws)})  # fmt: skip

        class LivePlot(keras.callbacks.Callback):
            """Redraws loss and metrics after every epoch inside a notebook; no-op headless."""

            def __init__(self, keys: tuple[str, ...] = ("loss", "pr_auc")) -> None:
                super().__init__()
                self.keys = keys
                self.history: dict[str, list[float]] = {}
                self.handle = None
                self.active = _in_interactive_kernel()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                for k, v in (logs or {}).items():
                    if isinstance(v, (int, float)):
                        self.history.setdefault(k, []).append(float(v))
                if not self.active:
                    return
                from IPython.display import display

                from lib.trigger.plots import training_curves

                fig = training_curves(self.history, self.keys)
                if self.handle is None:
                    self.handle = display(fig, display_id=True)
                else:
                    self.handle.update(fig)
                import matplotlib.pyplot as plt

                plt.close(fig)

        cls._made = {
            "Timing": Timing,
            "Reseed": Reseed,
            "EpochCheckpoint": EpochCheckpoint,
            "AverageWeights": AverageWeights,
            "LivePlot": LivePlot,
        }


def _tensorboard_available() -> bool:
    """True if the ``tensorboard`` package (Keras' TensorBoard callback needs it) imports."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return False
    return True


def _in_interactive_kernel() -> bool:
    """True inside a Jupyter kernel that a person is watching (not a papermill run)."""
    if os.environ.get("HEYJOE_RUN_DIR"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


# ---------------------------------------------------------------------------- checkpoints


def work_dir(model_name: str) -> Path:
    """Where a run's per-epoch checkpoint and logs live (resumable; git-ignored data/).
    ``HEYJOE_TRAINING_DIR`` moves it (SageMaker jobs: into the synced /opt/ml/checkpoints)."""
    root = os.environ.get("HEYJOE_TRAINING_DIR")
    return (Path(root) if root else paths.data_dir() / "training") / model_name


BEST_WEIGHTS = "best.weights.h5"
AVERAGE_WEIGHTS = "average.npz"


def read_weight_window(path: Path) -> dict[int, list[np.ndarray]]:
    """epoch → its weights, as an ``average.npz`` keeps them (empty if there is none)."""
    if not path.is_file():
        return {}
    window: dict[int, list[np.ndarray]] = {}
    with np.load(path) as z:
        for key in sorted(z.files, key=lambda k: [int(x) for x in k[1:].split("_w")]):
            epoch = int(key[1:].split("_w")[0])
            window.setdefault(epoch, []).append(z[key])
    return window


def save_training_state(
    model: Any, folder: Path, epochs_done: int, fingerprint: str, best: dict[str, Any] | None = None
) -> None:
    """Model with optimizer state, then ``state.json`` (written last: the checkpoint is whole)."""
    from lib.files import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "checkpoint.keras", suffix=".keras") as tmp:
        model.save(tmp)
    write_json(
        folder / "state.json",
        {"epochs_done": epochs_done, "fingerprint": fingerprint, "best": best or {}},
    )


def load_training_state(folder: Path, fingerprint: str) -> tuple[Any, int, dict] | None:
    """(model, epochs done, state) of a resumable checkpoint made with the same settings."""
    import keras

    state_path = folder / "state.json"
    if not state_path.is_file() or not (folder / "checkpoint.keras").is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError):
        log.warning("ignoring unreadable %s", state_path)
        return None
    if state.get("fingerprint") != fingerprint:
        log.info("the checkpoint in %s was made with other settings: starting afresh", folder)
        return None
    try:
        model = keras.saving.load_model(folder / "checkpoint.keras", safe_mode=True)
    except Exception as exc:  # damaged checkpoint: start again rather than fail
        log.warning("cannot load %s (%s): starting afresh", folder / "checkpoint.keras", exc)
        return None
    return model, int(state["epochs_done"]), state


def _fingerprint(cfg: TriggerConfig, data: TrainingData, steps: int) -> str:
    """Settings that must match for a checkpoint to be resumed (``epochs`` may grow)."""
    d = {k: v for k, v in dataclasses.asdict(cfg).items()
         if k not in ("epochs", "resume", "tensorboard", "verbose", "threshold",
                      "target_metric", "target_value", "compare_scratch", "evaluate",
                      "eval_dev_clips", "eval_negative_minutes", "raw_dir",
                      "keep_best", "overwrite")}  # fmt: skip
    d["steps"] = steps
    d["sources"] = [(ds.name, ds.manifest.get("created"), len(ds)) for ds in data.sources]
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check_model_dir(model_dir: Path, fingerprint: str, overwrite: bool) -> bool:
    """Refuse to train into a folder holding another model unless ``overwrite``.

    The same training (same settings and datasets: resumed, run again or trained for more
    epochs) may write its folder again. Returns True when a different model will be replaced.
    """
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        return False
    try:
        old = json.loads((model_dir / cards.CARD).read_text())
    except (OSError, ValueError):
        old = {}
    old = old if isinstance(old, dict) else {}
    if old.get("training_fingerprint") == fingerprint:
        return False
    what = (
        f"model {old.get('name')!r} (created {old.get('created', '?')})"
        if old.get("name")
        else "other files"
    )
    if not overwrite:
        raise ConfigError(
            f"{model_dir} already holds {what}, trained with other settings or data; "
            "choose another model_name, or set overwrite: true (heyjoe train-trigger "
            "--overwrite) to replace it"
        )
    log.warning("overwrite: %s in %s will be replaced", what, model_dir)
    return True


def _trim_csv(path: Path, epochs_done: int) -> None:
    """Drop CSV rows of epochs after the checkpoint (an epoch interrupted before its save)."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    keep = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < epochs_done]
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(keep)


# ---------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    model_dir: Path
    history: dict[str, list[float]]
    epochs_done: int
    resumed_from: int
    transfer_report: dict[str, list[str]] | None
    work_dir: Path
    card: dict[str, Any]

    def epochs_to_target(self, metric: str, value: float) -> int | None:
        """First epoch (1-based) at which ``metric`` reached ``value`` (``loss``-like metrics:
        at or below), None if never."""
        series = self.history.get(metric, [])
        lower = "loss" in metric
        for i, v in enumerate(series):
            if (v <= value) if lower else (v >= value):
                return i + 1
        return None


def where_trained(strategy: Any = None) -> dict[str, Any]:
    """Host, CPU, GPU, SageMaker flag and, given the ``tf.distribute`` strategy trained with,
    how training was spread (``workers``: machines; ``replicas``: workers x devices;
    ``batch_size`` in the card is the global batch) for the model card."""
    from lib.distribute import describe
    from lib.runs import _cpu_model, _gpus

    gpus = _gpus()
    sagemaker = bool(os.environ.get("SM_TRAINING_ENV") or os.environ.get("SM_CURRENT_HOST"))
    host = platform.node()
    spread = describe(strategy)
    workers = f", {spread['workers']} workers" if spread["workers"] > 1 else ""
    summary = (f"{host} ({'GPU ' + gpus[0] if gpus else 'CPU'}{', SageMaker' if sagemaker else ''}"
               f"{workers})")  # fmt: skip
    return {
        "hostname": host,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "sagemaker": sagemaker,
        "distributed": spread,
        "summary": summary,
    }


def _compile(model: Any, learning_rate: float, jit_compile: bool | str = False) -> None:
    """Adam + binary cross-entropy, with precision, recall and PR-AUC. XLA is off by default:
    on CPU it took longer to compile the GRUs than it saved (see benchmarks/training.py)."""
    import keras

    model.compile(
        jit_compile=jit_compile,
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
        ],
    )


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The CSV log as ``metric → values per epoch``."""
    if not csv_path.is_file():
        return {}
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r.items():
            if k == "epoch":
                continue
            try:
                out.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                continue
    return out


def train(
    cfg: TriggerConfig,
    run: Any = None,
    *,
    output_dir: Path | None = None,
    callbacks: list[Any] | None = None,
    dev_max_examples: int | None = None,
) -> TrainResult:
    """Train (or resume, or fine-tune) a trigger model and write its model directory.

    ``run``: the notebook's :class:`lib.runs.Run` (its directory gets the CSV log and the
    run record is copied into the model directory). ``output_dir``: where the model directory
    goes (default ``paths.checkpoints_dir()/trigger/<model_name>``). ``callbacks``: extra
    Keras callbacks (tests use one to interrupt training).

    With ``TF_CONFIG`` naming several workers it trains data-parallel across them
    (:mod:`lib.distribute`): ``batch_size`` is the global batch, and only the chief writes the
    checkpoint, logs and model directory (the others write into a temporary folder).
    """
    import keras

    from lib import distribute

    strategy = distribute.strategy_from_env()  # first: multi-worker must precede any TF op
    arch = cfg.arch()
    parent_model = None
    fc_model = None
    if cfg.parent:
        parent_model = cards.load_model(cfg.parent)
        if parent_model.keras_model is None:  # an exported .npz: weights for listening only
            source = parent_model.card.get("exported_from")
            raise ConfigError(
                f"parent {cfg.parent!r} is an exported model file: fine-tuning starts from a "
                f"model folder (the one it was exported from: {source})"
            )
        fc_model = parent_model.feature_config
    what = f"the parent model {cfg.parent!r} ({parent_model.path})" if parent_model else "the model"
    data = TrainingData(
        cfg.datasets, cfg.label_seconds, fc_model, arch, what, fresh=cfg.fresh_source()
    )
    fc = data.feature_config
    steps = cfg.steps_per_epoch or max(1, data.n_examples // cfg.batch_size)
    fingerprint = _fingerprint(cfg, data, steps)
    model_dir = Path(output_dir) if output_dir else cards.local_dir() / cfg.model_name
    # the chief writes the model folder (other workers write into a temporary one)
    replacing = distribute.is_chief(strategy) and _check_model_dir(
        model_dir, fingerprint, cfg.overwrite
    )
    resume_dir = work_dir(cfg.model_name)  # every worker resumes from here,
    wdir = distribute.write_dir(resume_dir, strategy)  # only the chief writes to it
    csv_path = wdir / "training_log.csv"

    report = None
    initial_epoch = 0
    best: dict[str, Any] = {}
    with strategy.scope():  # model, optimizer and metrics: mirrored on every replica
        restored = load_training_state(resume_dir, fingerprint) if cfg.resume else None
        distribute.agree(strategy, restored[1] if restored else 0, "the epoch to resume from")
        if restored is not None:
            model, initial_epoch, state = restored
            best = state.get("best") or {}
            log.info("resuming %s from its checkpoint after epoch %d", cfg.model_name,
                     initial_epoch)  # fmt: skip
            if wdir != resume_dir:  # a worker: carry on from a copy of the chief's folder
                shutil.rmtree(wdir, ignore_errors=True)
                shutil.copytree(resume_dir, wdir)
            _trim_csv(csv_path, initial_epoch)
        else:
            if wdir.exists():
                shutil.rmtree(wdir)
            wdir.mkdir(parents=True)
            model = build_model(arch, fc.n_bins, seed=cfg.seed)
            if parent_model is not None:
                report = transfer_weights(model, parent_model.keras_model)
                text = format_transfer_report(report, f"{parent_model.name} ({parent_model.path})")
                log.info("%s", text)
            _compile(model, cfg.learning_rate)
    if report is None and (wdir / "transfer.json").is_file():
        report = json.loads((wdir / "transfer.json").read_text())
    elif report is not None:
        write_json(wdir / "transfer.json", report)

    validation = None
    if cfg.dev_dataset:
        validation = dev_arrays(cfg.dev_dataset, data, dev_max_examples)
    train_ds = data.train_dataset(
        cfg.seed,
        initial_epoch,
        cfg.epochs,
        steps,
        cfg.batch_size,
        cfg.gain_augment_db,
        cfg.spectral_augment(),
    )
    train_ds = distribute.shard_by_data(train_ds, strategy)  # each worker: its slice of a batch
    C = _Callbacks.get
    cbs: list[Any] = [
        C("Timing")(data),
        C("Reseed")(cfg.seed),
        keras.callbacks.CSVLogger(str(csv_path), append=initial_epoch > 0),
        C("LivePlot")(("loss", "pr_auc")),
    ]
    if cfg.tensorboard and _tensorboard_available():
        cbs.append(keras.callbacks.TensorBoard(str(wdir / "tensorboard"), write_graph=False))
    cbs += list(callbacks or [])
    if distribute.is_distributed(strategy):  # batch-norm statistics: the same everywhere
        cbs.insert(0, distribute.sync_callback(strategy))
    if cfg.average_epochs:
        cbs.append(C("AverageWeights")(wdir, cfg.average_epochs))
    cbs.append(C("EpochCheckpoint")(wdir, fingerprint, cfg.target_metric, best))
    verbose = cfg.verbose
    if verbose == "auto":
        verbose = 2 if os.environ.get("HEYJOE_RUN_DIR") or not _in_interactive_kernel() else 1
    log.info(
        "training %s (%s, %d parameters) on %s: %d epochs x %d steps x batch %d, from epoch %d",
        cfg.model_name, arch.name, count_parameters(model), dict(cfg.datasets), cfg.epochs,
        steps, cfg.batch_size, initial_epoch,
    )  # fmt: skip
    if initial_epoch < cfg.epochs:
        model.fit(
            train_ds,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=validation,
            validation_batch_size=cfg.batch_size,
            callbacks=cbs,
            verbose=verbose,
        )
    history = read_history(csv_path)
    model_dir = distribute.write_dir(model_dir, strategy)
    if replacing:  # what belonged to the model replaced
        for stale in ("run", "finetune_vs_scratch.json"):
            target = model_dir / stale
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    best = cbs[-1].best
    averaged = None
    if cfg.average_epochs:
        n = cfg.average_epochs
        window = read_weight_window(wdir / AVERAGE_WEIGHTS)
        span = list(range(cfg.epochs - n + 1, cfg.epochs + 1))
        if sorted(window) != span:
            raise HeyJoeError(
                f"{wdir / AVERAGE_WEIGHTS} holds epochs {sorted(window)}, not {span}: delete "
                f"{wdir} to train {cfg.model_name} again"
            )
        model.set_weights([
            np.mean([np.asarray(window[e][i], np.float64) for e in span], axis=0).astype(
                window[span[-1]][i].dtype)
            for i in range(len(window[span[-1]]))
        ])  # fmt: skip
        averaged = [span[0], span[-1]]
        log.info("the model is the average of epochs %d to %d", *averaged)
        best = {"epoch": cfg.epochs, "value": (history.get(cfg.target_metric) or [None])[-1]}
    elif cfg.keep_best and best.get("epoch") and (wdir / BEST_WEIGHTS).is_file():
        model.load_weights(wdir / BEST_WEIGHTS)
        log.info("keeping epoch %d (best %s %.4f)", best["epoch"], cfg.target_metric,
                 best["value"])  # fmt: skip
    else:
        best = {"epoch": cfg.epochs, "value": (history.get(cfg.target_metric) or [None])[-1]}
    card = write_model_dir(model, model_dir, cfg, data, history, parent_model, report, steps,
                           strategy=strategy, fingerprint=fingerprint)  # fmt: skip
    card = cards.update_card(model_dir, kept_epoch=best.get("epoch"), averaged_epochs=averaged,
                             metrics={f"best_{cfg.target_metric}": best.get("value")})  # fmt: skip
    if run is not None:
        shutil.copy2(csv_path, run.dir / "training_log.csv")
    return TrainResult(model_dir, history, cfg.epochs, initial_epoch, report, wdir, card)


def write_model_dir(
    model: Any,
    model_dir: Path,
    cfg: TriggerConfig,
    data: TrainingData,
    history: dict[str, list[float]],
    parent: Any,
    report: dict[str, list[str]] | None,
    steps: int,
    strategy: Any = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """Save the model (weights and architecture, no optimizer state) and its card.

    ``fingerprint``: the training's settings fingerprint (``_fingerprint``), kept in the card
    so the same training may write the folder again.
    ``strategy``: the ``tf.distribute`` strategy it was trained with (for ``trained_on``)."""
    from lib.files import atomic_path

    arch = cfg.arch()
    fc = data.feature_config
    clean = build_model(arch, fc.n_bins, seed=cfg.seed)
    clean.set_weights(model.get_weights())
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / cards.MODEL_FILE, suffix=".keras") as tmp:
        clean.save(tmp)
    hop, offset = output_timing(fc, arch)
    last = {k: round(v[-1], 5) for k, v in history.items() if v}
    card = {
        "name": cfg.model_name,
        "created": cards.now(),
        "training_fingerprint": fingerprint or _fingerprint(cfg, data, steps),
        "trigger_phrase": cfg.trigger_phrase,
        "architecture": arch.to_dict(),
        "n_parameters": count_parameters(clean),
        "parent": parent.name if parent is not None else None,
        "parent_path": str(parent.path) if parent is not None else None,
        "transfer": report,
        "datasets": {n: float(p) for n, p in cfg.datasets.items()},
        "dataset_examples": {ds.name: len(ds) for ds in data.sources},
        "dev_dataset": cfg.dev_dataset,
        "epochs": cfg.epochs,
        "steps_per_epoch": steps,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "seed": cfg.seed,
        "label_seconds": cfg.label_seconds,
        "trained_on": where_trained(strategy),
        "metrics": {f"final_{k}": v for k, v in last.items()},
        "features": fc.to_dict(),
        "output": {"hop_seconds": hop, "offset_seconds": offset},
        "threshold": cfg.threshold,
        "model_file": cards.MODEL_FILE,
        "model_bytes": (model_dir / cards.MODEL_FILE).stat().st_size,
    }
    earlier = model_dir / "finetune_vs_scratch.json"  # kept from the run's first part (resumed)
    if earlier.is_file() and cfg.parent:
        card["finetune_vs_scratch"] = json.loads(earlier.read_text()).get("summary")
    cards.write_card(model_dir, card)
    log.info(
        "wrote model %s (%d parameters) to %s", cfg.model_name, card["n_parameters"], model_dir
    )
    return card


def copy_run_record(run: Any, model_dir: Path) -> Path:
    """Copy the run record (params, environment, metrics, log, training log) into
    ``model_dir/run/`` so the model carries how it was made."""
    dest = Path(model_dir) / "run"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("params.yaml", "environment.json", "metrics.json", "run.log",
                 "training_log.csv", "run.json"):  # fmt: skip
        src = Path(run.dir) / name
        if src.is_file():
            shutil.copy2(src, dest / name)
    cards.update_card(model_dir, run_dir=str(run.dir))
    return dest


def data_time_fraction(history: dict[str, list[float]]) -> float | None:
    """Share of the epoch time spent producing data (all epochs)."""
    data = sum(history.get("data_seconds", []))
    total = sum(history.get("epoch_seconds", []))
    return round(data / total, 3) if total else None


# ---------------------------------------------------------------------------- around training


def ensure_datasets(
    cfg: TriggerConfig,
    synthesis: Any,
    raw_dir: Path | str | None = None,
    dev_examples: int | None = None,
    profile: str = "quick",
) -> list[str]:
    """Build the named datasets ``cfg`` needs that do not exist yet (idempotent).

    Missing training datasets are built with ``synthesis`` settings (split ``train``) under
    their own name; a missing dev dataset with split ``dev`` (festival voices, dev
    backgrounds) and ``dev_examples`` examples (default a quarter of ``synthesis.n_examples``,
    at least 8). A missing raw corpus is bootstrapped first (``profile``'s corpus settings).
    Existing datasets are never rebuilt; ``fresh`` (made on the fly) is never built. Returns the
    names built.
    """
    from lib.datasets import available_datasets, build_dataset
    from lib.evalsets import ensure_corpus

    raw_dir = raw_dir if raw_dir is not None else cfg.raw_dir
    have = set(available_datasets())
    todo = [(n, "train", synthesis.n_examples, synthesis.seed) for n in cfg.datasets if n != FRESH]
    if cfg.dev_dataset:
        n_dev = dev_examples or max(8, synthesis.n_examples // 4)
        todo.append((cfg.dev_dataset, "dev", n_dev, synthesis.seed + 1))
    built = []
    for name, split, n, seed in todo:
        if name in have:
            continue
        ensure_corpus(profile, Path(raw_dir) if raw_dir else None)
        shard = min(synthesis.shard_size, n)
        build_dataset(
            synthesis.replace(dataset_name=name, split=split, n_examples=n, seed=seed,
                              shard_size=shard),
            raw_dir=raw_dir, progress=False,
        )  # fmt: skip
        built.append(name)
    return built


def eval_set_dirs(
    raw_dir: Path | str | None, dev_clips: int, negative_minutes: float
) -> tuple[Path, Path]:
    """Folders of the dev clips and long negatives for these sizes and corpus
    (:func:`lib.evalsets.set_dir`: a quick run never shrinks the full-size sets)."""
    from lib import evalsets

    return (evalsets.set_dir(evalsets.TRIGGER_DEV, dev_clips, raw_dir),
            evalsets.set_dir(evalsets.LONG_NEGATIVES, negative_minutes))  # fmt: skip


def dev_eval_sets(
    raw_dir: Path | str | None = None, dev_clips: int = 40, negative_minutes: float = 60.0
) -> tuple[Path, Path]:
    """The dev clips and long negatives every trigger evaluation reads (made, or reused, in
    :func:`eval_set_dirs`' folders): ``(dev folder, negatives folder)``."""
    from lib import evalsets

    dev_out, neg_out = eval_set_dirs(raw_dir, dev_clips, negative_minutes)
    dev = evalsets.make_trigger_devset(dev_clips, dev_out,
                                       raw_dir=Path(raw_dir) if raw_dir else None)  # fmt: skip
    neg = evalsets.make_long_negatives(negative_minutes, neg_out)  # phrase-independent
    return dev, neg


def choose_threshold(det: list[dict[str, Any]], fa_per_hour: float) -> tuple[float | None, str]:
    """The default threshold read off a DET curve, and the rule that chose it: the lowest
    threshold within ``fa_per_hour``; where that misses :data:`USELESS_FRR` or more of the
    triggers (a threshold that (nearly) never fires is no default), the budget is loosened 10x,
    then 100x. ``(None, ...)`` when no point qualifies."""
    threshold, rule = None, "no DET point qualified"
    for factor in (1, 10, 100):
        budget = factor * fa_per_hour
        threshold = event_metrics.threshold_at_fa_per_hour(det, budget)
        frr = event_metrics.frr_at_fa_per_hour(det, budget)
        rule = f"lowest threshold with <= {budget:g} false accepts per hour"
        if factor > 1:
            rule += (
                f" (within {fa_per_hour:g}, {USELESS_FRR:.0%} or more of the triggers are missed)"
            )
        if threshold is not None and frr is not None and frr < USELESS_FRR:
            break
    return threshold, rule


def _test_report(
    n_clips: int, raw: Path | None, model: Any, threshold: float
) -> tuple[dict[str, Any], Path] | None:
    """Metrics at ``threshold`` (chosen on the dev sets) on the test split's voices (the
    corpus's ``test_engines``: no training set and no dev set hears them), or None when the
    corpus has no test split."""
    from lib import corpus, evalsets
    from lib.evaluate import evaluate_trigger

    records = corpus.load_manifest(raw) if corpus.manifest_path(raw).is_file() else []
    if not any(r.split == "test" and r.kind == "activate" for r in records):
        return None
    out = evalsets.set_dir(evalsets.TRIGGER_TEST, n_clips, raw)
    folder = evalsets.make_trigger_devset(n_clips, out, raw_dir=raw, split="test")
    report = evaluate_trigger(folder, model, threshold=threshold)
    at = report["at_model_threshold"]
    return {
        "test_frr_by_voice": report["frr_by_voice"],
        "test_frr_at_threshold": at["false_reject_rate"],
        "test_frr_at_threshold_95": at["false_reject_rate_95"],
        "test_triggers": at["n_triggers"],
        "test_false_accepts": at["false_accepts"],
        "test_voices": sorted(
            {r.voice for r in records if r.split == "test" and r.kind == "activate"}
        ),  # fmt: skip
    }, folder


#: false accepts at the chosen threshold listed in the card (highest scores first)
MAX_LISTED_FALSE_ACCEPTS = 20


def evaluate_model(
    model_dir: Path | str,
    dev_clips: int = 40,
    negative_minutes: float = 60.0,
    fa_per_hour: float = 0.5,
    raw_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Event-based evaluation on the held-out sets (festival voices over dev backgrounds,
    plus long negatives): the DET curve, the false-reject rate at ``fa_per_hour``, and the
    threshold giving it, which is written to the card with the metrics; then, at that
    threshold, the false-reject rate on the test split's voices (``test_*`` metrics, when the
    corpus has a test split). Returns the dev report."""
    from lib.evaluate import evaluate_trigger_scores, false_accepts_said, frr_by_voice

    dev, neg = dev_eval_sets(raw_dir, dev_clips, negative_minutes)
    raw = Path(raw_dir) if raw_dir else None
    model = cards.load_model(model_dir)
    report, scored = evaluate_trigger_scores([dev, neg], model)
    key = f"{fa_per_hour:g}"
    threshold, rule = choose_threshold(report["det"], fa_per_hour)
    if threshold is None:
        threshold, rule = model.threshold, "the training setting (no DET point qualified)"
    at = next((p for p in report["det"] if p["threshold"] == threshold), None)
    metrics = {
        f"dev_frr_at_{key}_fa_per_hour": report["frr_at_fa_per_hour"].get(key),
        "dev_threshold_at_fa_budget": threshold,
        "dev_threshold_rule": rule,
        "dev_frr_at_threshold": at["false_reject_rate"] if at else None,
        "dev_fa_per_hour_at_threshold": at["false_accepts_per_hour"] if at else None,
        # how sure the operating point is (95 %): few triggers, few hours
        "dev_frr_at_threshold_95": at["false_reject_rate_95"] if at else None,
        "dev_fa_per_hour_at_threshold_95": at["false_accepts_per_hour_95"] if at else None,
        "dev_triggers": report["at_model_threshold"]["n_triggers"],
        "dev_hours": round(report["at_model_threshold"]["hours"], 3),
        "dev_frr_at_fa_per_hour": report["frr_at_fa_per_hour"],
        "ms_per_audio_second": report.get("ms_per_audio_second"),
    }
    # which dev voices it misses at that threshold, and what its false accepts heard
    metrics["dev_frr_by_voice"] = frr_by_voice(scored, [dev, neg], float(threshold))
    metrics["dev_false_accepts"] = false_accepts_said(scored, [dev, neg], float(threshold))[
        :MAX_LISTED_FALSE_ACCEPTS
    ]
    det = [
        {k: p[k] for k in ("threshold", "false_reject_rate", "false_accepts_per_hour")}
        for p in report["det"]
    ]
    sets = {"trigger_dev": str(dev), "long_negatives": str(neg)}
    test = _test_report(dev_clips, raw, model, float(threshold))
    if test is not None:
        metrics.update(test[0])
        sets["trigger_test"] = str(test[1])
    cards.update_card(model_dir, threshold=float(threshold), metrics=metrics, dev_det=det,
                      dev_sets=sets)  # fmt: skip
    return {**report, "summary": metrics, "threshold": float(threshold)}


def train_cli(profile: str, overrides: dict[str, Any], evaluate: bool = False,
              dev_clips: int = 40, negative_minutes: float = 60.0) -> TrainResult:  # fmt: skip
    """``heyjoe train-trigger``: a run record like notebook 03's, then train, (evaluate),
    and copy the record into the model directory."""
    from lib import config, runs

    # settings checked before the run folder exists; the folder is named after the model
    name = config.load_config("trigger", profile, overrides).model_name
    with runs.command_run("03_train_trigger", profile, tag=name):
        run = runs.start_run("03_train_trigger", profile=profile, overrides=overrides)
        ensure_datasets(run.trigger, run.synthesis, profile=profile)
        result = train(run.trigger, run)
        metrics = {"model_dir": str(result.model_dir), **result.card["metrics"]}
        if evaluate:
            from lib.evalsets import ensure_corpus

            raw = run.trigger.raw_dir
            ensure_corpus(profile, Path(raw) if raw else None)  # the dev sets are made from it
            report = evaluate_model(result.model_dir, dev_clips, negative_minutes, raw_dir=raw)
            metrics.update(report["summary"])
        run.log_metrics(metrics)
    copy_run_record(run, result.model_dir)  # with run.json's final status
    return result


# ---------------------------------------------------------------------------- notebook helpers


def list_datasets_rows(cfg: TriggerConfig) -> list[dict[str, Any]]:
    """One row per dataset of the run: role, proportion, examples, split, features."""
    from lib.datasets import open_dataset

    rows = []
    roles = [(n, "train", p) for n, p in cfg.datasets.items()]
    roles += [(cfg.dev_dataset, "dev (per epoch)", None)] if cfg.dev_dataset else []
    for name, role, share in roles:
        ds = cfg.fresh_source() if name == FRESH else open_dataset(name)
        rows.append({
            "dataset": name, "role": role, "proportion": share, "examples": len(ds),
            "split": ds.manifest.get("split"), "features": ds.feature_config.kind,
            "feature_shape": list(ds.feature_shape), "path": str(ds.path),
        })  # fmt: skip
    return rows


def voice_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per voice of the dev and test sets, from :func:`evaluate_model`'s summary:
    triggers, missed, and the false-reject rate with its 95 % interval, at the threshold."""
    from lib.evaluate import voice_rows as rows

    return rows(summary.get("dev_frr_by_voice"), "dev") + rows(
        summary.get("test_frr_by_voice"), "test"
    )


def false_accept_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per dev false accept at the threshold, from :func:`evaluate_model`'s summary:
    score, file, time and what was said there (text, voice)."""
    return [
        {
            "score": r["score"],
            "said": r["text"],
            "voice": r["voice"] or "",
            "file": r["file"],
            "time": r["time"],
        }  # fmt: skip
        for r in summary.get("dev_false_accepts") or []
    ]


def transfer_text(result: TrainResult) -> str:
    """The transfer-learning report of a fine-tuned run, as text."""
    if not result.transfer_report:
        return "trained from scratch (no parent)"
    return format_transfer_report(result.transfer_report, str(result.card.get("parent")))


def history_rows(history: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The training log as one row per epoch."""
    n = max((len(v) for v in history.values()), default=0)
    return [
        {"epoch": i + 1, **{k: round(v[i], 4) for k, v in sorted(history.items()) if i < len(v)}}
        for i in range(n)
    ]


def compare_with_scratch(
    cfg: TriggerConfig, result: TrainResult, run: Any = None
) -> dict[str, Any] | None:
    """With a parent: train the same settings from scratch and compare the dev curves.

    The scratch model goes to ``data/training/<model_name>_scratch/model`` (not a shipped or
    listed model). Returns the two histories and epochs-to-target, or None without a parent.
    """
    if not cfg.parent or not cfg.compare_scratch:
        return None
    scratch_cfg = dataclasses.replace(  # a working copy for the comparison: replaced freely
        cfg, parent=None, model_name=f"{cfg.model_name}_scratch", overwrite=True
    )
    scratch = train(scratch_cfg, output_dir=work_dir(scratch_cfg.model_name) / "model")
    metric, value = cfg.target_metric, cfg.target_value
    histories = {
        f"fine-tuned from {cfg.parent}": result.history,
        "from scratch": scratch.history,
    }
    summary = {
        "target": f"{metric} {'<=' if 'loss' in metric else '>='} {value:g}",
        "epochs_to_target_finetuned": result.epochs_to_target(metric, value),
        "epochs_to_target_scratch": scratch.epochs_to_target(metric, value),
        f"final_{metric}_finetuned": round(result.history.get(metric, [float("nan")])[-1], 4),
        f"final_{metric}_scratch": round(scratch.history.get(metric, [float("nan")])[-1], 4),
    }
    comparison = {"histories": histories, "summary": summary}
    write_json(result.model_dir / "finetune_vs_scratch.json", comparison)
    cards.update_card(result.model_dir, finetune_vs_scratch=summary)
    return comparison


def dev_example(cfg: TriggerConfig) -> dict[str, Any]:
    """A held-out dev clip with a trigger in it: audio, trigger spans, title."""
    from lib import evalsets
    from lib.audio import load_audio
    from lib.labels import label_path, read_labels

    raw = Path(cfg.raw_dir) if cfg.raw_dir else None
    out, _ = eval_set_dirs(cfg.raw_dir, cfg.eval_dev_clips, cfg.eval_negative_minutes)
    folder = evalsets.make_trigger_devset(cfg.eval_dev_clips, out, raw_dir=raw)
    files = sorted(folder.glob("*.wav"))
    for path in files:
        labels = read_labels(label_path(path))
        if labels:
            break
    audio = load_audio(path, 16000)
    return {
        "audio": audio,
        "spans": [(lab.start, lab.end) for lab in labels],
        "title": f"{path.name}: {len(labels)} trigger(s)",
        "path": path,
    }


def run_metrics(
    result: TrainResult, comparison: dict[str, Any] | None, report: dict[str, Any] | None
) -> dict[str, Any]:
    """The figures notebook 03 records in metrics.json."""
    h = result.history
    out: dict[str, Any] = {
        "model": result.card["name"],
        "model_dir": str(result.model_dir),
        "architecture": result.card["architecture"]["name"],
        "n_parameters": result.card["n_parameters"],
        "model_bytes": result.card.get("model_bytes"),
        "epochs": result.epochs_done,
        "resumed_from_epoch": result.resumed_from,
        "data_time_fraction": data_time_fraction(h),
        "train_examples_per_second": _examples_per_second(result),
        **{f"final_{k}": round(v[-1], 4) for k, v in h.items() if v and not k.endswith("seconds")},
    }
    if comparison:
        out.update(comparison["summary"])
    if report:
        out.update({k: v for k, v in report["summary"].items() if not isinstance(v, dict)})
        out["threshold"] = report["threshold"]
    return out


def _examples_per_second(result: TrainResult) -> float | None:
    steps = result.card.get("steps_per_epoch") or 0
    seconds = result.history.get("step_seconds", [])
    seconds = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch traces the graph
    if not seconds or not sum(seconds):
        return None
    return round(steps * result.card["batch_size"] * len(seconds) / sum(seconds), 1)


#: false accepts per hour at which :func:`architecture_comparison` reads each model's DET curve
COMPARISON_BUDGETS = event_metrics.COMPARISON_BUDGETS


def frr_at_budgets(card: dict[str, Any]) -> dict[str, float | None]:
    """A card's false-reject rate at each of :data:`COMPARISON_BUDGETS` (keys ``"0.5"``, ...),
    read off its DET curve; None for each when it has none."""
    det = card.get("dev_det")
    return {
        str(fa): event_metrics.frr_at_fa_per_hour(det, fa) if det else None
        for fa in COMPARISON_BUDGETS
    }


def seed_spread(model_dirs: list[Path | str], out: Path | str | None = None) -> dict[str, Any]:
    """How far apart evaluated models of one recipe trained with different seeds are: each
    model's false-reject rate at :data:`COMPARISON_BUDGETS` (read off its DET curve) and on the
    test voices, and per figure the mean, min and max over the models. Written to ``out`` as
    JSON when given. A difference between two recipes smaller than this spread is not one."""
    rows = []
    for d in model_dirs:
        card = cards.read_card(d)
        if not card.get("dev_det"):
            raise cards.ModelError(
                f"{Path(d) / cards.CARD}: no DET curve; evaluate the model first (--evaluate)"
            )
        row: dict[str, Any] = {"model": card["name"], "seed": card.get("seed")}
        row.update({f"frr_at_{float(fa):g}": v for fa, v in frr_at_budgets(card).items()})
        row["test_frr"] = card.get("metrics", {}).get("test_frr_at_threshold")
        rows.append(row)
    figures = [k for k in rows[0] if k.startswith("frr_at_") or k == "test_frr"] if rows else []
    summary = {}
    for k in figures:
        values = [r[k] for r in rows if r[k] is not None]
        summary[k] = (
            {"mean": round(float(np.mean(values)), 4), "min": min(values), "max": max(values)}
            if values
            else None
        )
    result = {"created": cards.now(), "models": rows, "summary": summary}
    if out is not None:
        write_json(out, result)
    return result


def architecture_comparison(model_dirs: list[Path | str], out: Path | str | None = None) -> dict:
    """Dev metrics, size and streaming cost of trained models side by side (from their cards,
    plus :func:`lib.trigger.stream.compute_ms_per_second` measured now); written to ``out``
    as JSON when given. The shipped default is the cheapest model within reach of the best."""
    from lib.trigger.stream import compute_ms_per_second

    rows = []
    for d in model_dirs:
        model = cards.load_model(d)
        c, m = model.card, model.card.get("metrics", {})
        rows.append({
            "model": c["name"], "architecture": c["architecture"],
            "n_parameters": c["n_parameters"], "model_bytes": c.get("model_bytes"),
            "parent": c.get("parent"), "epochs": c["epochs"],
            "steps_per_epoch": c.get("steps_per_epoch"), "batch_size": c["batch_size"],
            "examples_seen": (c.get("steps_per_epoch") or 0) * c["batch_size"] * c["epochs"],
            "best_val_pr_auc": m.get("best_val_pr_auc"),
            "dev_frr_at_0.5_fa_per_hour": m.get("dev_frr_at_0.5_fa_per_hour"),
            "dev_frr_at_fa_per_hour": m.get("dev_frr_at_fa_per_hour"),
            "dev_frr_at_budgets": frr_at_budgets(c),
            "dev_threshold": c.get("threshold"),
            "ms_per_audio_second": round(compute_ms_per_second(model), 3),
            "val_pr_auc_by_epoch": [
                round(v, 4)
                for v in read_history(work_dir(c["name"]) / "training_log.csv").get(
                    "val_pr_auc", []
                )
            ],
        })  # fmt: skip
    result = {"created": cards.now(), "measured_on": where_trained(), "models": rows}
    if out is not None:
        write_json(out, result)
    return result
