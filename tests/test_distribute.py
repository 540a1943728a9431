"""Data-parallel training across processes (``tf.distribute`` multi-worker) and ``TF_CONFIG``.

The end-to-end test starts two processes on 127.0.0.1 the way :mod:`lib.sagemaker_entry`
sets up two SageMaker hosts (worker 0 is the chief), each with its own data, checkpoint,
training, run and temporary folders, and runs this file's ``__main__`` in each: the same
tiny trigger training (interrupted after epoch 1, then resumed from the chief's checkpoint
as a restarted job would be) and a tiny speaker training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lib import distribute
from lib.errors import ConfigError, HeyJoeError

ROOT = Path(__file__).resolve().parents[1]


def _tf_config(index: int, ports: list[int], chief: bool = False) -> str:
    addresses = [f"127.0.0.1:{p}" for p in ports]
    if chief:  # {"chief": [a0], "worker": [a1, ...]}
        cluster = {"chief": addresses[:1], "worker": addresses[1:]}
        task = {"type": "chief", "index": 0}
        if index:
            task = {"type": "worker", "index": index - 1}
    else:  # SageMaker's layout (lib.sagemaker_entry.tf_config)
        cluster, task = {"worker": addresses}, {"type": "worker", "index": index}
    return json.dumps({"cluster": cluster, "task": task})


# ---------------------------------------------------------------------------- TF_CONFIG


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["worker"]', "must be a JSON object"),
        ('{"cluster": ["a:1"]}', "not an object"),
        ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, "task": {"type": "ps", "index": 0}}',
         r"job\(s\) \['ps'\]"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "without a list"),
        ('{"cluster": {"worker": ["a:1", "b"]}, "task": {"type": "worker", "index": 0}}',
         "'b'.*not \"host:port\""),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
         "twice"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'needs "task"'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}',
         "not a job of its cluster"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
         "index 2"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": "0"}}',
         "not an integer"),
    ],
)  # fmt: skip
def test_malformed_tf_config_is_a_config_error_naming_it(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=f"TF_CONFIG.*{fragment}") as info:
        distribute.strategy_from_env({"TF_CONFIG": value})
    assert isinstance(info.value, HeyJoeError)


def test_single_machine_is_the_default_strategy() -> None:
    import tensorflow as tf

    one = _tf_config(0, [12345])
    for environ in ({}, {"TF_CONFIG": ""}, {"TF_CONFIG": "{}"}, {"TF_CONFIG": one}):
        strategy = distribute.strategy_from_env(environ)
        assert strategy is tf.distribute.get_strategy()
        assert distribute.describe(strategy) == {
            "strategy": "default", "workers": 1, "worker_index": 0, "chief": True, "replicas": 1,
        }  # fmt: skip
        assert distribute.is_chief(strategy) and not distribute.is_distributed(strategy)
        assert distribute.write_dir("/x/model", strategy) == Path("/x/model")
    assert distribute.cluster_from_env({"TF_CONFIG": one}).workers == 1
    assert distribute.cluster_from_env({}) is None
    assert distribute.start_if_configured({"TF_CONFIG": one}) is None  # nothing to set up
    with pytest.raises(ConfigError, match="TF_CONFIG"):  # what start_run does with a bad one
        distribute.start_if_configured({"TF_CONFIG": "{"})
    assert distribute.agree(strategy, 3, "anything") == 3  # nothing to agree with


def test_multi_worker_cluster_ranks_and_chief() -> None:
    ports = [2222, 2223, 2224]
    for layout_chief in (False, True):
        ranks = []
        for i in range(3):
            c = distribute.cluster_from_env({"TF_CONFIG": _tf_config(i, ports, layout_chief)})
            assert c.workers == 3
            ranks.append(c.worker_index)
            assert c.is_chief == (i == 0)
            assert distribute.is_chief(environ={"TF_CONFIG": _tf_config(i, ports, layout_chief)}) \
                == (i == 0)  # fmt: skip
        assert ranks == [0, 1, 2]


def test_too_late_for_multi_worker_says_what_to_do(monkeypatch) -> None:
    import tensorflow as tf

    tf.constant(0.0) + 1.0  # TensorFlow has run: collective ops can no longer be configured
    monkeypatch.setenv("TF_CONFIG", _tf_config(1, [1, 2]))
    with pytest.raises(HeyJoeError, match="before any"):
        distribute.strategy_from_env()


# ---------------------------------------------------------------------------- two workers


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


SPEAKER = {
    "db_name": "tiny", "model_name": "tiny_spk", "channels": [4, 8], "embedding_dim": 16,
    "crop_seconds": 0.5, "batch_triplets": 4, "epochs": 1, "steps_per_epoch": 3,
    "pretrain": "aam", "pretrain_epochs": 1, "pretrain_batch": 8, "refresh_every": 2,
    "table_utterances": 16, "eval_utterances": 20, "dev_fraction": 0.3, "test_fraction": 0.0,
    "window_seconds_embed": 0.5,
}  # fmt: skip


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Both workers' reports (trained once for the module)."""
    from test_speaker_data import make_tree

    from lib.trigger.testing import toy_dataset

    root = tmp_path_factory.mktemp("multiworker")
    old = os.environ.get("HEYJOE_DATA_DIR")
    os.environ["HEYJOE_DATA_DIR"] = str(root / "data")
    try:
        toy_dataset("toy_train", 16, seed=0)
        toy_dataset("toy_dev", 8, seed=1)
    finally:
        if old is None:
            os.environ.pop("HEYJOE_DATA_DIR", None)
        else:
            os.environ["HEYJOE_DATA_DIR"] = old
    make_tree(root / "speakers", "folders", {f"s{i}": 4 for i in range(6)}, seconds=1.2)
    ports = _free_ports(2)
    procs = []
    for i in range(2):
        host = root / f"host{i}"
        shutil.copytree(root / "data", host / "data")  # each host has its own copy
        env = {k: v for k, v in os.environ.items() if k != "HEYJOE_RUN_DIR"}
        env.update({
            "TF_CONFIG": _tf_config(i, ports), "TMPDIR": str(host / "tmp"),
            "HEYJOE_DATA_DIR": str(host / "data"), "HEYJOE_CHECKPOINTS_DIR": str(host / "models"),
            "HEYJOE_RUNS_DIR": str(host / "runs"), "HEYJOE_TRAINING_DIR": str(host / "training"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": "1",
        })  # fmt: skip
        for sub in ("tmp", "models", "runs", "training"):
            (host / sub).mkdir(parents=True)
        spec = {"index": i, "speakers": str(root / "speakers"), "report": str(host / "report.json"),
                "chief_training": str(root / "host0" / "training")}  # fmt: skip
        log = open(host / "worker.log", "w")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(
            [sys.executable, __file__, json.dumps(spec)], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        ), log))  # fmt: skip
    deadline = time.monotonic() + 300
    codes = []
    for proc, log in procs:
        try:
            codes.append(proc.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
        log.close()
    logs = [(root / f"host{i}" / "worker.log").read_text()[-4000:] for i in range(2)]
    assert codes == [0, 0], "\n\n".join(f"worker {i}:\n{t}" for i, t in enumerate(logs))
    return root, [json.loads((root / f"host{i}" / "report.json").read_text()) for i in range(2)]


def _weights(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


@pytest.mark.slow  # two processes train end to end (~35 s for the three)
def test_each_worker_gets_its_own_slice_of_every_batch(two_workers) -> None:
    root, (chief, worker) = two_workers
    assert sorted(chief["slices"] + worker["slices"]) == list(range(16))
    assert set(chief["slices"]) == {0, 1, 4, 5, 8, 9, 12, 13}  # global batches of 4, halved


@pytest.mark.slow  # two processes train end to end (~35 s for the three)
def test_trigger_trains_in_step_and_only_the_chief_writes(two_workers) -> None:
    root, (chief, worker) = two_workers
    for r in (chief, worker):
        assert r["trigger"]["interrupted_after"] == 1 and r["trigger"]["resumed_from"] == 1
        assert r["trigger"]["epochs_logged"] == 2
    for a, b in zip(_weights(chief["trigger"]["weights"]), _weights(worker["trigger"]["weights"]),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)  # all-reduced gradients, averaged statistics
    chief_dir = Path(chief["trigger"]["model_dir"])
    worker_dir = Path(worker["trigger"]["model_dir"])
    assert chief_dir == root / "host0" / "models" / "trigger" / "toy_mw"
    assert worker_dir.is_relative_to(root / "host1" / "tmp") and worker_dir.name == "toy_mw"
    for sub in ("models", "training"):  # the worker wrote nothing where the chief writes
        assert list((root / "host1" / sub).iterdir()) == [], sub
    assert (root / "host0" / "training" / "toy_mw" / "state.json").is_file()
    trained_on = json.loads((chief_dir / "model_card.json").read_text())["trained_on"]
    assert trained_on["distributed"] == {
        "strategy": "MultiWorkerMirroredStrategy",
        "workers": 2,
        "worker_index": 0,
        "chief": True,
        "replicas": 2,
    }
    assert trained_on["summary"].endswith(", 2 workers)")
    assert chief["trigger"]["history"] == worker["trigger"]["history"]  # metrics all-reduced


@pytest.mark.slow  # two processes train end to end (~35 s for the three)
def test_speaker_trains_in_step_and_only_the_chief_writes(two_workers) -> None:
    root, (chief, worker) = two_workers
    for a, b in zip(_weights(chief["speaker"]["weights"]), _weights(worker["speaker"]["weights"]),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    chief_dir = Path(chief["speaker"]["model_dir"])
    assert chief_dir == root / "host0" / "models" / "speaker" / "tiny_spk"
    assert Path(worker["speaker"]["model_dir"]).is_relative_to(root / "host1" / "tmp")
    card = json.loads((chief_dir / "model_card.json").read_text())
    assert card["training"]["distributed"]["workers"] == 2
    assert [h["phase"] for h in chief["speaker"]["history"]] == ["aam", "triplet"]
    assert chief["speaker"]["losses"] == worker["speaker"]["losses"]


# ---------------------------------------------------------------------------- worker process


def _worker(spec: dict) -> None:
    """One host of :func:`two_workers`."""
    import logging

    from lib import distribute

    strategy = distribute.strategy_from_env()  # before any other TensorFlow work
    import keras
    import tensorflow as tf

    from lib import config
    from lib.speaker import train as speaker_train
    from lib.speaker.settings import SpeakerConfig
    from lib.trigger import cards
    from lib.trigger import train as tr

    logging.basicConfig(level=logging.INFO)
    report: dict = {}
    ids = tf.data.Dataset.range(16).batch(4)  # 4 global batches of 4 example ids
    mine = strategy.experimental_distribute_dataset(distribute.shard_by_data(ids, strategy))
    report["slices"] = sorted(
        int(i) for b in mine for v in strategy.experimental_local_results(b) for i in v.numpy()
    )

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    cfg = config.load_config("trigger", "quick", {
        "model_name": "toy_mw", "datasets": {"toy_train": 1.0}, "dev_dataset": "toy_dev",
        "architecture": "tiny", "epochs": 2, "batch_size": 4, "steps_per_epoch": 2,
        "verbose": 0, "tensorboard": False,
    })  # fmt: skip
    cfg = dataclasses.replace(cfg, parent=None)
    try:
        tr.train(cfg, callbacks=[Interrupt()])
    except KeyboardInterrupt:
        pass
    own_state = distribute.write_dir(tr.work_dir("toy_mw"), strategy) / "state.json"
    interrupted = json.loads(own_state.read_text())["epochs_done"]
    distribute.agree(strategy, 0, "a barrier: the chief's checkpoint is written")
    if not distribute.is_chief(strategy):  # a restarted job: every host gets the chief's state
        shutil.copytree(Path(spec["chief_training"]) / "toy_mw", tr.work_dir("toy_mw"))
    result = tr.train(cfg)
    weights = Path(os.environ["TMPDIR"]) / "trigger_weights.npz"
    np.savez(weights, *cards.load_model(result.model_dir).keras_model.get_weights())
    if not distribute.is_chief(strategy):  # the copy stood for the restored job folder only
        shutil.rmtree(tr.work_dir("toy_mw"))
    report["trigger"] = {
        "interrupted_after": interrupted, "resumed_from": result.resumed_from,
        "epochs_logged": len(result.history["loss"]), "model_dir": str(result.model_dir),
        "weights": str(weights),
        "history": {k: v for k, v in result.history.items() if not k.endswith("seconds")},
    }  # fmt: skip

    scfg = SpeakerConfig(**{**SPEAKER, "db_dir": spec["speakers"]})
    db, cache = speaker_train.prepare(scfg)
    sresult = speaker_train.train(scfg, db, cache)
    weights = Path(os.environ["TMPDIR"]) / "speaker_weights.npz"
    saved = keras.saving.load_model(sresult.model_dir / "model.keras")
    np.savez(weights, *saved.get_weights())
    report["speaker"] = {
        "model_dir": str(sresult.model_dir), "weights": str(weights),
        "history": sresult.history, "losses": sresult.steps_loss,
    }  # fmt: skip
    Path(spec["report"]).write_text(json.dumps(report))


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
