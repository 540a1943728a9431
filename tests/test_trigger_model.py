"""Trigger architectures, transfer learning, model cards, loading and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lib import cli, paths
from lib.errors import ConfigError
from lib.features import FeatureConfig
from lib.trigger import cards, load_model
from lib.trigger.model import (
    PRESETS,
    ArchSpec,
    build_model,
    count_parameters,
    output_steps,
    output_timing,
    transfer_weights,
)


def _card(name: str, arch: ArchSpec, fc: FeatureConfig, **extra) -> dict:
    card = {
        "name": name,
        "created": cards.now(),
        "trigger_phrase": "hey joe",
        "architecture": arch.to_dict(),
        "n_parameters": 1,
        "parent": None,
        "datasets": {"toy": 1.0},
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 0.001,
        "seed": 0,
        "trained_on": {"summary": "test"},
        "metrics": {},
        "features": fc.to_dict(),
        "threshold": 0.5,
        "model_file": cards.MODEL_FILE,
    }
    card.update(extra)
    return card


def _model_dir(root: Path, name: str, arch_name: str = "tiny", fc: FeatureConfig | None = None,
               card_arch: ArchSpec | None = None, card_fc: FeatureConfig | None = None,
               **extra) -> Path:  # fmt: skip
    fc = fc or FeatureConfig()
    arch = ArchSpec.preset(arch_name)
    d = root / name
    d.mkdir(parents=True)
    build_model(arch, fc.n_bins).save(d / cards.MODEL_FILE)
    cards.write_card(d, _card(name, card_arch or arch, card_fc or fc, **extra))
    return d


# ---------------------------------------------------------------------------- architecture


def test_seed_architecture_matches_the_notes_with_dropout_as_a_rate() -> None:
    arch = ArchSpec.preset("seed", dropout=0.2)
    m = build_model(arch, 40)
    conv = m.get_layer("conv")
    assert (conv.filters, conv.kernel_size, conv.strides) == (196, (15,), (4,))
    assert [m.get_layer(f"gru{i}").units for i in (1, 2)] == [128, 128]
    drops = [layer for layer in m.layers if layer.__class__.__name__ == "Dropout"]
    assert len(drops) == 4 and all(d.rate == pytest.approx(0.2) for d in drops)
    assert m.get_layer("out").units == 1
    with pytest.raises(ConfigError, match="rate"):
        ArchSpec.preset("seed", dropout=1.0)
    with pytest.raises(ConfigError, match="unknown architecture"):
        ArchSpec.preset("resnet")
    assert count_parameters(build_model(ArchSpec.preset("small"), 40)) < count_parameters(m) / 3


def test_model_is_causal_and_gives_ceil_frames_over_stride_steps() -> None:
    arch = ArchSpec.preset("tiny", dropout=0.0)
    m = build_model(arch, 40, seed=3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 37, 40)).astype(np.float32)
    y = m.predict(x, verbose=0)[0, :, 0]
    assert len(y) == output_steps(37, 4) == 10
    x2 = x.copy()
    x2[0, 21:] = rng.standard_normal((16, 40))  # change the future from frame 21 on
    y2 = m.predict(x2, verbose=0)[0, :, 0]
    # step i has seen frames up to 4 i: steps 0..5 (frames <= 20) must not change
    np.testing.assert_allclose(y2[:6], y[:6], atol=1e-6)
    assert not np.allclose(y2[6:], y[6:])
    hop, offset = output_timing(FeatureConfig(), arch)
    assert hop == pytest.approx(0.04) and offset == pytest.approx(0.025)


def test_transfer_matches_layers_by_name_and_shape_and_reports() -> None:
    parent = build_model(ArchSpec.preset("small"), 40, seed=1)
    child_arch = ArchSpec("child", conv_filters=64, conv_kernel=15, gru_units=(64, 32))
    child = build_model(child_arch, 40, seed=2)
    report = transfer_weights(child, parent)
    assert set(report["loaded"]) == {"conv", "conv_bn", "gru1", "gru1_bn"}
    assert [s.split()[0] for s in report["skipped"]] == ["out"]  # (32, 1) here, (64, 1) there
    assert set(report["initialised"]) == {"gru2", "gru2_bn"}
    for name in report["loaded"]:
        for a, b in zip(child.get_layer(name).get_weights(), parent.get_layer(name).get_weights(),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b)
    assert list(PRESETS) == ["seed", "small", "tiny"]


# ---------------------------------------------------------------------------- cards


def test_card_round_trip_update_and_missing_fields(tmp_path: Path) -> None:
    card = _card("m", ArchSpec.preset("tiny"), FeatureConfig())
    cards.write_card(tmp_path, card)
    assert cards.read_card(tmp_path) == card
    updated = cards.update_card(tmp_path, threshold=0.7, metrics={"a": 1})
    updated = cards.update_card(tmp_path, metrics={"b": 2})
    assert updated["threshold"] == 0.7 and updated["metrics"] == {"a": 1, "b": 2}
    broken = {k: v for k, v in card.items() if k not in ("parent", "threshold")}
    (tmp_path / cards.CARD).write_text(json.dumps(broken))
    with pytest.raises(cards.ModelError, match=r"model_card\.json.*parent, threshold"):
        cards.read_card(tmp_path)
    (tmp_path / cards.CARD).write_text("{not json")
    with pytest.raises(cards.ModelError, match="cannot read the model card"):
        cards.read_card(tmp_path)
    with pytest.raises(cards.ModelError, match="threshold"):
        cards.write_card(tmp_path, {**card, "threshold": 3})


def test_load_model_and_list_models_with_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    root = paths.checkpoints_dir() / "trigger"
    monkeypatch.setattr(cards, "shipped_dir", lambda: root.parent / "none")
    _model_dir(root, "base", trigger_phrase="activate")
    metrics = {"dev_frr_at_0.5_fa_per_hour": 0.1, "test_frr_at_threshold": 0.25}
    _model_dir(root, "child", parent="base", metrics=metrics)
    rows = {r["name"]: r for r in cards.model_rows()}
    assert rows["child"]["dev_frr"] == 0.1 and rows["child"]["test_frr"] == 0.25
    assert rows["base"]["test_frr"] == "-"
    m = load_model("child")
    assert m.name == "child" and m.arch.name == "tiny" and m.threshold == 0.5
    assert m.feature_config == FeatureConfig() and m.hop_seconds == pytest.approx(0.04)
    assert load_model(root / "base").card["trigger_phrase"] == "activate"
    names = [r["name"] for r in cards.list_models()]
    assert names == ["base", "child"]
    tree = cards.lineage_tree()
    assert tree.index("base") < tree.index("child") and "    └── child" in tree
    with pytest.raises(cards.ModelError, match="no trigger model 'nope'.*base, child"):
        load_model("nope")


def test_models_command_prints_table_tree_and_json(monkeypatch, capsys) -> None:
    root = paths.checkpoints_dir() / "trigger"
    monkeypatch.setattr(cards, "shipped_dir", lambda: root.parent / "none")
    _model_dir(root, "base")
    _model_dir(root, "kid", parent="base", metrics={"dev_frr_at_0.5_fa_per_hour": 0.914})
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["name", "phrase", "arch"] and "kid" in out
    assert " 91% " in out  # rates as percentages
    assert cli.main(["models", "--tree"]) == 0
    assert "└── kid" in capsys.readouterr().out
    assert cli.main(["models", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"base", "kid"}


# ---------------------------------------------------------------------------- bad input


def test_corrupt_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    d = _model_dir(tmp_path, "bad")
    (d / cards.MODEL_FILE).write_bytes(b"this is not a zip file")
    with pytest.raises(cards.ModelError, match=r"bad/model\.keras: not a Keras model file"):
        load_model(d)
    d2 = _model_dir(tmp_path, "trunc")
    blob = (d2 / cards.MODEL_FILE).read_bytes()
    (d2 / cards.MODEL_FILE).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(cards.ModelError, match=r"trunc/model\.keras"):
        load_model(d2)


def test_checkpoint_of_another_architecture_or_feature_setting(tmp_path: Path) -> None:
    d = _model_dir(tmp_path, "arch", arch_name="small", card_arch=ArchSpec.preset("tiny"))
    with pytest.raises(cards.ModelError, match=r"arch/model\.keras.*not the architecture.*conv"):
        load_model(d)
    fc20 = FeatureConfig(n_mels=20)
    d = _model_dir(tmp_path, "feat", card_fc=fc20)
    with pytest.raises(cards.ModelError, match=r"feat/model\.keras.*40 feature bins.*20"):
        load_model(d)
    d = _model_dir(tmp_path, "ok")
    with pytest.raises(cards.ModelError, match=r"n_mels \(model 40, data 20\)"):
        load_model(d, feature_config=fc20)


def test_loading_never_runs_code_from_the_file(tmp_path: Path) -> None:
    import keras

    d = tmp_path / "evil"
    d.mkdir()
    inputs = keras.Input((None, 40))
    outputs = keras.layers.Lambda(lambda x: x * 2.0, name="evil")(inputs)
    keras.Model(inputs, outputs).save(d / cards.MODEL_FILE)
    cards.write_card(d, _card("evil", ArchSpec.preset("tiny"), FeatureConfig()))
    with pytest.raises(cards.ModelError, match=r"evil/model\.keras: cannot load"):
        load_model(d)
