"""Training: data mixing, model-rate labels, checkpoints and resume, model cards, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from lib import config, paths, runs
from lib.errors import ConfigError
from lib.trigger import cards, load_model
from lib.trigger import train as tr
from lib.trigger.testing import toy_dataset
from tests.benchmarks_run import run_benchmark


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny datasets built once per module (2 s examples of chirps over noise)."""
    root = tmp_path_factory.mktemp("toydata")
    old = os.environ.get("HEYJOE_DATA_DIR")
    os.environ["HEYJOE_DATA_DIR"] = str(root)
    try:
        toy_dataset("toy_train", 24, seed=0)
        toy_dataset("toy_more", 8, seed=5)
        toy_dataset("toy_dev", 8, seed=1)
        toy_dataset("toy_mel20", 8, seed=2, n_mels=20)
        toy_dataset("toy_phonetic", 8, seed=3, feature_kind="logmel_phonetic")
    finally:
        if old is None:
            os.environ.pop("HEYJOE_DATA_DIR", None)
        else:
            os.environ["HEYJOE_DATA_DIR"] = old
    return root / "datasets"


@pytest.fixture
def datasets(toy_data: Path) -> Path:
    dest = paths.datasets_dir()
    shutil.copytree(toy_data, dest, dirs_exist_ok=True)
    return dest


def _cfg(**changes) -> tr.TriggerConfig:
    base = {"model_name": "toy", "datasets": {"toy_train": 1.0}, "dev_dataset": "toy_dev",
            "architecture": "tiny", "epochs": 2, "batch_size": 4, "steps_per_epoch": 3,
            "verbose": 0}  # fmt: skip
    merged = {**base, **changes}
    cfg = config.load_config("trigger", "quick", {k: v for k, v in merged.items() if v is not None})
    nones = {k: None for k, v in merged.items() if v is None}  # load_config skips None values
    nones.setdefault("parent", merged.get("parent"))  # the quick profile's parent: not here
    return dataclasses.replace(cfg, **nones)


def test_config_checks_and_profiles() -> None:
    full = config.load_config("trigger", "full")
    quick = config.load_config("trigger", "quick")
    assert quick.epochs <= full.epochs and quick.eval_negative_minutes < full.eval_negative_minutes
    with pytest.raises(ConfigError, match="dropout.*RATE"):
        config.load_config("trigger", "quick", {"dropout": 1.0})
    with pytest.raises(ConfigError, match="proportions must be positive"):
        config.load_config("trigger", "quick", {"datasets": {"a": 0.0}})
    with pytest.raises(ConfigError, match="unknown architecture"):
        config.load_config("trigger", "quick", {"architecture": "huge"})


def test_epoch_plan_mixes_datasets_by_proportion_and_depends_on_seed_and_epoch(datasets) -> None:
    data = tr.TrainingData({"toy_train": 0.75, "toy_more": 0.25}, 0.36)
    plan = data.plan(seed=3, epoch=0, n=400)
    share = np.mean(plan[:, 0] == 1)
    assert 0.18 < share < 0.32
    assert plan[plan[:, 0] == 1, 1].max() < 8 and plan[plan[:, 0] == 0, 1].max() < 24
    np.testing.assert_array_equal(plan, tr.TrainingData({"toy_train": 0.75, "toy_more": 0.25},
                                                        0.36).plan(3, 0, 400))  # fmt: skip
    assert not np.array_equal(plan, data.plan(3, 1, 400))
    assert not np.array_equal(plan, data.plan(4, 0, 400))


def test_labels_are_regenerated_at_the_model_output_rate(datasets) -> None:
    from lib.datasets import open_dataset

    data = tr.TrainingData({"toy_train": 1.0}, 0.36)
    ds = open_dataset("toy_train")
    x, y = data.gather(np.array([[0, 0], [0, 1]]))
    assert x.shape == (2, 198, 40) and y.shape == (2, 50, 1)  # 2 s: ceil(198 / 4) steps
    assert data.label_ones == 9  # 0.36 s at 25 steps per second
    events = [e for e in ds.events(0) if e.kind == "activate"]
    ones = np.flatnonzero(y[0, :, 0])
    assert ones[0] == int(events[0].end_s / 0.04)
    assert len(ones) <= 9 * len(events)


