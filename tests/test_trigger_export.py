"""Exported trigger models: one .npz file, the same scores, no TensorFlow, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lib import cli, evaluate, paths
from lib.errors import ConfigError
from lib.trigger import ModelError, load_model, score_audio
from lib.trigger.export import export_model, load_exported
from tests.benchmarks_run import run_benchmark
from tests.test_evaluate import labelled_folder

SHIPPED = paths.PROJ_ROOT / "checkpoints" / "trigger" / "hey_joe"


@pytest.fixture(scope="module")
def shipped():
    return load_model(SHIPPED)


@pytest.fixture
def exported(shipped, tmp_path):
    return export_model(shipped, tmp_path / "hey_joe.npz")


def test_exported_model_scores_exactly_as_the_keras_model(shipped, exported, tmp_path):
    m = load_model(exported)
    assert m.name == "hey_joe" and m.keras_model is None
    assert m.threshold == shipped.threshold and m.feature_config == shipped.feature_config
    assert (m.hop_seconds, m.offset_seconds) == (shipped.hop_seconds, shipped.offset_seconds)
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 12)).astype(np.float32)
    np.testing.assert_array_equal(score_audio(m, x, 0.08), score_audio(shipped, x, 0.08))
    # everything that takes a model takes the file: evaluation gives the same report
    d = labelled_folder(tmp_path)
    a = evaluate.evaluate_trigger(d, model=SHIPPED)
    b = evaluate.evaluate_trigger(d, model=exported)
    assert a["at_model_threshold"] == b["at_model_threshold"] and a["det"] == b["det"]
    assert b["model"]["params"] == shipped.card["n_parameters"]
    with pytest.raises(ModelError, match="streaming detector"):
        m.predict_features(np.zeros((100, 40), np.float32))


def test_exported_model_listens_without_tensorflow(exported):
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(paths.PROJ_ROOT)!r})\n"
        "from lib.trigger import StreamingDetector, load_model\n"
        f"det = StreamingDetector(load_model({str(exported)!r}))\n"
        "s = det.process(np.zeros(16000, np.float32))\n"
        "print(len(s), 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.split() == ["25", "False", "False"]


def test_export_never_overwrites_and_bad_files_are_named(shipped, exported, tmp_path):
    with pytest.raises(ConfigError, match="exists"):
        export_model(shipped, exported)
    export_model(shipped, exported, overwrite=True)
    with pytest.raises(ConfigError, match=".npz"):
        export_model(shipped, tmp_path / "model.bin")
    with pytest.raises(ConfigError, match="already an exported model"):
        export_model(load_model(exported), tmp_path / "again.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="bad.npz: not an exported trigger model"):
        load_model(bad)
    with pytest.raises(ModelError, match="no such exported model file"):
        load_model(tmp_path / "missing.npz")
    with np.load(exported) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))

    def write(name, **changes):
        path = tmp_path / name
        np.savez(path, **{**arrays, **changes})
        return path

    with pytest.raises(ModelError, match="format"):
        load_model(write("old.npz", meta=np.array(json.dumps({**meta, "format": "other"}))))
    no_gru = {k: v for k, v in arrays.items() if k != "w_gru1_u"}
    path = tmp_path / "partial.npz"
    np.savez(path, **no_gru)
    with pytest.raises(ModelError, match="missing weights gru1_u"):
        load_model(path)
    with pytest.raises(ModelError, match="conv_w has shape"):
        load_model(write("shape.npz", w_conv_w=arrays["w_conv_w"][:-1]))
    # an object array would need pickle to load: refused, nothing is run
    with zipfile.ZipFile(tmp_path / "pickled.npz", "w") as z:
        with z.open("meta.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="pickled.npz"):
        load_exported(tmp_path / "pickled.npz")


def test_cli_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", str(SHIPPED)]) == 0
    assert (tmp_path / "hey_joe.npz").is_file() and "hey_joe.npz" in capsys.readouterr().out
    assert cli.main(["export", str(SHIPPED)]) == 2  # exists: refused, named
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(SHIPPED), "--out", "x.npz"]) == 0


def test_startup_benchmark_quick_prints_one_json_line():
    figures = run_benchmark("startup.py", timeout=300)
    assert figures["benchmark"] == "startup" and figures["export_imports_tensorflow"] is False
    assert figures["ours_export_seconds"] > 0 and figures["ours_keras_seconds"] > 0
    assert figures["ours_export_rss_mb"] > 0 and figures["ours_keras_rss_mb"] > 0


def test_listening_uses_the_export_kept_in_a_model_folder(tmp_path, caplog):
    import shutil

    from lib.trigger import cards
    from lib.trigger.export import FOLDER_EXPORT, load_for_listening

    folder = cards.local_dir() / "mine"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns(FOLDER_EXPORT))
    cards.update_card(folder, name="mine")
    assert load_for_listening("mine").keras_model is not None  # nothing kept: Keras
    assert cli.main(["export", "mine", "--keep"]) == 0
    m = load_for_listening("mine")
    assert m.keras_model is None and m.name == "mine" and m.threshold == 0.96
    cards.update_card(folder, threshold=0.5)  # a re-evaluation moves the threshold
    assert load_for_listening("mine").threshold == 0.5
    x = (0.1 * np.random.default_rng(1).standard_normal(16000 * 5)).astype(np.float32)
    np.testing.assert_array_equal(score_audio(m, x), score_audio(load_model(folder), x))
    # listening from the folder imports no TensorFlow
    code = (f"import sys; sys.path.insert(0, {str(paths.PROJ_ROOT)!r})\n"
            "from lib.trigger.export import load_for_listening\n"
            f"m = load_for_listening({str(folder)!r})\n"
            "print(type(m).__name__, 'tensorflow' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.split() == ["ExportedModel", "False"]
    # an export of another model file (the folder was trained again): the Keras model
    kept = folder / FOLDER_EXPORT
    with np.load(kept) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    np.savez(kept, **{**arrays, "meta": np.array(json.dumps({**meta, "source_sha1": "0" * 40}))})
    with caplog.at_level("INFO", logger="lib.trigger.export"):
        assert load_for_listening("mine").keras_model is not None
    assert "exported from another model file" in caplog.text
    kept.write_bytes(b"damaged")  # a damaged one: a warning naming it, and the Keras model
    with caplog.at_level("WARNING", logger="lib.trigger.export"):
        assert load_for_listening("mine").keras_model is not None
    assert f"{kept} cannot be used" in caplog.text
    assert cli.main(["export", "mine", "--keep", "--out", "x.npz"]) == 2


def test_the_shipped_model_keeps_an_export_of_its_model_file():
    from lib.trigger.export import FOLDER_EXPORT, _file_sha1, load_exported

    kept = load_exported(SHIPPED / FOLDER_EXPORT)
    assert kept.card["source_sha1"] == _file_sha1(SHIPPED / "model.keras")
    assert kept.card["exported_from"] == "checkpoints/trigger/hey_joe"
