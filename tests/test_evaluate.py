"""Scoring interface, trigger and speaker evaluation, with a fake detector (energy-based)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lib import cli, evalsets, evaluate, paths
from lib.audio import load_audio, write_wav
from lib.errors import ConfigError, DatasetError
from lib.trigger import train

SR = 16000


class FakeDetector:
    """The StreamingDetector contract: one score per 10 ms hop of received audio, the RMS
    of that hop (x 10, clipped to 1); score i is for the audio up to offset + i * hop with
    offset = hop (the end of hop i). Carries partial hops between chunks."""

    sample_rate = SR
    hop_seconds = 0.01
    offset_seconds = 0.01
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self.buf = np.zeros(0, np.float32)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.buf = np.concatenate([self.buf, np.asarray(chunk, np.float32)])
        n = len(self.buf) // 160
        hops = self.buf[: n * 160].reshape(n, 160)
        self.buf = self.buf[n * 160 :]
        return np.minimum(1.0, 10 * np.sqrt((hops**2).mean(axis=1))).astype(np.float32)


def clip(seconds: float, bursts: list[tuple[float, float]], amp: float = 0.5) -> np.ndarray:
    """Near-silence with 1 kHz bursts of peak ``amp`` over ``bursts`` (start, end) seconds."""
    x = np.full(int(seconds * SR), 1e-3, np.float32)
    t = np.arange(len(x)) / SR
    for a, b in bursts:
        sel = (t >= a) & (t < b)
        x[sel] = amp * np.sin(2 * np.pi * 1000 * t[sel])
    return x


def labelled_folder(root: Path) -> Path:
    d = root / "set"
    d.mkdir()
    write_wav(d / "a.wav", clip(6.0, [(2.0, 2.5)]), SR)  # trigger, detected
    (d / "a.txt").write_text("2.000000\t2.500000\tHey Joe!\n3.0\t3.5\tcough\n")
    # checked, no trigger: a quieter burst (score 0.57) is a false accept at threshold 0.5
    write_wav(d / "b.wav", clip(4.0, [(1.0, 1.3)], amp=0.08), SR)
    (d / "b.txt").write_text("")
    write_wav(d / "c.wav", clip(4.0, []), SR)  # trigger missed (nothing loud)
    (d / "c.txt").write_text("1.0\t1.5\they joe\n")
    write_wav(d / "unlabelled.wav", clip(2.0, [(0.5, 0.8)]), SR)  # no sidecar: skipped
    return d


# ---------------------------------------------------------------------------- score


def test_score_folder_writes_jsonl_with_offsets(tmp_path):
    d = tmp_path / "audio"
    (d / "sub").mkdir(parents=True)
    write_wav(d / "one.wav", clip(3.0, [(1.0, 1.2)]), SR)
    write_wav(d / "sub" / "two.wav", clip(2.5, []), SR)
    out = tmp_path / "scores.jsonl"
    summary = evaluate.score_folder(d, out, detector=FakeDetector(), progress=False)
    assert summary["files"] == 2 and summary["skipped"] == []
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["file"] for r in lines] == ["one.wav", "sub/two.wav"]
    assert set(lines[0]) == {"file", "hop_seconds", "offset_seconds", "scores"}
    assert lines[0]["hop_seconds"] == 0.01 and lines[0]["offset_seconds"] == 0.01
    assert len(lines[0]["scores"]) == 300 and len(lines[1]["scores"]) == 250
    s = np.asarray(lines[0]["scores"])
    first = int(np.flatnonzero(s > 0.5)[0])
    # the burst starts at 1.00 s: the first loud hop ends at offset + i * hop = 1.01 s
    assert lines[0]["offset_seconds"] + first * lines[0]["hop_seconds"] == pytest.approx(1.01)
    assert evaluate.read_scores(out)[0]["scores"].dtype == np.float32


def test_scores_do_not_depend_on_chunking(tmp_path):
    path = tmp_path / "x.wav"
    write_wav(path, clip(5.0, [(1.0, 1.5), (3.3, 3.4)]), SR)
    a = evaluate.score_file(path, FakeDetector(), chunk_seconds=1.0).scores
    b = evaluate.score_file(path, FakeDetector(), chunk_seconds=0.137).scores
    np.testing.assert_array_equal(a, b)


def test_unreadable_audio_is_listed_and_skipped(tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    write_wav(d / "good.wav", clip(1.0, []), SR)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (d / "empty.flac").write_bytes(b"")
    summary = evaluate.score_folder(d, tmp_path / "s.jsonl", detector=FakeDetector(),
                                    progress=False)  # fmt: skip
    assert summary["files"] == 1
    assert sorted(s["file"] for s in summary["skipped"]) == ["broken.wav", "empty.flac"]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 1


# ---------------------------------------------------------------------------- trigger evaluation


def test_evaluate_trigger_on_labelled_folder(tmp_path):
    d = labelled_folder(tmp_path)
    m = evaluate.evaluate_trigger(d, detector=FakeDetector())
    at = m["at_model_threshold"]
    assert at["n_files"] == 3 and at["n_triggers"] == 2
    assert at["missed"] == 1 and at["false_reject_rate"] == 0.5
    assert at["false_accepts"] == 1
    assert at["hours"] == pytest.approx(14.0 / 3600)
    assert at["false_accepts_per_hour"] == pytest.approx(3600 / 14.0)
    assert m["unlabelled"] == ["unlabelled.wav"] and m["ignored_labels"] == 1
    assert m["threshold"] == 0.5 and set(m["frr_at_fa_per_hour"]) == {"0.5", "0.2", "0.1"}
    assert m["frr_at_fa_per_hour"]["0.5"] == 0.5  # high thresholds: no FA, a's trigger kept
    assert any(p["threshold"] == 0.5 for p in m["det"])
    json.dumps(m)  # JSON-serialisable (None for undefined values)
    scored, _ = evaluate.score_labelled([d], detector=FakeDetector())
    errors = evaluate.clip_errors(scored, 0.5)
    assert {e["file"] for e in errors} == {"b.wav", "c.wav"}


def test_malformed_labels_are_reported_with_line_numbers(tmp_path):
    d = labelled_folder(tmp_path)
    (d / "b.txt").write_text("0.5\t1.0\they joe\nbanana\n")
    with pytest.raises(DatasetError, match=r"b\.txt.*line 2"):
        evaluate.evaluate_trigger(d, detector=FakeDetector())


def test_folder_without_labels_is_an_error(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    write_wav(d / "x.wav", clip(1.0, []), SR)
    with pytest.raises(DatasetError, match="label file"):
        evaluate.evaluate_trigger(d, detector=FakeDetector())


def test_cli_score_and_evaluate(tmp_path, monkeypatch, capsys):
    d = labelled_folder(tmp_path)
    monkeypatch.setattr(evaluate, "load_trigger_model", lambda name=None: object())
    monkeypatch.setattr(evaluate, "make_detector", lambda model: FakeDetector())
    monkeypatch.setattr(evaluate, "model_info", lambda model: {"name": "fake", "threshold": 0.5})
    out = tmp_path / "s.jsonl"
    assert cli.main(["score", "--out", str(out), "--no-progress", str(d)]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 4
    assert len(out.read_text().splitlines()) == 4
    mfile = tmp_path / "m.json"
    argv = ["evaluate", "trigger", "--data", str(d), "--out", str(mfile), "--no-progress"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["at_model_threshold"]["n_triggers"] == 2
    assert json.loads(mfile.read_text())["at_model_threshold"]["missed"] == 1
    # an error the user can act on: one line, exit 1
    assert cli.main(["evaluate", "trigger", "--data", str(tmp_path / "nowhere")]) == 1
    assert "not found" in capsys.readouterr().err


def test_choose_model_and_record_choice(tmp_path):
    curve_a = [{"threshold": 0.5, "false_reject_rate": 0.2, "false_accepts_per_hour": 0.4}]
    curve_b = [
        {"threshold": 0.3, "false_reject_rate": 0.05, "false_accepts_per_hour": 1.0},
        {"threshold": 0.7, "false_reject_rate": 0.1, "false_accepts_per_hour": 0.3},
    ]
    results = {
        "a": {"det": curve_a, "threshold": 0.5, "at_model_threshold": {"false_reject_rate": 0.2}},
        "b": {"det": curve_b, "threshold": 0.5, "at_model_threshold": {"false_reject_rate": 0.1}},
    }
    assert evaluate.choose_model(results, 0.5) == ("b", 0.7)
    assert evaluate.choose_model({}, 0.5) is None
    # a tie at the target goes to the lower curve at larger budgets
    never = [{"threshold": 0.9, "false_reject_rate": 1.0, "false_accepts_per_hour": 0.0}]
    tie = {
        "c": {"det": never + [{"threshold": 0.2, "false_reject_rate": 0.5,
                               "false_accepts_per_hour": 8.0}],
              "threshold": 0.5, "at_model_threshold": {"false_reject_rate": 0.1}},
        "d": {"det": never + [{"threshold": 0.2, "false_reject_rate": 0.4,
                               "false_accepts_per_hour": 4.0}],
              "threshold": 0.5, "at_model_threshold": {"false_reject_rate": 0.9}},
    }  # fmt: skip
    assert evaluate.choose_model(tie, 0.5) == ("d", 0.9)

    cards = pytest.importorskip("lib.trigger.cards")
    src = tmp_path / "shipped" / "m1"
    src.mkdir(parents=True)
    card = {f: {} if f in ("features", "architecture", "datasets", "metrics") else None
            for f in cards.REQUIRED_FIELDS}  # fmt: skip
    card.update(name="m1", threshold=0.5)
    cards.write_card(src, card)
    before = (src / cards.CARD).read_text()
    target = evaluate.record_choice(src, 0.7, {"frr_at_0.5_fa_per_hour": 0.1}, copy=True)
    assert target == paths.checkpoints_dir() / "selections" / "trigger" / "m1"
    assert (src / cards.CARD).read_text() == before  # the original card is untouched
    assert cards.read_card(target)["threshold"] == 0.7
    assert cards.read_card(target)["evaluation"] == {"frr_at_0.5_fa_per_hour": 0.1}


SHIPPED = paths.PROJ_ROOT / "checkpoints" / "trigger" / "hey_joe"


@pytest.mark.skipif(not (SHIPPED / "model_card.json").is_file(), reason="no shipped model yet")
def test_shipped_model_scores_through_the_streaming_detector(tmp_path):
    d = labelled_folder(tmp_path)
    m = evaluate.evaluate_trigger(d, model=SHIPPED)
    assert m["model"]["name"] and m["at_model_threshold"]["n_triggers"] == 2
    assert m["ms_per_audio_second"] > 0


# ---------------------------------------------------------------------------- speaker


def test_evaluate_speaker_with_injected_embeddings(tmp_path):
    voices = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.6, 0.0, 0.8]}
    calls: list[str] = []

    def embed(path: Path) -> np.ndarray:
        calls.append(path.name)
        if path.name.startswith("bad"):
            raise OSError(f"{path}: cannot read")
        rng = np.random.default_rng(len(path.name) + ord(path.name[-5]))
        return np.asarray(voices[path.name[0]]) + 0.05 * rng.standard_normal(3)

    trials = tmp_path / "trials.txt"
    trials.write_text(
        "1 a1.wav a2.wav\n1 b1.wav b2.wav\n0 a1.wav b1.wav\n0 a2.wav c1.wav\n"
        "1 c1.wav c2.wav\n0 b2.wav c2.wav\n1 a1.wav bad.wav\n"
    )
    m = evaluate.evaluate_speaker(trials, tmp_path, embed=embed)
    assert m["n_trials"] == 6 and m["n_target"] == 3
    assert m["eer"] == 0.0 and m["min_dcf"] == 0.0
    assert sorted(calls) == sorted({"a1.wav", "a2.wav", "b1.wav", "b2.wav", "c1.wav", "c2.wav",
                                    "bad.wav"})  # fmt: skip
    assert m["skipped"][0]["file"] == "bad.wav"


def test_malformed_trials_are_reported(tmp_path):
    trials = tmp_path / "trials.txt"
    trials.write_text("1 a.wav b.wav\n2 a.wav c.wav\nonly-two fields\n")
    with pytest.raises(DatasetError, match=r"(?s)line 2.*line 3"):
        evaluate.read_trials(trials)


# ---------------------------------------------------------------------------- sets and config


def test_evalsets_from_a_tiny_corpus(tmp_path, caplog):
    from lib import corpus

    raw = tmp_path / "raw"
    recs = []
    for i, (kind, text) in enumerate([("activate", "hey joe"), ("negative", "hey joey"),
                                       ("negative", "hello"), ("background", "")]):  # fmt: skip
        rel = f"{corpus.KIND_DIRS[kind]}/festival-{i:016x}.wav"
        seconds = 10.0 if kind == "background" else 0.6
        rng = np.random.default_rng(i)
        write_wav(raw / rel, 0.1 * rng.standard_normal(int(seconds * SR)).astype(np.float32), SR)
        recs.append(corpus.ClipRecord(rel, kind, "x", text, "festival", "kal", "", 1.0, None,
                                      "dev", SR, seconds))  # fmt: skip
    corpus.write_manifest(recs, raw)
    neg = evalsets.make_long_negatives(0.5, tmp_path / "neg", seed=1, file_minutes=0.2,
                                       raw_dir=raw)  # fmt: skip
    wavs = sorted(neg.glob("*.wav"))
    assert len(wavs) == 3 and evalsets.set_seconds(neg) == pytest.approx(30.0)
    assert all(w.with_suffix(".txt").read_text() == "" for w in wavs)
    mtimes = [w.stat().st_mtime_ns for w in wavs]
    evalsets.make_long_negatives(0.5, neg, seed=1, file_minutes=0.2, raw_dir=raw)
    assert [w.stat().st_mtime_ns for w in wavs] == mtimes  # reused, not remade
    # a smaller request sets files aside (outside the folder) and takes them back later
    evalsets.make_long_negatives(0.2, neg, seed=1, file_minutes=0.2, raw_dir=raw)
    assert len(list(neg.glob("*.wav"))) == 1
    evalsets.make_long_negatives(0.5, neg, seed=1, file_minutes=0.2, raw_dir=raw)
    assert [w.stat().st_mtime_ns for w in wavs] == mtimes
    dev = evalsets.make_trigger_devset(6, tmp_path / "dev", seed=2, clip_seconds=4.0,
                                       trigger_fraction=1.0, raw_dir=raw)  # fmt: skip
    labels = [w.with_suffix(".txt").read_text() for w in sorted(dev.glob("*.wav"))]
    assert len(labels) == 6 and all("hey joe" in t for t in labels)
    # the long negatives give false accepts only; the dev set's triggers are counted
    m = evaluate.evaluate_trigger([dev, neg], detector=FakeDetector())
    assert m["at_model_threshold"]["n_triggers"] >= 6
    assert m["at_model_threshold"]["hours"] == pytest.approx(54.0 / 3600)
    # the manifest says who speaks each trigger; the report counts misses per voice
    voices = evalsets.span_voices(dev)
    assert sorted(voices) == sorted(w.name for w in dev.glob("*.wav"))
    for name, spans in voices.items():
        starts = [float(line.split("\t")[0]) for line in (dev / name).with_suffix(".txt")
                  .read_text().splitlines()]  # fmt: skip
        assert [a for a, _, _ in spans] == starts and {v for *_, v in spans} == {"festival:kal"}
    at = m["at_model_threshold"]
    assert m["frr_by_voice"] == {"festival:kal": {
        "triggers": at["n_triggers"], "missed": at["missed"],
        "false_reject_rate": at["false_reject_rate"],
        "false_reject_rate_95": at["false_reject_rate_95"]}}  # fmt: skip
    evalsets.make_trigger_devset(6, dev, seed=2, clip_seconds=4.0, trigger_fraction=1.0,
                                 raw_dir=raw)  # fmt: skip
    assert evalsets.span_voices(dev) == voices  # reused clips keep their record
    # a corpus clip remade with other content: the sets made from it are made again (the old
    # files kept aside), those that do not read it are reused
    before = {w.name: w.read_bytes() for w in dev.glob("*.wav")}
    neg_mtimes = [w.stat().st_mtime_ns for w in sorted(neg.glob("*.wav"))]
    bg = next(raw / r.path for r in recs if r.kind == "background")
    write_wav(bg, 0.05 * np.random.default_rng(99).standard_normal(int(10.0 * SR))
              .astype(np.float32), SR)  # fmt: skip
    with caplog.at_level("WARNING", logger="lib.evalsets"):
        evalsets.make_trigger_devset(6, dev, seed=2, clip_seconds=4.0, trigger_fraction=1.0,
                                     raw_dir=raw)  # fmt: skip
    assert "made from other corpus clips" in caplog.text
    after = {w.name: w.read_bytes() for w in dev.glob("*.wav")}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    stale = dev.parent / f".{dev.name}-stale"
    assert sorted(w.name for w in stale.glob("*.wav")) == sorted(before)
    assert evalsets.span_voices(dev) == voices  # same plan, same voices
    evalsets.make_long_negatives(0.5, neg, seed=1, file_minutes=0.2, raw_dir=raw)
    assert [w.stat().st_mtime_ns for w in sorted(neg.glob("*.wav"))] == neg_mtimes
    assert evalsets.span_voices(neg) == {}
    assert evaluate.evaluate_trigger(neg, detector=FakeDetector())["frr_by_voice"] is None
    with pytest.raises(DatasetError, match="no test-split trigger clips"):
        evalsets.make_trigger_devset(2, tmp_path / "test", raw_dir=raw, split="test")
    # a test-split voice (a test_engines engine): its own set, on the dev backgrounds
    rel = f"{corpus.KIND_DIRS['activate']}/pico-{9:016x}.wav"
    write_wav(raw / rel, 0.3 * np.ones(int(0.5 * SR), np.float32), SR)
    recs.append(corpus.ClipRecord(rel, "activate", "trigger", "hey joe", "pico", "en-GB", "",
                                  1.0, None, "test", SR, 0.5))  # fmt: skip
    corpus.write_manifest(recs, raw)
    test = evalsets.make_trigger_devset(
        3, tmp_path / "test", seed=2, clip_seconds=4.0, trigger_fraction=1.0, raw_dir=raw,
        split="test",
    )  # fmt: skip
    names = sorted(w.name for w in test.glob("*.wav"))
    assert len(names) == 3 and all(n.startswith("test-") for n in names)
    labels = [w.with_suffix(".txt").read_text() for w in sorted(test.glob("*.wav"))]
    assert all("hey joe" in t for t in labels)
    assert json.loads((test / "manifest.json").read_text())["split"] == "test"
    assert {v for spans in evalsets.span_voices(test).values() for *_, v in spans} == {
        "pico:en-GB"
    }  # fmt: skip
    dev_names = {w.name for w in dev.glob("*.wav")}
    assert dev_names.isdisjoint(names) and len(dev_names) == 6


def test_prepare_eval_sets_builds_the_test_split_set_by_name(monkeypatch, tmp_path):
    from lib import config

    monkeypatch.setenv("HEYJOE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(evalsets, "ensure_corpus", lambda profile: None)
    monkeypatch.setattr(evalsets, "make_trigger_devset", lambda n, out, **kw: (out, kw["split"]))
    monkeypatch.setattr(evalsets, "make_long_negatives", lambda m, out, **kw: out)
    sets = ["trigger_test", "trigger_dev", "long_negatives"]
    cfg = config.load_config("evaluate", "quick", {"eval_sets": sets})
    # a quick run gets folders of its own size: the standard sets are never shrunk
    assert evaluate.prepare_eval_sets(cfg) == [
        (tmp_path / "eval" / "trigger_test_12clips", "test"),
        (tmp_path / "eval" / "trigger_dev_12clips", "dev"),
        tmp_path / "eval" / "long_negatives_2.5min",
    ]
    # the full profile reads the folders training's evaluation (and every model card) reads
    full = config.load_config("evaluate", "full", {"eval_sets": sets})
    dev_out, neg_out = train.eval_set_dirs(None, 40, 60.0)
    assert evaluate.prepare_eval_sets(full) == [
        (tmp_path / "eval" / "trigger_test", "test"),
        (dev_out, "dev"),
        neg_out,
    ]
    assert dev_out == tmp_path / "eval" / "trigger_dev"


def test_evaluate_config_loads_and_checks_ranges():
    from lib import config

    cfg = config.load_config("evaluate", "quick")
    assert cfg.long_negative_minutes < 60 and "long_negatives" in cfg.eval_sets
    assert config.load_config("evaluate", "full").long_negative_minutes >= 60
    with pytest.raises(ConfigError, match="refractory_seconds"):
        config.load_config("evaluate", "quick", {"refractory_seconds": -1.0})


@pytest.mark.slow
def test_notebook_05_runs_headless_in_quick_profile():
    from lib import runs

    run_dir = runs.execute("05_evaluate", {}, profile="quick", progress=False)
    assert runs.missing_run_files(run_dir) == []
    assert "n_models" in json.loads((run_dir / "metrics.json").read_text())


def test_untrained_real_model_through_the_streaming_detector(tmp_path):
    """The real lib.trigger path (load_model → StreamingDetector), with an untrained model."""
    pytest.importorskip("tensorflow")
    tmodel = pytest.importorskip("lib.trigger.model")
    from lib import config
    from lib.features import FeatureConfig
    from lib.trigger import cards

    arch = config.load_config("trigger", "quick").arch()
    fc = FeatureConfig()
    d = paths.checkpoints_dir() / "trigger" / "untrained"
    d.mkdir(parents=True)
    keras_model = tmodel.build_model(arch, fc.n_bins, seed=0)
    keras_model.save(d / cards.MODEL_FILE)
    hop, off = tmodel.output_timing(fc, arch)
    card = {f: {} if f in ("features", "architecture", "datasets", "metrics") else None
            for f in cards.REQUIRED_FIELDS}  # fmt: skip
    card.update(name="untrained", trigger_phrase="hey joe", architecture=arch.to_dict(),
                features=fc.to_dict(), threshold=0.5, model_file=cards.MODEL_FILE,
                n_parameters=tmodel.count_parameters(keras_model),
                output={"hop_seconds": hop, "offset_seconds": off})  # fmt: skip
    cards.write_card(d, card)
    folder = labelled_folder(tmp_path)
    m = evaluate.evaluate_trigger(folder, model="untrained")
    assert m["model"]["name"] == "untrained" and m["model"]["params"] > 0
    assert m["at_model_threshold"]["n_triggers"] == 2 and m["ms_per_audio_second"] > 0
    out = tmp_path / "s.jsonl"
    evaluate.score_folder(folder, out, model=str(d), progress=False)
    rows = evaluate.read_scores(out)
    assert rows[0]["hop_seconds"] == pytest.approx(hop)
    assert rows[0]["offset_seconds"] == pytest.approx(off)
    assert len(rows[0]["scores"]) == pytest.approx(6.0 / hop, abs=3)


@pytest.mark.slow
def test_trigger_quality_benchmark_quick_prints_one_json_line():
    """Ours beside PocketSphinx keyword spotting on the same sets, one JSON line."""
    from tests.benchmarks_run import run_benchmark

    figures = run_benchmark("trigger_quality.py")
    assert figures["benchmark"] == "trigger_quality" and figures["dev_triggers"] >= 1
    assert 0.0 <= figures["ours_frr_at_5_fa_per_hour"] <= 1.0
    assert figures["ours_ms_per_audio_second"] > 0
    assert figures["pocketsphinx_ms_per_audio_second"] > 0  # pocketsphinx is a dependency
    (point,) = figures["pocketsphinx_points"]
    assert 0.0 <= point["false_reject_rate"] <= 1.0 and point["threshold"] == 1e-20
    for budget in ("0.5", "2", "5", "10", "50"):  # the bootstrap interval of the difference
        lo, hi = figures[f"pocketsphinx_minus_ours_at_{budget}_95"]
        assert -1.0 <= lo <= hi <= 1.0
    # the quick sets are made fresh here, so they say who speaks each trigger
    by_voice = figures["ours_frr_by_voice_at_5"]
    assert by_voice["dev"] and {v.split(":")[0] for v in by_voice["dev"]} == {"festival"}
    assert by_voice["test"] and {v.split(":")[0] for v in by_voice["test"]} <= {"mbrola", "pico"}


def test_false_accepts_are_put_down_to_what_was_said(tmp_path):
    neg = tmp_path / "neg"
    neg.mkdir()
    write_wav(neg / "a.wav", clip(20.0, [(3.0, 3.4), (9.0, 9.3), (15.0, 15.2)]), SR)
    (neg / "a.txt").write_text("")
    (neg / "manifest.json").write_text(json.dumps({"said": {"a.wav": [
        [2.5, 3.4, "hey joel", "festival:ked_diphone"],
        [8.0, 8.5, "window", "festival:slt"]]}}))  # fmt: skip
    other = tmp_path / "other"
    other.mkdir()
    write_wav(other / "b.wav", clip(5.0, [(1.0, 1.2)]), SR)
    (other / "b.txt").write_text("")
    report, scored = evaluate.evaluate_trigger_scores([neg, other], detector=FakeDetector())
    said = report["false_accepts_said"]
    assert [(r["file"], r["text"], r["voice"]) for r in sorted(said, key=lambda r: r["time"])
            if r["file"].startswith("neg")] == [
        ("neg/a.wav", "hey joel", "festival:ked_diphone"),  # during the words
        ("neg/a.wav", "window", "festival:slt"),  # within a second after them
        ("neg/a.wav", evaluate.NO_SPEECH, None),  # 6.5 s after anything was said
    ]  # fmt: skip
    assert {(r["file"], r["text"]) for r in said if r["file"].startswith("other")} == {
        ("other/b.wav", evaluate.NOT_RECORDED)
    }
    assert all(r["score"] >= 0.5 for r in said)
    assert said == sorted(said, key=lambda r: -r["score"])
    # a higher threshold: only what scores above it
    assert evaluate.false_accepts_said(scored, [neg, other], 1.01) == []


def test_long_negatives_record_what_they_say(tmp_path, caplog):
    from lib import corpus

    raw = tmp_path / "raw"
    recs = []
    for i, text in enumerate(["hey joey", "hello", "window"]):
        rel = f"{corpus.KIND_DIRS['negative']}/festival-{i:016x}.wav"
        rng = np.random.default_rng(i)
        write_wav(raw / rel, 0.1 * rng.standard_normal(int(0.6 * SR)).astype(np.float32), SR)
        recs.append(corpus.ClipRecord(rel, "negative", "x", text, "festival", f"v{i}", "", 1.0,
                                      None, "dev", SR, 0.6))  # fmt: skip
    corpus.write_manifest(recs, raw)
    neg = evalsets.make_long_negatives(1.0, tmp_path / "neg", seed=3, file_minutes=0.5,
                                       raw_dir=raw)  # fmt: skip
    said = evalsets.negative_speech(neg)
    assert sorted(said) == sorted(w.name for w in neg.glob("*.wav")) and len(said) == 2
    spoken = [s for spans in said.values() for s in spans]
    assert spoken and {(t, v) for *_, t, v in spoken} <= {
        ("hey joey", "festival:v0"),
        ("hello", "festival:v1"),
        ("window", "festival:v2"),
    }
    assert all(0 <= a < b <= 30.0 for a, b, *_ in spoken)
    # where the record says speech is, the file is loud; the record is the truth
    x = load_audio(neg / sorted(said)[0], SR)
    for a, b, *_ in said[sorted(said)[0]]:
        assert np.abs(x[int(a * SR) : int(b * SR)]).max() > 0.01
    # a set made before the record was kept: worked out again from the generator, the same
    manifest = json.loads((neg / "manifest.json").read_text())
    del manifest["said"]
    (neg / "manifest.json").write_text(json.dumps(manifest))
    evalsets.make_long_negatives(1.0, neg, seed=3, file_minutes=0.5, raw_dir=raw)
    assert evalsets.negative_speech(neg) == said
    # ...unless a file is not what the generator makes: then it is not known
    first = sorted(neg.glob("*.wav"))[0]
    write_wav(first, 0.5 * load_audio(first, SR), SR)
    (neg / "manifest.json").write_text(json.dumps(manifest))  # without "said" again
    with caplog.at_level("WARNING", logger="lib.evalsets"):
        evalsets.make_long_negatives(1.0, neg, seed=3, file_minutes=0.5, raw_dir=raw)
    assert "not what the generator makes now" in caplog.text
    assert sorted(evalsets.negative_speech(neg)) == [sorted(said)[1]]


def test_compare_two_models_on_the_same_files(tmp_path, capsys):
    d = labelled_folder(tmp_path)
    r = evaluate.compare_trigger_models("fake A", "fake B", [d], budgets=(1e6,), n_boot=200,
                                        detectors=(FakeDetector(), FakeDetector()))  # fmt: skip
    assert r["triggers"] == 2 and r["frr_at_fa_per_hour"]["1e+06"]["difference"] == 0.0
    assert r["a"] == "fake A" and r["data"] == [str(d)]
    # the same model twice through the command line: no difference anywhere
    assert cli.main(["compare", str(SHIPPED), str(SHIPPED), "--data", str(d), "--boot", "200",
                     "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert set(out["frr_at_fa_per_hour"]) == {"0.5", "2", "5", "10", "50"}
    assert all(v["difference"] == 0 and v["difference_95"] == [0.0, 0.0]
               for v in out["frr_at_fa_per_hour"].values())  # fmt: skip
    assert cli.main(["compare", str(SHIPPED), str(SHIPPED), "--data", str(d)]) == 0
    out = capsys.readouterr().out
    assert "B better in" in out and "hey_joe (A)" in out and "hey_joe (B)" in out
    assert cli.main(["compare", "hey_joe", "hey_joe", "--boot", "5"]) == 2


def test_comparison_rows_mark_differences_beyond_the_noise(tmp_path):
    d = labelled_folder(tmp_path)

    class Deaf(FakeDetector):  # never fires: misses every trigger
        def process(self, chunk):
            return 0.0 * super().process(chunk)

    scored = {name: evaluate.score_labelled([d], None, det)[0]
              for name, det in (("a", FakeDetector()), ("same", FakeDetector()),
                                ("deaf", Deaf()))}  # fmt: skip
    rows = {r["model"]: r for r in evaluate.comparison_rows(scored, "a", n_boot=200)}
    assert set(rows) == {"same", "deaf"} and rows["same"]["against"] == "a"
    assert rows["same"]["Δfrr@50 fa/h"] == "+0 [+0, +0]"
    # a at <= 50 FA/h (threshold above the false accept's 0.57): misses c.wav only (50%);
    # deaf misses both (100%); with two trigger files the bootstrap cannot rule out 0
    assert rows["deaf"]["Δfrr@50 fa/h"].startswith("+50 [")
    with pytest.raises(DatasetError, match="same files"):
        evaluate.compare_scored(scored["a"], scored["a"][:-1])
    # a model of another phrase counts other labels as triggers: not compared
    import dataclasses

    other = [dataclasses.replace(x, spans=[]) for x in scored["a"]]
    with pytest.raises(DatasetError, match="trigger phrases"):
        evaluate.compare_scored(scored["a"], other)
    rows = evaluate.comparison_rows({**scored, "activate": other}, "a", n_boot=50)
    assert {r["model"] for r in rows} == {"same", "deaf"}


def test_records_survive_a_smaller_request_in_between(tmp_path):
    """notebook 05's quick profile asks the shared folders for fewer files: the others are
    set aside and come back later, with their voice and speech records (they were lost)."""
    from lib import corpus

    raw = tmp_path / "raw"
    recs = []
    specs = [("activate", "hey joe", "kal"), ("activate", "hey joe", "ked"),
             ("negative", "hello", "kal"), ("negative", "window", "ked"),
             ("background", "", "x")]  # fmt: skip
    for i, (kind, text, voice) in enumerate(specs):
        rel = f"{corpus.KIND_DIRS[kind]}/festival-{i:016x}.wav"
        seconds = 10.0 if kind == "background" else 0.6
        x = 0.1 * np.random.default_rng(i).standard_normal(int(seconds * SR))
        write_wav(raw / rel, x.astype(np.float32), SR)
        recs.append(corpus.ClipRecord(rel, kind, "x", text, "festival", voice, "", 1.0, None,
                                      "dev", SR, seconds))  # fmt: skip
    corpus.write_manifest(recs, raw)
    kw = {"seed": 2, "clip_seconds": 4.0, "trigger_fraction": 1.0, "raw_dir": raw}
    dev = evalsets.make_trigger_devset(6, tmp_path / "dev", **kw)
    neg = evalsets.make_long_negatives(1.5, tmp_path / "neg", seed=1, file_minutes=0.5,
                                       raw_dir=raw)  # fmt: skip
    voices, said = evalsets.span_voices(dev), evalsets.negative_speech(neg)
    assert len(voices) == 6 and len(said) == 3
    evalsets.make_trigger_devset(2, dev, **kw)  # the smaller request
    evalsets.make_long_negatives(0.5, neg, seed=1, file_minutes=0.5, raw_dir=raw)
    assert len(evalsets.span_voices(dev)) == 2 and len(evalsets.negative_speech(neg)) == 1
    evalsets.make_trigger_devset(6, dev, **kw)  # the full one again: files and records back
    evalsets.make_long_negatives(1.5, neg, seed=1, file_minutes=0.5, raw_dir=raw)
    assert evalsets.span_voices(dev) == voices and evalsets.negative_speech(neg) == said