def test_feature_settings_must_match_naming_the_dataset(datasets) -> None:
    with pytest.raises(
        cards.ModelError, match=r"dataset 'toy_mel20'.*n_mels \(model 40, data 20\)"
    ):
        tr.TrainingData({"toy_train": 0.5, "toy_mel20": 0.5}, 0.36)


def test_phonetic_features_train_and_augmentation_leaves_them_alone(datasets) -> None:
    """Level and spectral augmentation change the log-mel bands only: the phonetic features
    are level-normalised posteriors, not energies on a mel axis."""
    from lib.trigger.augment import SpectralAugment

    data = tr.TrainingData({"toy_phonetic": 1.0}, 0.36)
    assert data.bins == 40 + 126 and data.feature_config.kind == "logmel_phonetic"
    plain = next(iter(data.train_dataset(0, 0, 1, 1, 4)))[0].numpy()
    augment = SpectralAugment(eq_db=8.0, warp=0.12, mask_bins=4, probability=1.0)
    changed = next(iter(data.train_dataset(0, 0, 1, 1, 4, gain_augment_db=10.0,
                                           augment=augment)))[0].numpy()  # fmt: skip
    np.testing.assert_array_equal(changed[:, :, 40:], plain[:, :, 40:])
    assert np.abs(changed[:, :, :40] - plain[:, :, :40]).mean() > 0.1
    result = tr.train(_cfg(model_name="toy_ph", datasets={"toy_phonetic": 1.0},
                           dev_dataset=None, epochs=1))  # fmt: skip
    model = load_model("toy_ph")
    assert model.feature_config.kind == "logmel_phonetic" and np.isfinite(result.history["loss"][0])
    with pytest.raises(cards.ModelError, match="kind"):
        tr.TrainingData({"toy_phonetic": 0.5, "toy_train": 0.5}, 0.36)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_train_card_logs_and_interrupted_then_resumed_equals_uninterrupted(datasets) -> None:
    straight = tr.train(_cfg(model_name="straight", epochs=2))
    card = cards.read_card(straight.model_dir)
    for key in ("parent", "datasets", "epochs", "batch_size", "learning_rate", "seed",
                "trained_on", "metrics", "trigger_phrase", "features", "threshold"):  # fmt: skip
        assert key in card
    assert card["datasets"] == {"toy_train": 1.0} and card["epochs"] == 2
    assert card["trained_on"]["hostname"] and card["n_parameters"] > 0
    assert straight.model_dir == paths.checkpoints_dir() / "trigger" / "straight"
    h = straight.history
    assert len(h["loss"]) == 2 and len(h["val_pr_auc"]) == 2
    assert all(len(h[k]) == 2 for k in ("data_seconds", "step_seconds", "epoch_seconds"))
    assert (straight.work_dir / "training_log.csv").is_file()

    with pytest.raises(KeyboardInterrupt):
        tr.train(_cfg(model_name="broken", epochs=2), callbacks=[_Interrupt()])
    state = json.loads((tr.work_dir("broken") / "state.json").read_text())
    assert state["epochs_done"] == 1
    resumed = tr.train(_cfg(model_name="broken", epochs=2))
    assert resumed.resumed_from == 1
    a = load_model("straight").keras_model.get_weights()
    b = load_model("broken").keras_model.get_weights()
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-4)


