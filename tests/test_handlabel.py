"""Datasets from hand labels: scanning, the grouped split, windows, datasets, suggestions,
demo recordings and notebook 02."""

from __future__ import annotations

import json
import shutil
import sys
import types

import numpy as np
import pytest

from lib import config, datasets, handlabel, paths, recordings
from lib.audio import write_wav
from lib.errors import ConfigError, DatasetError
from lib.labels import Label, label_path, read_labels, write_labels
from lib.synth import SynthesisConfig, labels_from_events

SR = 16000


def _wav(path, seconds, seed=0):
    rng = np.random.default_rng(seed)
    x = (0.05 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, x, SR)


@pytest.fixture
def folder(tmp_path):
    """Recordings of three speakers (two by folder, one by name prefix), some labelled."""
    root = tmp_path / "rec"
    a1 = _wav(root / "alice" / "one.wav", 3.0, 1)
    a2 = _wav(root / "alice" / "two.wav", 4.0, 2)
    b1 = _wav(root / "bob_s1_001.wav", 12.0, 3)
    b2 = _wav(root / "bob_s2_002.wav", 2.5, 4)
    c1 = _wav(root / "carol_a.wav", 5.0, 5)
    _wav(root / "dave_x.wav", 2.0, 6)  # left unlabelled
    write_labels(label_path(a1), [Label(0.5, 1.2)])
    write_labels(label_path(a2), [])
    write_labels(label_path(b1), [Label(1.0, 1.6), Label(10.9, 11.5)])
    write_labels(label_path(b2), [Label(0.2, 0.9)])
    write_labels(label_path(c1), [])
    return root


def test_group_rule() -> None:
    g = handlabel.recording_group
    assert g("speakerA/x/take.wav") == "speakerA"
    assert g("speakerA_session1_003.wav") == "speakerA"
    assert g("plain.wav") == "plain"
    assert g("speakerA_session1_003.wav", "folder") == "speakerA_session1_003"
    assert g("speakerA/take_1.wav", "prefix") == "take"
    assert g("speakerA/take_1.wav", "none") == "speakerA/take_1.wav"


def test_scan_lists_states_groups_and_skips_bad_files(folder) -> None:
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    _wav(folder / "eve_bad.wav", 1.0)
    (folder / "eve_bad.txt").write_text("1.0\tnot-a-time\tx\n")
    (folder / ".truth").mkdir()
    _wav(folder / ".truth" / "hidden.wav", 1.0)
    scan = handlabel.scan_recordings(folder)
    rels = {r.rel: r for r in scan.recordings}
    assert set(rels) == {
        "alice/one.wav",
        "alice/two.wav",
        "bob_s1_001.wav",
        "bob_s2_002.wav",
        "carol_a.wav",
        "dave_x.wav",
    }
    assert rels["alice/two.wav"].state == "no_trigger"
    assert rels["dave_x.wav"].state == "unlabelled"
    assert rels["bob_s1_001.wav"].group == "bob" and len(rels["bob_s1_001.wav"].labels) == 2
    assert [p.name for p, _ in scan.unreadable] == ["broken.wav"]
    assert [p.name for p, _ in scan.malformed] == ["eve_bad.wav"]
    assert "line 1" in scan.malformed[0][1]
    counts = scan.counts()
    assert counts["labelled"] == 3 and counts["no_trigger"] == 2 and counts["unlabelled"] == 1
    rows = handlabel.summary_rows(scan)
    assert any("unreadable" in str(r["state"]) for r in rows)
    info = handlabel.summary(scan)
    assert info["spans"] == 4 and info["groups"] == 4


def test_split_keeps_groups_together_and_is_deterministic(folder) -> None:
    scan = handlabel.scan_recordings(folder)
    items = scan.labelled
    a = handlabel.split_recordings(items, (0.6, 0.2, 0.2), seed=0)
    assert a == handlabel.split_recordings(list(reversed(items)), (0.6, 0.2, 0.2), seed=0)
    by_group: dict[str, set[str]] = {}
    for r in items:
        by_group.setdefault(r.group, set()).add(a[r.rel])
    assert all(len(s) == 1 for s in by_group.values())
    assert set(a.values()) == {"train", "dev", "test"}  # three groups: one per split
    # previous assignments win, even against the seed
    flipped = {rel: ("test" if s == "train" else "train") for rel, s in a.items()}
    assert handlabel.split_recordings(items, (0.6, 0.2, 0.2), seed=0, previous=flipped) == flipped


def test_written_split_is_recorded_and_stable_when_recordings_are_added(folder) -> None:
    cfg = config.load_config("hand_label", overrides={"recordings_dir": str(folder)})
    first = handlabel.write_split(handlabel.scan_recordings(folder), cfg)
    assert json.loads((folder / "split.json").read_text()) == first
    assert set(first["recordings"]) == {r.rel for r in handlabel.scan_recordings(folder).labelled}
    # a new speaker arrives: everyone already assigned keeps the split
    new = _wav(folder / "zed_1.wav", 2.0, 9)
    write_labels(label_path(new), [Label(0.1, 0.8)])
    second = handlabel.write_split(handlabel.scan_recordings(folder), cfg)
    for rel, v in first["recordings"].items():
        assert second["recordings"][rel]["split"] == v["split"]
    assert "zed_1.wav" in second["recordings"]


