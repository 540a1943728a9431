"""Data-parallel training across machines: ``tf.distribute`` multi-worker, from ``TF_CONFIG``.

On SageMaker with several instances, :mod:`lib.sagemaker_entry` sets ``TF_CONFIG`` on every
host; the trigger and speaker trainers call :func:`strategy_from_env` and train with what it
returns. Without ``TF_CONFIG`` (or with one worker) that is TensorFlow's default strategy:
nothing changes, and a GPU is used when TensorFlow sees one.

With several workers, :class:`tf.distribute.MultiWorkerMirroredStrategy`:

- **Program start.** TensorFlow configures collective ops only before its first operation
  runs in the process, so the strategy must exist before any other TensorFlow work. The
  trainers create it first thing, and :func:`lib.runs.start_run` (the setup cell of every
  notebook) already does when ``TF_CONFIG`` names several workers. It is made once per
  process and reused (a second one cannot be made), so one notebook can train several times.
- **Batches.** The configured batch size is the *global* batch: every step, each of the
  ``replicas`` (workers x devices) trains on its share of one batch and the gradients are
  averaged over all of them (each replica's mean loss is divided by their number, the
  optimizer sums), so the settings, resume and model card mean what they mean on one
  machine. The trigger's ``tf.data`` pipeline is sharded by data (:func:`shard_by_data`:
  every worker computes each global batch, the one a single machine would train on, and
  keeps its slice); the speaker's generator pipelines draw each replica's share of random
  triplets from a seed of their own (:func:`replica_batches`).
- **Writes.** Only the chief (worker 0) writes checkpoints, logs and model directories.
  The other workers go through the same code (saving reads synchronised variables, which
  needs every worker) but write into a throw-away folder (:func:`write_dir`), following
  TensorFlow's multi-worker Keras guide. Resuming reads the real folder on every worker
  (on SageMaker: the job's checkpoints, the chief's, restored on each host after a restart);
  :func:`agree` stops with an error instead of hanging if the workers disagree.
- **Statistics.** Batch-norm moving averages are kept per replica by Keras; they are
  averaged across workers before validation and at the end of each epoch
  (:func:`average_across_replicas`), so every worker holds the same model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"
#: cluster jobs MultiWorkerMirroredStrategy trains with (no parameter servers, no evaluator)
JOBS = ("chief", "worker")

_STRATEGIES: dict[str, Any] = {}  # TF_CONFIG cluster+task -> the strategy made for it
_AVERAGERS: dict[tuple[int, ...], Any] = {}  # compiled by average_across_replicas
_KERAS_PATCHED = False


# ---------------------------------------------------------------------------- TF_CONFIG


@dataclass(frozen=True)
class Cluster:
    """The machines of a multi-worker run and this machine's place among them."""

    jobs: dict[str, list[str]] = field(default_factory=dict)  # job -> ["host:port", ...]
    task_type: str = "worker"
    task_index: int = 0

    @property
    def workers(self) -> int:
        """Machines that train (the chief included)."""
        return sum(len(self.jobs.get(job, [])) for job in JOBS)

    @property
    def worker_index(self) -> int:
        """This machine's rank: 0 is the chief (the ``chief`` task, else worker 0)."""
        if self.task_type == "worker" and "chief" in self.jobs:
            return self.task_index + len(self.jobs["chief"])
        return self.task_index

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0


