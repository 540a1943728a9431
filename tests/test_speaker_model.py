"""The embedder, triplet training (resume, collapse), inference, profiles and the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
from test_speaker_data import SR, make_tree, voice

from lib import paths, speaker
from lib.cli import main
from lib.errors import AudioError, ConfigError, HeyJoeError
from lib.speaker import database, train
from lib.speaker.model import (
    TripletModel,
    architecture,
    build_embedder,
    detect_collapse,
    receptive_field,
)
from lib.speaker.settings import SpeakerConfig

TINY = SpeakerConfig(
    db_name="tiny", model_name="tiny", channels=(4, 8), embedding_dim=16, crop_seconds=0.5,
    batch_triplets=4, epochs=1, steps_per_epoch=3, pretrain="aam", pretrain_epochs=1,
    pretrain_batch=8, refresh_every=2, table_utterances=16, eval_utterances=20,
    dev_fraction=0.3, test_fraction=0.0, window_seconds_embed=0.5,
)  # fmt: skip


def test_architecture_documents_params_and_receptive_field() -> None:
    m = build_embedder(64, (4, 8), 1, 16)
    arch = architecture(m)
    assert arch["params"] == m.count_params() > 0
    # stage 0: 5x5/2 then two 3x3 → 1+4+2*2+2*2 = 13; stage 1: +4*2 +2*4 +2*4 = 37
    assert receptive_field(m)["frames"] == 37
    assert arch["receptive_field"]["seconds"] == pytest.approx(0.37)
    assert any(r["type"] == "Conv2D" and r["stride"] == "2×2" for r in arch["layers"])
    x = np.random.default_rng(0).standard_normal((3, 57, 64)).astype(np.float32)
    e = np.asarray(m(x))
    assert e.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_triplet_train_step_reports_metrics_and_collapse_is_detected() -> None:
    import keras

    m = build_embedder(16, (4,), 1, 8)
    tm = TripletModel(m, margin=0.1)
    tm.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).standard_normal((12, 40, 16)).astype(np.float32)
    logs = tm.train_step(x)
    assert set(logs) == {"loss", "pos_sim", "neg_sim", "active", "spread"}
    assert float(logs["loss"]) >= 0
    assert detect_collapse(0.1, 0.001, 0.1) is not None
    assert "pinned" in detect_collapse(0.1, 0.001, 0.1)
    assert detect_collapse(0.03, 0.6, 0.1) is None
    # the classifier phases have no margin to pin at: only equal embeddings count
    assert "all equal" in detect_collapse(None, 0.001, 0.1)
    assert detect_collapse(None, 0.9, 0.1) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained end to end on toy speakers (module-wide: trained once)."""
    root = tmp_path_factory.mktemp("spk")
    make_tree(root / "db", "folders", {f"s{i}": 4 for i in range(6)}, seconds=1.2)
    cfg = dataclasses.replace(TINY, db_dir=str(root / "db"))
    out = root / "model"
    mp = pytest.MonkeyPatch()
    mp.setenv("HEYJOE_DATA_DIR", str(root / "data"))
    db, cache = train.prepare(cfg)
    result = train.train(cfg, db, cache, out_dir=out)
    yield cfg, db, cache, result, root
    mp.undo()