class _KeepWeights(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.by_epoch: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch.append([np.array(w) for w in self.model.get_weights()])


def test_average_epochs_averages_the_last_epochs_and_survives_a_resume(datasets) -> None:
    with pytest.raises(ConfigError, match="keep_best"):
        _cfg(epochs=3, average_epochs=2, keep_best=True)
    with pytest.raises(ConfigError, match="average_epochs"):
        _cfg(epochs=3, average_epochs=4, keep_best=False)
    seen = _KeepWeights()
    cfg = _cfg(model_name="avg", epochs=3, average_epochs=2, keep_best=False)
    result = tr.train(cfg, callbacks=[seen])
    got = load_model("avg").keras_model.get_weights()
    for i, w in enumerate(got):  # epochs 2 and 3, moving statistics included
        expected = (seen.by_epoch[1][i].astype(np.float64) + seen.by_epoch[2][i]) / 2
        np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-7)
    assert not all(np.allclose(a, b) for a, b in zip(got, seen.by_epoch[2], strict=True))
    assert cards.read_card(result.model_dir)["averaged_epochs"] == [2, 3]

    class _StopAfterSecond(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # epoch 2 is in the sum and in the checkpoint
        tr.train(dataclasses.replace(cfg, model_name="avg_broken"), callbacks=[_StopAfterSecond()])
    resumed = tr.train(dataclasses.replace(cfg, model_name="avg_broken"))
    assert resumed.resumed_from == 2
    for a, b in zip(got, load_model("avg_broken").keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # one epoch more: the span moves to epochs 3 and 4 (the sum of 2 and 3 is not reused)
    more = _KeepWeights()
    tr.train(dataclasses.replace(cfg, epochs=4), callbacks=[more])
    assert len(more.by_epoch) == 1
    for i, w in enumerate(load_model("avg").keras_model.get_weights()):
        expected = (seen.by_epoch[2][i].astype(np.float64) + more.by_epoch[0][i]) / 2
        np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-6)


def _toy_fresh() -> Any:
    from lib.synth import FreshSource
    from lib.trigger.testing import toy_corpus

    cfg = config.load_config("synthesis", "quick").replace(
        example_seconds=2.0, activates_per_example=(1, 2), negatives_per_example=(0, 1),
        reverb_probability=0.0, pitch_probability=0.0, seed=3,
    )  # fmt: skip
    return FreshSource(cfg, corpus=toy_corpus(np.random.default_rng(3), cfg.sample_rate))


def test_fresh_share_is_synthesized_anew_every_epoch_and_trains(datasets, monkeypatch) -> None:
    fresh = _toy_fresh()
    data = tr.TrainingData({"toy_train": 0.5, "fresh": 0.5}, 0.36, fresh=fresh)
    p0, p1 = data.plan(0, 0, 16), data.plan(0, 1, 16)
    new0, new1 = p0[p0[:, 0] == 1, 1], p1[p1[:, 0] == 1, 1]
    assert len(new0) and len(new1) and not set(new0) & set(new1)  # never an example twice
    x, y = data.gather(p0[:6])
    x2, y2 = data.gather(p0[:6])  # a function of (seed, epoch): a resumed run sees the same
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert y.shape == (6, data.steps, 1) and y.max() == 1  # every toy example has an activate
    feats, events = fresh.features_and_events(int(new0[0]))
    assert feats.shape == fresh.feature_shape and any(e.kind == "activate" for e in events)
    with pytest.raises(ConfigError, match="fresh"):
        tr.TrainingData({"fresh": 1.0}, 0.36)

    monkeypatch.setattr(tr.TriggerConfig, "fresh_source", lambda self: _toy_fresh())
    mix = {"toy_train": 0.5, "fresh": 0.5}
    result = tr.train(_cfg(model_name="fresh_mix", datasets=mix))
    card = cards.read_card(result.model_dir)
    assert card["datasets"] == mix and card["dataset_examples"]["fresh"] == fresh.cfg.n_examples
    assert len(result.history["loss"]) == 2
    # interrupted after one epoch and resumed: the same weights as the straight run
    with pytest.raises(KeyboardInterrupt):
        tr.train(_cfg(model_name="fresh_broken", datasets=mix), callbacks=[_Interrupt()])
    assert tr.train(_cfg(model_name="fresh_broken", datasets=mix)).resumed_from == 1
    a = load_model("fresh_mix").keras_model.get_weights()
    b = load_model("fresh_broken").keras_model.get_weights()
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)