def cluster_from_env(environ: Mapping[str, str] | None = None) -> Cluster | None:
    """The cluster ``TF_CONFIG`` describes; None when it is unset, empty or names no cluster.

    Raises :class:`ConfigError` naming ``TF_CONFIG`` when it is not of the form
    ``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}``
    (a ``chief`` job of one address may come first)."""
    environ = os.environ if environ is None else environ
    text = (environ.get(TF_CONFIG) or "").strip()
    if not text:
        return None

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{TF_CONFIG} {why}; got {text[:300]!r}")

    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(cfg, dict):
        raise bad('must be a JSON object like {"cluster": {...}, "task": {...}}')
    cluster = cfg.get("cluster") or {}
    if not isinstance(cluster, dict):
        raise bad('has a "cluster" that is not an object of job name -> list of "host:port"')
    if not cluster:
        return None
    other = sorted(set(cluster) - set(JOBS))
    if other:
        raise bad(f"names job(s) {other}: multi-worker training uses only {list(JOBS)}")
    seen: set[str] = set()
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise bad(f'has job {job!r} without a list of "host:port" addresses')
        for address in addresses:
            host, _, port = str(address).rpartition(":") if isinstance(address, str) else "::"
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise bad(f'has address {address!r} in job {job!r}, not "host:port"')
            if address in seen:
                raise bad(f"lists address {address!r} twice")
            seen.add(address)
    if len(cluster.get("chief", [])) > 1:
        raise bad("has more than one chief")
    task = cfg.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise bad('needs "task": {"type": JOB, "index": N} saying which machine this is')
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise bad(f"has task type {task_type!r}, which is not a job of its cluster")
    if isinstance(index, bool) or not isinstance(index, int):
        raise bad(f"has task index {index!r}, not an integer")
    if not 0 <= index < len(cluster[task_type]):
        raise bad(f"has task index {index}, but job {task_type!r} has "
                  f"{len(cluster[task_type])} address(es)")  # fmt: skip
    return Cluster({job: list(cluster[job]) for job in cluster}, task_type, index)


# ---------------------------------------------------------------------------- strategy


def strategy_from_env(environ: Mapping[str, str] | None = None) -> Any:
    """The ``tf.distribute.Strategy`` to train with, from ``TF_CONFIG``.

    Several workers: a ``MultiWorkerMirroredStrategy`` (one per process: later calls return
    it). It must be made before TensorFlow runs anything else in the process; if it is too
    late, the error says so. Otherwise: the default strategy (one machine, its GPU if any).
    """
    import tensorflow as tf

    cluster = cluster_from_env(environ)
    if cluster is None or cluster.workers < 2:
        return tf.distribute.get_strategy()
    key = json.dumps([cluster.jobs, cluster.task_type, cluster.task_index], sort_keys=True)
    if key in _STRATEGIES:
        return _STRATEGIES[key]
    if _STRATEGIES:
        raise HeyJoeError(
            f"{TF_CONFIG} changed within one process (a multi-worker setup is made once per "
            "process): start a new process for another cluster"
        )
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.jobs), task_type=cluster.task_type,
        task_id=cluster.task_index, rpc_layer="grpc",
    )  # fmt: skip
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as exc:
        if "program startup" not in str(exc):
            raise
        raise HeyJoeError(
            f"{TF_CONFIG} names {cluster.workers} workers, but TensorFlow already ran "
            "operations in this process, and multi-worker training must be set up before "
            "any: call lib.distribute.strategy_from_env() first (the trainers and "
            "lib.runs.start_run do)"
        ) from exc
    _patch_keras()
    _STRATEGIES[key] = strategy
    log.info("multi-worker training: worker %d of %d (%s), %d replica(s) in sync",
             cluster.worker_index, cluster.workers, "chief" if cluster.is_chief else "not chief",
             strategy.num_replicas_in_sync)  # fmt: skip
    return strategy


def start_if_configured(environ: Mapping[str, str] | None = None) -> None:
    """Make the multi-worker strategy now if ``TF_CONFIG`` names several workers (for setup
    code that runs before anything else, such as a notebook's first cell); else nothing
    (TensorFlow is not even imported)."""
    cluster = cluster_from_env(environ)
    if cluster is not None and cluster.workers > 1:
        strategy_from_env(environ)


def _task(strategy: Any) -> Cluster | None:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return None
    jobs = {job: list(addresses) for job, addresses in resolver.cluster_spec().as_dict().items()}
    return Cluster(jobs, resolver.task_type, int(resolver.task_id or 0))


def num_workers(strategy: Any = None) -> int:
    """Machines training together (1 without a multi-worker strategy)."""
    task = _task(strategy) if strategy is not None else cluster_from_env()
    return max(1, task.workers) if task is not None else 1