def test_training_writes_model_card_history_and_logs(trained) -> None:
    cfg, db, cache, result, root = trained
    out = result.model_dir
    for name in ("model.keras", "model_card.json", "history.csv", "train_state/state.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    card = json.loads((out / "model_card.json").read_text())
    assert card["threshold"] is not None and -1 <= card["threshold"] <= 1
    assert card["architecture"]["params"] > 0
    assert card["feature_config"]["n_mels"] == 64
    assert [h["phase"] for h in result.history] == ["aam", "triplet"]
    assert all(h["train_ms"] > 0 and h["data_ms"] >= 0 for h in result.history)
    assert result.history[-1]["dev_eer"] is not None
    assert result.history[-1]["dev_loss"] >= 0  # test_step on dev triplets


def test_training_resumes_from_the_last_epoch(trained) -> None:
    cfg, db, cache, result, root = trained
    more = dataclasses.replace(cfg, epochs=2)
    again = train.train(more, db, cache, out_dir=result.model_dir)
    assert len(again.history) == 3
    assert again.history[:2] == result.history  # the first two epochs were not redone


def test_classifier_loss_instead_of_triplets(trained) -> None:
    cfg, db, cache, result, root = trained
    only = dataclasses.replace(cfg, epochs=0, pretrain_epochs=2)
    out = train.train(only, db, cache, out_dir=root / "aam_only")
    assert [h["phase"] for h in out.history] == ["aam", "aam"]
    assert out.card["training"]["phases"] == {"aam": 2}
    assert out.card["training"]["collapse"] is None
    assert out.card["threshold"] is not None
    with pytest.raises(ConfigError, match="'epochs'.*nothing to train"):
        dataclasses.replace(cfg, epochs=0, pretrain="none")
    with pytest.raises(ConfigError, match="'epochs'.*nothing to train"):
        dataclasses.replace(cfg, epochs=0, pretrain_epochs=0)
    with pytest.raises(ConfigError, match="'epochs' must be >= 0"):
        dataclasses.replace(cfg, epochs=-1)


def test_a_model_of_other_settings_is_not_overwritten_silently(trained, tmp_path) -> None:
    import shutil

    cfg, db, cache, result, root = trained
    folder = tmp_path / "model"
    shutil.copytree(result.model_dir, folder)
    before = (folder / "model.keras").read_bytes()
    other = dataclasses.replace(cfg, margin=0.2)
    with pytest.raises(ConfigError, match=r"already holds model 'model'.*overwrite: true"):
        train.train(other, db, cache, out_dir=folder)
    assert (folder / "model.keras").read_bytes() == before  # nothing touched
    # an unfinished training of other settings (a train_state only) is not thrown away either
    shutil.rmtree(folder / "train_state")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(result.model_dir / "train_state", unfinished / "train_state")
    with pytest.raises(ConfigError, match="unfinished training"):
        train.train(other, db, cache, out_dir=unfinished)
    # the same settings may write the folder again (resume, more epochs); overwrite replaces
    card = json.loads((result.model_dir / "model_card.json").read_text())
    assert card["training_fingerprint"]
    again = train.train(dataclasses.replace(other, overwrite=True), db, cache, out_dir=folder)
    assert again.card["training_fingerprint"] != card["training_fingerprint"]


def test_a_profile_of_other_weights_is_refused_by_the_gate(trained, tmp_path, caplog) -> None:
    from lib.live.assistant import SpeakerGate

    cfg, db, cache, result, root = trained
    model = speaker.load_model(result.model_dir)
    wav = tmp_path / "bob.wav"
    sf.write(wav, voice(np.random.default_rng(3), 150, 1.5), SR)
    path = speaker.enroll("bob", [wav], model=model, overwrite=True)
    profile = json.loads(path.read_text())
    assert profile["model_sha256"] == model.weights_sha256 and len(model.weights_sha256) == 64
    gate = SpeakerGate("bob", model=model)
    assert -1 <= gate(sf.read(wav, dtype="float32")[0], SR) <= 1
    # the model folder retrained since: the profile's embedding is in another space
    retrained = dataclasses.replace(model, weights_sha256="0" * 64)
    with pytest.raises(HeyJoeError, match=r"'bob' was enrolled with other weights.*enroll bob"):
        SpeakerGate("bob", model=retrained)
    # a profile from before weights were recorded: used, with a warning that says what to do
    profile.pop("model_sha256")
    path.write_text(json.dumps(profile))
    SpeakerGate("bob", model=retrained)
    assert "does not record which model weights" in caplog.text
    # ... but not one whose embedding cannot be scored against this model's at all
    path.write_text(json.dumps({**profile, "embedding": profile["embedding"][:-1]}))
    with pytest.raises(HeyJoeError, match="'bob': embedding length does not match"):
        SpeakerGate("bob", model=retrained)
    path.write_text("{not json")
    with pytest.raises(HeyJoeError, match="bob.json: not a speaker profile"):
        speaker.load_profile("bob")


def test_mismatched_cache_is_refused(trained) -> None:
    cfg, db, cache, result, root = trained
    with pytest.raises(ConfigError, match="n_mels"):
        train.train(dataclasses.replace(cfg, n_mels=40), db, cache, out_dir=root / "other")


def test_inference_embeds_verifies_enrolls_and_embeds_folders(trained, tmp_path) -> None:
    cfg, db, cache, result, root = trained
    model = speaker.load_model(result.model_dir)
    rng = np.random.default_rng(0)
    long = np.concatenate([np.zeros(SR), voice(rng, 120, 3.0), np.zeros(SR)])
    e = speaker.embed_audio(model, long, SR)
    assert e.shape == (16,) and np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    e8k = speaker.embed_audio(model, long[::2], SR // 2)  # resampled to the model's rate
    assert speaker.cosine(e, e8k) > 0.5
    with pytest.raises(AudioError, match="speech"):
        speaker.embed_audio(model, np.zeros(SR, np.float32), SR)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, voice(rng, 120, 1.5), SR)
    sf.write(b, voice(rng, 120, 1.5), SR)
    r = speaker.verify(model, a, b)
    assert r["threshold"] == model.threshold and isinstance(r["same"], bool)
    profile = speaker.enroll("alice", [a, b], model=model)
    assert profile.name == "alice.json"
    assert len(speaker.load_profile("alice")["embedding"]) == 16
    with pytest.raises(HeyJoeError, match="exists"):
        speaker.enroll("alice", [a], model=model)
    speaker.enroll("alice", [a], model=model, overwrite=True)
    with pytest.raises(ConfigError):
        speaker.enroll("../evil", [a], model=model)
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "c.wav", voice(rng, 200, 1.0), SR)
    sf.write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    out = tmp_path / "emb.jsonl"
    summary = speaker.embed_folder(model, tmp_path, out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["file"] for x in lines) == ["a.wav", "b.wav", "sub/c.wav"]
    assert len(summary["skipped"]) == 1 and "silent.wav" in summary["skipped"][0]