def test_fine_tune_reports_transfer_and_parent_features_must_match(datasets) -> None:
    tr.train(_cfg(model_name="base", epochs=1, dev_dataset=None))
    child = tr.train(_cfg(model_name="kid", epochs=1, parent="base", dev_dataset=None))
    assert set(child.transfer_report["loaded"]) >= {"conv", "gru1", "out"}
    card = cards.read_card(child.model_dir)
    assert card["parent"] == "base" and card["transfer"]["loaded"]
    assert "└── kid" in cards.lineage_tree()
    with pytest.raises(cards.ModelError, match=r"dataset 'toy_mel20'.*parent model 'base'"):
        tr.train(_cfg(model_name="x", datasets={"toy_mel20": 1.0}, dev_dataset=None,
                      parent="base"))  # fmt: skip
    # an exported file listens, but training starts from a model folder
    from lib.trigger.export import export_model

    npz = export_model(cards.load_model("base"), cards.local_dir() / "base.npz")
    with pytest.raises(ConfigError, match="exported model file"):
        tr.train(_cfg(model_name="y", epochs=1, parent=str(npz), dev_dataset=None))


def test_default_threshold_loosens_the_budget_only_when_it_misses_nearly_everything():
    def point(th, frr, fa):
        return {"threshold": th, "false_reject_rate": frr, "false_accepts_per_hour": fa}

    usable = [point(0.5, 0.2, 8.0), point(0.9, 0.6, 0.4), point(0.99, 1.0, 0.0)]
    assert tr.choose_threshold(usable, 0.5) == (
        0.9,
        "lowest threshold with <= 0.5 false accepts per hour",
    )
    # 94% missed within 0.5 FA/h: the 5 FA/h point (40% missed) is the default instead
    nearly_deaf = [point(0.5, 0.2, 30.0), point(0.8, 0.4, 4.0), point(0.99, 0.94, 0.3)]
    threshold, rule = tr.choose_threshold(nearly_deaf, 0.5)
    assert threshold == 0.8 and rule.startswith("lowest threshold with <= 5 false accepts")
    assert "90% or more of the triggers are missed" in rule
    assert tr.choose_threshold([], 0.5)[0] is None


def test_architecture_comparison_reads_each_det_curve_at_several_budgets(datasets, tmp_path):
    tr.train(_cfg(model_name="arch_a", epochs=1))
    det = [
        {"threshold": 0.2, "false_reject_rate": 0.1, "false_accepts_per_hour": 30.0},
        {"threshold": 0.6, "false_reject_rate": 0.4, "false_accepts_per_hour": 4.0},
        {"threshold": 0.9, "false_reject_rate": 0.9, "false_accepts_per_hour": 0.0},
    ]
    cards.update_card(paths.checkpoints_dir() / "trigger" / "arch_a", dev_det=det)
    out = tmp_path / "comparison.json"
    result = tr.architecture_comparison(["arch_a"], out)
    (row,) = result["models"]
    assert row["model"] == "arch_a" and row["architecture"]["name"] == "tiny"
    assert row["dev_frr_at_budgets"] == {"0.5": 0.9, "2.0": 0.9, "5.0": 0.4, "10.0": 0.4,
                                         "50.0": 0.1}  # fmt: skip
    assert row["ms_per_audio_second"] > 0 and len(row["val_pr_auc_by_epoch"]) == 1
    assert json.loads(out.read_text())["models"][0]["model"] == "arch_a"