def test_windows_cover_recordings_and_hold_each_span() -> None:
    assert handlabel.windows_for(3.0, [], 10.0) == [0.0]
    starts = handlabel.windows_for(25.0, [Label(9.5, 10.5)], 10.0)
    assert starts == [0.0, 5.0, 10.0, 15.0]  # tiles 0, 10, 15 (ends with the recording) and
    # one centred on the span, which no tile holds whole
    audio = np.ones(int(3.0 * SR), dtype=np.float32)
    (w,) = handlabel.window_examples(audio, SR, [Label(1.0, 2.0)], 10.0)
    assert len(w[1]) == 10 * SR and w[1][int(3.5 * SR)] == 0.0  # zero-padded
    assert w[2] == [("activate", 1.0, 2.0, "")]


def _small_synthesis(**kw) -> SynthesisConfig:
    return SynthesisConfig(example_seconds=4.0, label_steps=100, label_ones=5, **kw)


def test_split_datasets_open_like_synthetic_ones(folder) -> None:
    cfg = config.load_config("hand_label", overrides={"recordings_dir": str(folder)})
    scan = handlabel.scan_recordings(folder)
    split = handlabel.write_split(scan, cfg)
    synth = _small_synthesis()
    built = handlabel.build_split_datasets(scan, split, cfg, synth)
    assert set(built) == {"train", "dev", "test"}
    assert set(datasets.available_datasets()) == {"hand_train", "hand_dev", "hand_test"}
    total = 0
    for s in built:
        opened = datasets.open_dataset(f"hand_{s}")
        assert opened.manifest["kind"] == "hand_labelled" and opened.manifest["split"] == s
        assert opened.feature_shape == (synth.feature_config().frames_for(4 * SR), synth.n_mels)
        for i in range(len(opened)):
            ex = opened.example(i)
            expected = labels_from_events(ex["events"], 100, 4.0, 5)
            np.testing.assert_array_equal(ex["labels"], expected)
            assert ex["audio"].shape == (4 * SR,)
        x, y = opened.gather(range(len(opened)))
        assert np.isfinite(x).all() and y.shape == (len(opened), 100, 1)
        total += opened.manifest["counts"]["activates"]
        groups = set(opened.manifest["sources"]["groups"])
        for other, ds2 in built.items():
            if other != s:
                assert not groups & set(ds2.manifest["sources"]["groups"])
    assert total >= 4  # every span is in some window
    bob = next(ds for ds in built.values() if "bob" in ds.manifest["sources"]["groups"])
    # bob's 12 s recording gives windows at 0, 4, 8 s; its second span (10.9-11.5) is in the last
    rec = [json.loads(line) for line in open(bob.shards[0].path / "events.jsonl")]
    starts = sorted(r["window_start"] for r in rec if r["recording"] == "bob_s1_001.wav")
    assert starts == [0.0, 4.0, 8.0]


def test_dataset_reused_rebuilt_on_label_change_and_synthetic_never_touched(folder) -> None:
    scan = handlabel.scan_recordings(folder)
    items = [r for r in scan.labelled if r.group == "alice"]
    synth = _small_synthesis()
    ds = handlabel.build_hand_dataset("hand_x", items, synth)
    created = ds.manifest["created"]
    again = handlabel.build_hand_dataset("hand_x", items, synth)
    assert again.manifest["sources"]["fingerprint"] == ds.manifest["sources"]["fingerprint"]
    assert again.manifest["created"] == created
    write_labels(label_path(folder / "alice" / "two.wav"), [Label(1.0, 1.5)])
    items = [r for r in handlabel.scan_recordings(folder).labelled if r.group == "alice"]
    changed = handlabel.build_hand_dataset("hand_x", items, synth)
    assert changed.manifest["counts"]["activates"] == ds.manifest["counts"]["activates"] + 1
    fake = paths.datasets_dir() / "synthetic_one"
    fake.mkdir(parents=True)
    (fake / "manifest.json").write_text(json.dumps({"kind": "synthetic"}))
    with pytest.raises(DatasetError, match="not a hand-labelled"):
        handlabel.build_hand_dataset("synthetic_one", items, synth)
    with pytest.raises(DatasetError, match="no checked recordings"):
        handlabel.build_hand_dataset("hand_y", [], synth)


def test_config_profiles_and_checks() -> None:
    full = config.load_config("hand_label")
    quick = config.load_config("hand_label", "quick")
    assert (full.demo_recordings, full.use_demo_truth) == (12, False)
    assert (quick.demo_recordings, quick.use_demo_truth) == (4, True)
    assert full.folder() == paths.recordings_dir()
    with pytest.raises(ConfigError, match="split_fractions"):
        config.load_config("hand_label", overrides={"split_fractions": [0.5, 0.2, 0.2]})
    with pytest.raises(ConfigError, match="dataset_prefix"):
        config.load_config("hand_label", overrides={"dataset_prefix": "a/b"})


