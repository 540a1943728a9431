"""False-accept mining: windows where a model fires on trigger-free audio become a dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib import cli, datasets, paths
from lib.audio import load_audio, write_wav
from lib.errors import AudioError, ConfigError, DatasetError
from lib.labels import read_labels
from lib.trigger import mining
from tests.test_evaluate import SR, FakeDetector, clip

SHIPPED = paths.PROJ_ROOT / "checkpoints" / "trigger" / "hey_joe"


def _source(tmp_path, name="room.wav", seconds=30.0, bursts=((5.0, 5.3), (20.0, 20.3))):
    d = tmp_path / "negatives"
    d.mkdir(exist_ok=True)
    write_wav(d / name, clip(seconds, list(bursts)), SR)
    return d


def test_each_false_accept_becomes_a_checked_window_holding_it(tmp_path):
    src = _source(tmp_path)
    out = tmp_path / "mined"
    rep = mining.mine_false_accepts(None, [src], out, window_seconds=4.0,
                                    detector=FakeDetector())  # fmt: skip
    assert rep.files == 1 and rep.false_accepts == 2 and rep.threshold == 0.5
    assert rep.false_accepts_per_hour == pytest.approx(2 / (30 / 3600))
    names = sorted(p.name for p in rep.written)
    assert names == ["room_00005.01s.wav", "room_00020.01s.wav"]
    x = load_audio(src / "room.wav", SR)
    for p in rep.written:
        w = load_audio(p, SR)
        assert len(w) == 4 * SR
        assert read_labels(p.with_suffix(".txt")) == []  # checked: no trigger
        # the window is the piece of the source with the event in its last 10-90 %
        t = float(p.stem.split("_")[1].rstrip("s"))
        burst = 5.0 if t < 10 else 20.0
        guess = int(round(burst * SR)) - int(np.flatnonzero(np.abs(w) > 0.1)[0])
        err = {i: np.abs(w - x[i : i + 4 * SR]).max() for i in range(guess - 20, guess + 21)}
        i = min(err, key=err.get)
        assert err[i] < 2e-4  # the exact samples of the source, as 16-bit PCM
        start = i / SR
        assert start + 0.4 - 1e-3 <= t <= start + 3.6 + 1e-3


def test_mining_again_reuses_windows_and_never_overwrites(tmp_path):
    src = _source(tmp_path)
    out = tmp_path / "mined"
    first = mining.mine_false_accepts(None, [src], out, window_seconds=4.0,
                                      detector=FakeDetector())  # fmt: skip
    # a person labelled one window since: it must survive a second run untouched
    labelled = first.written[0].with_suffix(".txt")
    labelled.write_text("1.0\t1.5\they joe\n")
    again = mining.mine_false_accepts(None, [src], out, window_seconds=4.0,
                                      detector=FakeDetector())  # fmt: skip
    assert again.written == [] and len(again.reused) == 2
    assert labelled.read_text() == "1.0\t1.5\they joe\n"


def test_labelled_triggers_in_the_source_are_not_false_accepts(tmp_path):
    src = _source(tmp_path)
    (src / "room.txt").write_text("4.6\t5.0\they joe\n")  # the first burst is a real trigger
    rep = mining.mine_false_accepts(None, [src], tmp_path / "mined", window_seconds=4.0,
                                    detector=FakeDetector())  # fmt: skip
    assert rep.false_accepts == 1
    assert [p.name for p in rep.written] == ["room_00020.01s.wav"]


def test_files_of_one_name_in_different_folders_keep_apart(tmp_path):
    src = _source(tmp_path)
    (src / "b").mkdir()
    write_wav(src / "b" / "room.wav", clip(30.0, [(5.0, 5.3)], amp=0.3), SR)
    rep = mining.mine_false_accepts(None, [src], tmp_path / "mined", window_seconds=4.0,
                                    detector=FakeDetector())  # fmt: skip
    assert sorted(p.name for p in rep.written) == [
        "b__room_00005.01s.wav", "room_00005.01s.wav", "room_00020.01s.wav"]  # fmt: skip


def test_max_per_file_keeps_the_most_confident(tmp_path):
    d = tmp_path / "negatives"
    d.mkdir()
    x = clip(30.0, [(5.0, 5.3), (20.0, 20.3)])
    x[int(5.0 * SR) : int(5.3 * SR)] *= 0.12  # a weaker burst: score about 0.4 x 1.2
    write_wav(d / "room.wav", x, SR)
    rep = mining.mine_false_accepts(None, [d], tmp_path / "mined", window_seconds=4.0,
                                    threshold=0.3, max_per_file=1,
                                    detector=FakeDetector())  # fmt: skip
    assert rep.false_accepts == 2 and [p.name for p in rep.written] == ["room_00020.01s.wav"]


def test_bad_input_is_named(tmp_path):
    src = _source(tmp_path)
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    rep = mining.mine_false_accepts(None, [src], tmp_path / "m", window_seconds=4.0,
                                    detector=FakeDetector())  # fmt: skip
    assert rep.files == 1 and [f for f, _ in rep.skipped] == [str(src / "broken.wav")]
    with pytest.raises(AudioError, match="nowhere.wav"):
        mining.mine_false_accepts(None, [tmp_path / "nowhere.wav"], detector=FakeDetector())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AudioError, match="no audio files"):
        mining.mine_false_accepts(None, [empty], detector=FakeDetector())
    with pytest.raises(ConfigError, match="threshold"):
        mining.mine_false_accepts(None, [src], threshold=1.5, detector=FakeDetector())
    with pytest.raises(ConfigError, match="at least one"):
        mining.mine_false_accepts(None, [], detector=FakeDetector())
    with pytest.raises(AudioError, match="none of the audio could be read"):
        mining.mine_false_accepts(None, [src / "broken.wav"], detector=FakeDetector())
    (src / "room.txt").write_text("not a label line\n")
    with pytest.raises(DatasetError, match="room.txt"):
        mining.mine_false_accepts(None, [src / "room.wav"], detector=FakeDetector())


def test_shipped_model_mines_into_a_dataset_of_negatives(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "neg"
    src.mkdir()
    write_wav(src / "noise.wav", (0.05 * rng.standard_normal(12 * SR)).astype(np.float32), SR)
    out = tmp_path / "mined"
    # threshold 0: the model "fires" at the first step, so there is exactly one event per
    # refractory period that starts above it — a way to get windows from any model
    rep = mining.mine_false_accepts(SHIPPED, [src], out, threshold=0.0, window_seconds=5.0)
    assert rep.false_accepts >= 1 and len(rep.written) == rep.false_accepts
    ds = mining.build_mined_dataset(SHIPPED, out, "mined_test", profile="quick")
    assert len(ds) >= len(rep.written)
    assert all(not ds.labels(i).any() for i in range(len(ds)))
    assert datasets.open_dataset("mined_test").path == ds.path
    with pytest.raises(DatasetError, match="no checked windows"):
        (tmp_path / "none").mkdir()
        mining.build_mined_dataset(SHIPPED, tmp_path / "none", "mined_none", profile="quick")


def test_cli_mine_negatives_json(tmp_path, capsys):
    rng = np.random.default_rng(1)
    src = tmp_path / "neg"
    src.mkdir()
    write_wav(src / "a.wav", (0.05 * rng.standard_normal(12 * SR)).astype(np.float32), SR)
    rc = cli.main(["mine-negatives", str(src), "--model", str(SHIPPED), "--threshold", "0",
                   "--out", str(tmp_path / "m"), "--dataset", "mined_cli", "--profile", "quick",
                   "--json"])  # fmt: skip
    assert rc == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["files"] == 1 and line["written"] >= 1
    assert line["dataset"]["name"] == "mined_cli" and line["dataset"]["examples"] >= 1
    assert cli.main(["mine-negatives"]) == 2  # nothing to mine: a clear ConfigError
    assert "--train-negatives" in capsys.readouterr().err
    assert cli.main(["mine-negatives", "--train-negatives", "-5"]) == 2
    assert "--train-negatives: minutes must be > 0" in capsys.readouterr().err


def test_long_negatives_of_the_training_voices(tmp_path, data_dir, caplog):
    from lib import corpus, evalsets

    raw = tmp_path / "raw"
    recs = []
    for i, (split, text) in enumerate([("train", "hello there"), ("train", "hey joey")]):
        rel = f"{corpus.KIND_DIRS['negative']}/espeak-{i:016x}.wav"
        write_wav(raw / rel, 0.1 * np.random.default_rng(i).standard_normal(int(0.6 * SR))
                  .astype(np.float32), SR)  # fmt: skip
        recs.append(corpus.ClipRecord(rel, "negative", "x", text, "espeak", "en", "", 1.0, None,
                                      split, SR, 0.6))  # fmt: skip
    corpus.write_manifest(recs, raw)
    with caplog.at_level("WARNING", logger="lib.evalsets"):
        train = evalsets.make_long_negatives(0.2, seed=0, file_minutes=0.1, raw_dir=raw,
                                             split="train")  # fmt: skip
    assert train == data_dir / "long_negatives_train" and "negative speech" not in caplog.text
    assert json.loads((train / "manifest.json").read_text())["split"] == "train"
    with caplog.at_level("WARNING", logger="lib.evalsets"):
        dev = evalsets.make_long_negatives(0.2, seed=0, file_minutes=0.1, raw_dir=raw)
    assert dev == data_dir / "eval" / "long_negatives"
    assert "no dev-split negative speech" in caplog.text  # only training voices here
    a, b = (sorted(p.glob("*.wav")) for p in (train, dev))
    assert len(a) == len(b) == 2
    assert not np.array_equal(load_audio(a[0], SR), load_audio(b[0], SR))  # own random streams
    with pytest.raises(DatasetError, match="split"):
        evalsets.make_long_negatives(0.2, raw_dir=raw, split="test")