def test_seed_spread_summarises_each_budget_and_needs_a_det_curve(tmp_path) -> None:
    shipped = cards.read_card(cards.shipped_dir() / "hey_joe")  # a complete card to vary
    dirs = []
    for seed, frrs, test in ((0, (0.9, 0.4, 0.1), 0.7), (1, (0.7, 0.6, 0.3), 0.5)):
        d = tmp_path / f"m_s{seed}"
        d.mkdir()
        det = [
            {"threshold": 0.2, "false_reject_rate": frrs[2], "false_accepts_per_hour": 30.0},
            {"threshold": 0.6, "false_reject_rate": frrs[1], "false_accepts_per_hour": 4.0},
            {"threshold": 0.9, "false_reject_rate": frrs[0], "false_accepts_per_hour": 0.0},
        ]
        cards.write_card(d, {**shipped, "name": d.name, "seed": seed, "dev_det": det,
                             "metrics": {"test_frr_at_threshold": test}})  # fmt: skip
        dirs.append(d)
    out = tmp_path / "spread.json"
    spread = tr.seed_spread(dirs, out)
    assert [r["frr_at_0.5"] for r in spread["models"]] == [0.9, 0.7]
    assert spread["summary"]["frr_at_0.5"] == {"mean": 0.8, "min": 0.7, "max": 0.9}
    assert spread["summary"]["frr_at_5"] == {"mean": 0.5, "min": 0.4, "max": 0.6}
    assert spread["summary"]["frr_at_50"] == {"mean": 0.2, "min": 0.1, "max": 0.3}
    assert spread["summary"]["test_frr"] == {"mean": 0.6, "min": 0.5, "max": 0.7}
    assert json.loads(out.read_text())["summary"] == spread["summary"]
    cards.write_card(dirs[1], {**shipped, "name": "m_s1", "seed": 1, "dev_det": []})
    with pytest.raises(cards.ModelError, match="no DET curve"):
        tr.seed_spread(dirs)


def test_train_trigger_seeds_trains_one_model_per_seed_and_reports_the_spread(
    datasets, capsys
) -> None:
    from lib import cli

    args = ["train-trigger", "--profile", "quick", "-p", "model_name", "spread",
            "-p", "datasets", "{toy_train: 1.0}", "-p", "dev_dataset", "toy_dev",
            "-p", "epochs", "1", "-p", "steps_per_epoch", "1", "-p", "batch_size", "2"]  # fmt: skip
    assert cli.main([*args, "--seeds", "0", "1"]) == 2  # without --evaluate
    assert "--evaluate" in capsys.readouterr().err
    assert cli.main([*args, "--seeds", "3", "3", "--evaluate"]) == 2
    assert "each seed once" in capsys.readouterr().err
    more = ["--seeds", "0", "1", "--evaluate", "--dev-clips", "3", "--negative-minutes", "0.3"]
    assert cli.main([*args, *more]) == 0
    out = capsys.readouterr().out
    root = paths.checkpoints_dir() / "trigger"
    assert [cards.read_card(root / f"spread_s{s}")["seed"] for s in (0, 1)] == [0, 1]
    spread = json.loads((root / "spread_seeds.json").read_text())
    assert [r["model"] for r in spread["models"]] == ["spread_s0", "spread_s1"]
    assert set(spread["summary"]) == {f"frr_at_{b:g}" for b in tr.COMPARISON_BUDGETS} | {
        "test_frr"
    }  # fmt: skip
    assert "mean" in out and "spread_s1" in out


def test_train_trigger_command_writes_model_and_run_record(datasets, capsys) -> None:
    from lib import cli

    args = ["train-trigger", "--profile", "quick", "-p", "model_name", "cli_model",
            "-p", "overwrite", "false",
            "-p", "datasets", "{toy_train: 1.0}", "-p", "dev_dataset", "toy_dev",
            "-p", "epochs", "1", "-p", "steps_per_epoch", "1", "-p", "batch_size", "2"]  # fmt: skip
    assert cli.main(args) == 0
    model_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert model_dir == paths.checkpoints_dir() / "trigger" / "cli_model"
    card = cards.read_card(model_dir)
    assert card["parent"] == "activate_base" and card["transfer"]["loaded"]  # quick profile
    for name in ("params.yaml", "environment.json", "metrics.json", "run.log",
                 "training_log.csv", "run.json"):  # fmt: skip
        assert (model_dir / "run" / name).is_file(), name
    record = json.loads((model_dir / "run" / "run.json").read_text())
    assert record["status"] == "succeeded" and record["duration_seconds"] > 0
    (run_dir,) = paths.runs_dir().iterdir()
    assert run_dir.name.endswith("_03_train_trigger_cli_model")  # named after the model
    assert cli.main(["train-trigger", "-p", "dropout", "1.5"]) == 2
    assert "dropout" in capsys.readouterr().err
    assert len(list(paths.runs_dir().iterdir())) == 1  # bad settings: no run folder left
    # the same name with other settings: refused (the model is kept), then --overwrite
    before = (model_dir / "model.keras").read_bytes()
    assert cli.main([*args, "-p", "learning_rate", "0.01"]) == 2
    err = capsys.readouterr().err
    assert str(model_dir) in err and "'cli_model'" in err and "--overwrite" in err
    assert (model_dir / "model.keras").read_bytes() == before
    assert cli.main([*args, "-p", "learning_rate", "0.01", "--overwrite"]) == 0
    assert cards.read_card(model_dir)["learning_rate"] == 0.01
    # the same training run again (or for more epochs) writes its own folder without asking
    assert cli.main([*args, "-p", "learning_rate", "0.01", "-p", "epochs", "2"]) == 0
    assert cards.read_card(model_dir)["epochs"] == 2