def worker_index(strategy: Any = None) -> int:
    """This machine's rank (0: the chief)."""
    task = _task(strategy) if strategy is not None else cluster_from_env()
    return task.worker_index if task is not None else 0


def is_chief(strategy: Any = None, environ: Mapping[str, str] | None = None) -> bool:
    """True on the one machine that writes checkpoints, logs and models: always on a single
    machine; with several, the ``chief`` task, or worker 0 when there is none (TensorFlow's
    rule). Without ``strategy``, from ``TF_CONFIG``."""
    task = _task(strategy) if strategy is not None else cluster_from_env(environ)
    return task is None or task.is_chief


def is_multi_worker(strategy: Any) -> bool:
    return num_workers(strategy) > 1


def is_distributed(strategy: Any) -> bool:
    """True when steps run on more than one replica (the trainers then go through it)."""
    return is_multi_worker(strategy) or int(strategy.num_replicas_in_sync) > 1


def describe(strategy: Any = None) -> dict[str, Any]:
    """How training is spread, for model cards: strategy, workers, this worker's rank,
    replicas in sync (workers x devices)."""
    if strategy is None:
        return {"strategy": "default", "workers": 1, "worker_index": 0, "chief": True,
                "replicas": 1}  # fmt: skip
    import tensorflow as tf

    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # its class is named CollectiveAllReduceStrategy
    return {
        "strategy": "default" if name.startswith("_Default") else name,
        "workers": num_workers(strategy),
        "worker_index": worker_index(strategy),
        "chief": is_chief(strategy),
        "replicas": int(strategy.num_replicas_in_sync),
    }


def write_dir(path: Path | str, strategy: Any = None) -> Path:
    """Where this machine writes what belongs in ``path``: ``path`` itself on the chief; on
    other workers a folder of the same name under the system's temporary folder (never
    synced or uploaded; left for the rest of the worker's notebook to read)."""
    path = Path(path)
    if is_chief(strategy):
        return path
    digest = hashlib.sha1(str(path.absolute()).encode()).hexdigest()[:10]
    root = Path(tempfile.gettempdir()) / f"heyjoe-worker{worker_index(strategy)}"
    return root / digest / path.name


# ---------------------------------------------------------------------------- input


def shard_by_data(dataset: Any, strategy: Any) -> Any:
    """``dataset`` (of global batches) with auto-sharding by data when training multi-worker:
    each global batch is split among the replicas and every worker keeps its own slice
    (generator-style pipelines have no files to shard by). Unchanged otherwise."""
    if not is_multi_worker(strategy):
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def per_replica_batch(global_batch: int, strategy: Any) -> int:
    """Each replica's share of a global batch (rounded up, with a warning, if uneven)."""
    replicas = int(strategy.num_replicas_in_sync)
    share = -(-int(global_batch) // replicas)
    if share * replicas != global_batch:
        log.warning("batch %d does not split evenly over %d replicas: %d each (%d in all)",
                    global_batch, replicas, share, share * replicas)  # fmt: skip
    return share


def replica_batches(
    strategy: Any, make: Callable[[int, int], Any], global_batch: int, seed: int
) -> Any:
    """Batches for a generator-style pipeline ``make(batch_size, seed) -> tf.data.Dataset``.

    On one replica: ``make(global_batch, seed)`` itself. Distributed: each worker's pipeline
    draws batches of the per-replica size from its own seed (derived from ``seed`` and the
    worker's rank), so every replica trains on different examples."""
    if not is_distributed(strategy):
        return make(global_batch, seed)
    import numpy as np

    share = per_replica_batch(global_batch, strategy)

    def per_worker(ctx: Any) -> Any:
        own = seed
        if ctx.num_input_pipelines > 1:
            sequence = np.random.SeedSequence([int(seed), int(ctx.input_pipeline_id)])
            own = int(sequence.generate_state(1)[0])
        return make(share, own)

    return strategy.distribute_datasets_from_function(per_worker)


# ---------------------------------------------------------------------------- steps


def step_function(strategy: Any, step: Callable[[Any], dict[str, Any]]) -> Callable:
    """A compiled training step: ``tf.function(step)`` on one replica; distributed, ``step``
    runs on every replica (the optimizer sums the gradients across them) and each returned
    value is averaged over the replicas."""
    import tensorflow as tf

    if not is_distributed(strategy):
        return tf.function(step)

    def run(batch: Any) -> dict[str, Any]:
        out = strategy.run(step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in out.items()}  # fmt: skip

    return tf.function(run)


def average_across_replicas(strategy: Any, variables: list[Any]) -> None:
    """Replace each float variable (batch-norm moving statistics: every replica updates its
    own copy) by its mean over all replicas. Nothing on one replica. Every worker must call
    it at the same point (it is a collective operation)."""
    if not is_distributed(strategy):
        return
    import tensorflow as tf

    floats = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    if not floats:
        return
    key = (id(strategy), *map(id, floats))
    if key not in _AVERAGERS:  # one compiled function per set of variables (no retracing)

        def replica() -> None:
            ctx = tf.distribute.get_replica_context()
            means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in floats])
            for v, m in zip(floats, means, strict=True):
                v.assign(m)

        while len(_AVERAGERS) >= 8:
            _AVERAGERS.pop(next(iter(_AVERAGERS)))
        # the function holds the variables, so their ids in the key stay theirs
        _AVERAGERS[key] = tf.function(lambda: strategy.run(replica))
    _AVERAGERS[key]()