def test_cli_verify_enroll_embed(trained, tmp_path, capsys) -> None:
    cfg, db, cache, result, root = trained
    rng = np.random.default_rng(1)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, voice(rng, 120, 1.5), SR)
    sf.write(b, voice(rng, 300, 1.5), SR)
    assert main(["verify", str(a), str(b), "--model", str(result.model_dir)]) == 0
    out = capsys.readouterr().out
    assert "score" in out and ("same speaker" in out or "different speakers" in out)
    assert main(["enroll", "bob", str(a), "--model", str(result.model_dir)]) == 0
    assert main(["enroll", "bob", str(a), "--model", str(result.model_dir)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    dest = tmp_path / "e.jsonl"
    assert main(["embed", "--model", str(result.model_dir), "--out", str(dest), str(tmp_path)]) == 0
    assert len(dest.read_text().splitlines()) == 2
    assert main(["verify", str(a), str(b), "--model", "no-such-model"]) == 2


def test_corrupt_model_file_is_named(trained, tmp_path) -> None:
    cfg, db, cache, result, root = trained
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(result.model_dir, broken, ignore=shutil.ignore_patterns("train_state"))
    (broken / "model.keras").write_bytes(b"not a keras file")
    with pytest.raises(HeyJoeError, match="model.keras"):
        speaker.load_model(broken)
    (broken / "model_card.json").unlink()
    with pytest.raises(HeyJoeError, match="model_card.json"):
        speaker.load_model(broken)


def test_database_of_one_speaker_is_refused_before_training(tmp_path) -> None:
    make_tree(tmp_path / "db", "folders", {"only": 4})
    cfg = dataclasses.replace(TINY, db_dir=str(tmp_path / "db"))
    with pytest.raises(HeyJoeError, match="at least 2 speakers"):
        database.load_database(cfg)


@pytest.mark.slow
def test_notebook_04_runs_headless_in_quick_profile() -> None:
    from lib import runs

    run_dir = runs.execute("04_train_speaker", {}, profile="quick", tag="test", progress=False)
    assert runs.missing_run_files(run_dir) == []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dev_eer"] is not None and metrics["params"] > 0
    assert {p.stem for p in (run_dir / "figures").glob("*.png")} >= {"training", "scores"}


def test_speaker_models_are_listed_from_their_cards(capsys, caplog):
    from lib import cli
    from lib.speaker.verify import model_rows

    local = paths.checkpoints_dir() / "speaker"
    (local / "mine").mkdir(parents=True)
    (local / "mine" / "model_card.json").write_text(json.dumps({
        "name": "mine", "created_utc": "2026-11-20T10:00:00+00:00", "parent": "default",
        "threshold": 0.8, "metrics": {"dev_eer": 0.125, "test_eer": 0.05},
        "training": {"train_speakers": 12}}))  # fmt: skip
    (local / "broken").mkdir()
    (local / "broken" / "model_card.json").write_text("{not json")
    with caplog.at_level("WARNING", logger="lib.speaker.verify"):
        rows = {r["name"]: r for r in model_rows()}
    assert "broken" in caplog.text and "broken" not in rows
    assert rows["mine"]["dev_eer"] == 0.125 and rows["mine"]["parent"] == "default"
    assert rows["mine"]["size_mb"] is None and not rows["mine"]["shipped"]
    assert rows["default"]["shipped"] and rows["default"]["dev_eer"] is not None
    assert cli.main(["models", "--speaker"]) == 0
    out = capsys.readouterr().out
    assert "12.50%" in out and "mine" in out and "default" in out
    assert cli.main(["models", "--speaker", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"mine", "default"} <= names and "broken" not in names  # (a demo adds "quick")
    assert cli.main(["models", "--speaker", "--tree"]) == 2


def test_compare_speaker_models_on_a_folder(tmp_path, capsys):
    from lib import cli, evaluate

    tree = make_tree(tmp_path / "db", "folders", {f"spk{k}": 4 for k in range(10)})
    rng = np.random.default_rng(0)

    def by_pitch(p):  # a "model" that hears each toy speaker's pitch
        x = sf.read(p)[0]
        spec = np.abs(np.fft.rfft(x[:16000]))
        return spec[:400] / np.linalg.norm(spec[:400])

    def noise(p):  # one that hears nothing
        return rng.normal(size=400)

    r = evaluate.compare_speaker_models("pitch", "noise", split="train", db_dir=tree,
                                        n_boot=200, embed=(by_pitch, noise))  # fmt: skip
    assert r["a"] == "pitch" and r["b"] == "noise" and r["speakers"] >= 2
    assert r["a_eer"] < r["b_eer"] and r["difference_95"][0] > 0
    assert r["trials"] == r["utterances"] * (r["utterances"] - 1) // 2
    # the command line, one real model against itself: no difference
    assert cli.main(["compare", "default", "default", "--speaker", "--split", "train",
                     "--data", str(tree), "--utterances", "12", "--boot", "100",
                     "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["difference"] == 0 and out["difference_95"] == [0.0, 0.0]
    assert cli.main(["compare", "a", "b", "--speaker", "--data", "x", "y"]) == 2
    assert "one speaker database folder" in capsys.readouterr().err