@pytest.mark.slow
def test_training_benchmark_quick_prints_one_json_line() -> None:
    figures = run_benchmark("training.py", timeout=300)
    assert figures["benchmark"] == "training" and figures["examples_per_second"] > 0


@pytest.mark.slow
def test_streaming_benchmark_quick_prints_one_json_line() -> None:
    figures = run_benchmark("streaming.py", timeout=300)
    assert figures["ours_ms_per_audio_second"] > 0
    assert "openwakeword" in figures
    # the phonetic front end costs more than log-mel alone, and is measured
    assert (
        figures["small_logmel_phonetic_ms_per_audio_second"]
        > figures["small_logmel_ms_per_audio_second"]
    )


@pytest.mark.slow
def test_notebook_03_runs_headless_in_quick_profile() -> None:
    run_dir = runs.execute("03_train_trigger", {}, profile="quick", tag="test", progress=False)
    assert runs.missing_run_files(run_dir) == []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_parameters"] > 0 and metrics["epochs"] >= 1
    model_dir = Path(metrics["model_dir"])
    assert model_dir.is_relative_to(paths.checkpoints_dir())
    assert (model_dir / "run" / "params.yaml").is_file()
    assert (run_dir / "figures" / "training_curves.png").is_file()
    # evaluated at the dev threshold on the test split's voices too (quick: one of each engine)
    assert metrics["test_voices"] == ["en-US", "mb-us1"] and metrics["test_triggers"] >= 4
    assert 0.0 <= metrics["test_frr_at_threshold"] <= 1.0
    card_metrics = cards.read_card(model_dir)["metrics"]
    assert card_metrics["test_frr_at_threshold_95"] is not None
    # and per voice, on both sets: which voices it misses
    assert set(card_metrics["test_frr_by_voice"]) == {"pico:en-US", "mbrola:mb-us1"}
    dev_voices = card_metrics["dev_frr_by_voice"]
    assert dev_voices and all(v.startswith("festival:") for v in dev_voices)
    assert sum(v["triggers"] for v in dev_voices.values()) == card_metrics["dev_triggers"]


def test_voice_rows_list_each_voice_of_both_sets() -> None:
    one = {"triggers": 4, "missed": 3, "false_reject_rate": 0.75,
           "false_reject_rate_95": [0.3006, 0.9544]}  # fmt: skip
    rows = tr.voice_rows({"dev_frr_by_voice": {"festival:ked": one},
                          "test_frr_by_voice": {"pico:en-GB": {**one, "missed": 0,
                                                "false_reject_rate": 0.0}}})  # fmt: skip
    assert [(r["set"], r["voice"], r["missed"]) for r in rows] == [
        ("dev", "festival:ked", 3), ("test", "pico:en-GB", 0)]  # fmt: skip
    assert rows[0]["frr_95"] == "[0.30, 0.95]"
    assert tr.voice_rows({"dev_frr_by_voice": None}) == []