def agree(strategy: Any, value: int, what: str) -> int:
    """``value`` if every worker has the same, else an error naming each worker's (instead of
    a run that hangs when one worker stops before the others). A collective: every worker
    must call it at the same point; also a barrier. Nothing on one machine."""
    if not is_multi_worker(strategy):
        return value
    import tensorflow as tf

    mine = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant([float(value)], tf.float32)
    )
    every = [int(v) for v in strategy.gather(mine, axis=0).numpy()]
    if len(set(every)) > 1:
        per_replica = max(1, len(every) // num_workers(strategy))
        by_worker = ", ".join(f"worker {i}: {v}" for i, v in enumerate(every[::per_replica]))
        raise HeyJoeError(
            f"the workers disagree on {what} ({by_worker}); every machine must see the same "
            "training folder (on SageMaker: the chief's checkpoints, restored on every host)"
        )
    return value


def sync_callback(strategy: Any) -> Any:
    """A Keras callback averaging the model's batch-norm statistics across replicas before
    each validation and at the end of each epoch (put it first: before any checkpoint)."""
    import keras

    class SyncStatistics(keras.callbacks.Callback):
        def _sync(self) -> None:
            average_across_replicas(strategy, self.model.non_trainable_variables)

        def on_test_begin(self, logs: Any = None) -> None:
            self._sync()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self._sync()

    return SyncStatistics()


# ---------------------------------------------------------------------------- Keras


def _patch_keras() -> None:
    """Work around two bugs of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy``
    (https://github.com/keras-team/keras/issues/20585): its first-batch model build reduces
    an ``(x, y)`` structure in one call (TensorFlow refuses the tuple), and it averages each
    step's scalar metrics over ``axis=0``. Both patches change only multi-worker runs."""
    global _KERAS_PATCHED
    if _KERAS_PATCHED:
        return
    try:
        import tensorflow as tf
        from keras.src import tree
        from keras.src.backend.tensorflow import trainer as tf_trainer

        trainer_cls = tf_trainer.TensorFlowTrainer
        original_build = trainer_cls._maybe_symbolic_build
        original_reduce = tf_trainer.reduce_per_replica
    except (ImportError, AttributeError) as exc:  # another Keras: let it fail visibly in fit
        log.warning("Keras multi-worker workarounds not applied (%s)", exc)
        return

    def first_replica(value: Any, strategy: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not is_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:  # shapes only: the first local replica's batch will do
            data_batch = tree.map_structure(lambda v: first_replica(v, strategy), next(it))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None), values
            )
        return original_reduce(values, strategy, reduction)

    trainer_cls._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _KERAS_PATCHED = True