def test_detections_from_a_score_track() -> None:
    scores = np.zeros(100, dtype=np.float32)
    scores[20:30] = 0.9
    scores[33:36] = 0.7  # within the refractory time of the first: merged
    scores[80:85] = 0.6
    found = handlabel.detections(scores, 0.05, 0.2, threshold=0.5, span_seconds=0.6)
    assert len(found) == 2
    assert found[0].end == pytest.approx(0.2 + 20 * 0.05) and found[0].score == pytest.approx(0.9)
    assert found[0].start == pytest.approx(found[0].end - 0.6)
    assert found[1].end == pytest.approx(0.2 + 80 * 0.05)


def _fake_trigger(monkeypatch, fire_at_seconds: float):
    module = types.ModuleType("lib.trigger")

    class Model:
        sample_rate, hop_seconds, offset_seconds, threshold, name = SR, 0.01, 0.0, 0.5, "fake"

    def score_audio(model, audio, chunk_seconds=1.0):
        s = np.zeros(len(audio) // 160, dtype=np.float32)
        s[int(fire_at_seconds / 0.01) : int(fire_at_seconds / 0.01) + 5] = 0.8
        return s

    module.load_model = lambda name=None: Model()
    module.score_audio = score_audio
    monkeypatch.setitem(sys.modules, "lib.trigger", module)
    return Model()


def test_suggestions_come_from_a_trigger_model(monkeypatch) -> None:
    model = _fake_trigger(monkeypatch, 2.0)
    assert handlabel.load_suggester() is not None
    audio = np.zeros(5 * SR, dtype=np.float32)
    (s,) = handlabel.suggest_spans(model, audio, SR, span_seconds=0.5)
    assert (s.start, s.end, s.score) == pytest.approx((1.5, 2.0, 0.8))
    assert handlabel.suggest_spans(None, audio, SR) == []


def test_no_trigger_package_means_no_suggestions(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "lib.trigger", None)  # import fails
    assert handlabel.load_suggester() is None


def _have_tts() -> bool:
    return bool(shutil.which("festival") or shutil.which("espeak-ng"))


@pytest.mark.skipif(not _have_tts(), reason="needs festival or espeak-ng")
def test_demo_recordings_are_idempotent_with_hidden_truth(tmp_path) -> None:
    out = tmp_path / "rec"
    made = recordings.make_demo_recordings(out, n=4, seed=0)
    assert [p.name for p in made] == [
        "kal_take01.wav",
        "ked_take02.wav",
        "slt_take03.wav",
        "kal_take04.wav",
    ]
    from lib.audio import read_audio

    for p in made:
        x, sr = read_audio(p)
        assert sr == SR and 5.0 <= len(x) / sr <= 15.5
        assert not label_path(p).exists()  # visible recordings start unlabelled
        truth = read_labels(recordings.truth_path(p))
        assert all(0 <= lab.start < lab.end <= len(x) / sr for lab in truth)
    assert sum(bool(read_labels(recordings.truth_path(p))) for p in made) == 3
    stamp = [p.stat().st_mtime_ns for p in made]
    assert recordings.make_demo_recordings(out, n=4, seed=0) == made
    assert [p.stat().st_mtime_ns for p in made] == stamp
    copied = recordings.copy_truth_labels(out)
    assert len(copied) == 4 and read_labels(copied[0]) == read_labels(
        recordings.truth_path(made[0])
    )
    scan = handlabel.scan_recordings(out)
    assert len(scan.recordings) == 4 and not scan.unreadable  # .truth/ is not a recording


@pytest.mark.slow
def test_notebook_02_runs_headless_in_quick_profile() -> None:
    from lib import runs

    run_dir = runs.execute("02_hand_label", {}, profile="quick", tag="test", progress=False)
    assert runs.missing_run_files(run_dir) == []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["recordings"] == 4 and metrics["spans"] >= 3
    assert sum(metrics["split_counts"].values()) == 4
    assert datasets.open_dataset(metrics["datasets"]["train"]).manifest["kind"] == "hand_labelled"
    assert (run_dir / "figures" / "label_summary.png").is_file()


def test_cli_labels_summary_and_split(folder, capsys) -> None:
    from lib.cli import main

    assert main(["labels", "summary", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "bob_s1_001.wav" in out and '"labelled": 3' in out
    assert main(["labels", "split", str(folder), "-p", "split_seed", "3", "--no-datasets"]) == 0
    assert json.loads((folder / "split.json").read_text())["seed"] == 3
    assert not datasets.available_datasets()
    (folder / "carol_a.txt").write_text("garbage\n")
    assert main(["labels", "summary", str(folder)]) == 1
    assert main(["labels", "split", str(folder), "-p", "split_fractions", "[1, 1, 1]"]) == 2
