"""Tests for lib.datasets: build, open, list, reuse, resume, overwrite, workers, tf.data."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from lib import datasets, paths
from lib.audio import write_wav
from lib.corpus import ClipRecord, write_manifest
from lib.datasets import build_dataset, list_datasets, open_dataset
from lib.errors import DatasetError
from lib.features import compute_features
from lib.synth import Corpus, SynthesisConfig, labels_from_events

SR = 8000


def tone(seconds: float, freq: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))).astype(np.float32)


def noise(seconds: float, sr: int = SR, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.05 * rng.standard_normal(int(seconds * sr))).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_arrays(
        [tone(0.4, 600), tone(0.5, 500)], [tone(0.3, 300)], [noise(3.0), noise(2.5, seed=2)], SR
    )


def small(name: str = "tiny", **changes) -> SynthesisConfig:
    values = dict(
        dataset_name=name,
        n_examples=10,
        shard_size=4,
        example_seconds=2.0,
        sample_rate=SR,
        label_steps=200,
        label_ones=5,
        activates_per_example=(1, 2),
        negatives_per_example=(0, 2),
        seed=3,
        workers=1,
    )
    return SynthesisConfig(**{**values, **changes})


def arrays(ds) -> dict[str, np.ndarray]:
    out = {}
    for name in ("audio", "features", "labels"):
        parts = [np.asarray(s.array(name)) for s in ds.shards if (s.path / f"{name}.npy").exists()]
        if parts:
            out[name] = np.concatenate(parts)
    return out


def same(a, b) -> bool:
    x, y = arrays(a), arrays(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def test_build_writes_shards_and_manifest(corpus):
    ds = build_dataset(small(), corpus=corpus, progress=False)
    root = paths.datasets_dir() / "tiny"
    assert ds.root == root == ds.path and len(ds) == 10 and ds.name == "tiny"
    assert sorted(p.name for p in root.iterdir()) == [
        "manifest.json",
        "shard-00000",
        "shard-00001",
        "shard-00002",
    ]
    assert [s.n for s in ds.shards] == [4, 4, 2]  # shard_size
    shard = root / "shard-00000"
    assert sorted(p.name for p in shard.iterdir()) == [
        "audio.npy",
        "events.jsonl",
        "features.npy",
        "labels.npy",
        "stats.json",
    ]
    audio = np.load(shard / "audio.npy")
    features = np.load(shard / "features.npy")
    labels = np.load(shard / "labels.npy")
    fc = small().feature_config()
    assert audio.dtype == np.int16 and audio.shape == (4, 2 * SR)
    assert features.dtype == np.float16 and features.shape == (4, fc.frames_for(2 * SR), 40)
    assert labels.dtype == np.uint8 and labels.shape == (4, 200)

    m = json.loads((root / "manifest.json").read_text())
    assert m["kind"] == "synthetic" and m["seed"] == 3 and m["name"] == "tiny"
    assert m["parameters"]["n_examples"] == 10 and m["parameters"]["label_steps"] == 200
    assert m["features"] == fc.to_dict() and m["labels"]["label_ones"] == 5
    assert m["counts"]["examples"] == 10 and m["counts"]["seconds"] == 20.0
    assert m["counts"]["activates"] >= 10
    assert m["sources"]["counts"] == {"activate": 2, "negative": 1, "background": 2}
    assert m["heyjoe_version"] and m["created"].endswith("+00:00")
    assert m["bytes_per_example"]["total"] == 2 * 2 * SR + 2 * fc.frames_for(2 * SR) * 40 + 200
    assert [s["examples"] for s in m["shards"]] == [4, 4, 2]
    assert not (root / "build.json").exists()

    for i in (0, 5, 9):
        ex = ds.example(i)
        assert ex["labels"].tolist() == labels_from_events(ex["events"], 200, 2.0, 5).tolist()
        np.testing.assert_allclose(ex["features"], compute_features(ex["audio"], fc), atol=0.05)
    n_activates = sum(e.kind == "activate" for i in range(10) for e in ds.events(i))
    assert n_activates == m["counts"]["activates"]


def test_store_audio_and_store_features_switches(corpus):
    no_audio = build_dataset(small("fo", store_audio=False), corpus=corpus, progress=False)
    assert not (no_audio.root / "shard-00000" / "audio.npy").exists()
    assert no_audio.features(0).shape[1] == 40
    with pytest.raises(DatasetError, match="store_audio"):
        no_audio.audio(0)
    no_features = build_dataset(small("ao", store_features=False), corpus=corpus, progress=False)
    assert not (no_features.root / "shard-00000" / "features.npy").exists()
    assert no_features.features(0).shape == no_audio.features(0).shape  # computed from audio
    assert np.allclose(no_features.features(3), no_audio.features(3), atol=0.05)


def test_same_seed_same_data_different_seed_different(corpus):
    a = build_dataset(small("a"), corpus=corpus, progress=False)
    b = build_dataset(small("b"), corpus=corpus, progress=False)
    c = build_dataset(small("c", seed=4), corpus=corpus, progress=False)
    assert same(a, b)
    assert not np.array_equal(arrays(a)["audio"], arrays(c)["audio"])
    # shards draw from independent streams: no two examples are alike
    audio = arrays(a)["audio"]
    assert len({row.tobytes() for row in audio}) == len(audio)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_give_identical_arrays(corpus, method):
    one = build_dataset(small("w1"), corpus=corpus, progress=False, workers=1)
    two = build_dataset(
        small(f"w2-{method}"), corpus=corpus, progress=False, workers=2, start_method=method
    )
    assert two.manifest["build"]["workers"] == 2
    assert same(one, two)


def test_reuse_when_complete_and_refuse_different_parameters(corpus, monkeypatch):
    build_dataset(small(), corpus=corpus, progress=False)
    created = open_dataset("tiny").manifest["created"]

    def fail(*args, **kwargs):
        raise AssertionError("should not write a shard")

    monkeypatch.setattr(datasets, "write_shard", fail)
    again = build_dataset(small(workers=2), corpus=corpus, progress=False)  # workers: no matter
    assert again.manifest["created"] == created
    # a dataset built before a setting existed (here: engines) is the same as one at its default
    manifest_path = paths.datasets_dir() / "tiny" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["parameters"]["engines"]
    manifest_path.write_text(json.dumps(manifest))
    assert build_dataset(small(), corpus=corpus, progress=False).manifest["created"] == created
    with pytest.raises(DatasetError, match=r"'tiny'.*different parameters: label_ones \(5 -> 6\)"):
        build_dataset(small(label_ones=6), corpus=corpus, progress=False)
    other = Corpus.from_arrays([tone(0.4, 610)], [], [noise(3.0)], SR)
    with pytest.raises(DatasetError, match="source clips"):
        build_dataset(small(), corpus=other, progress=False)
    # overwrite=True whose build fails puts the old dataset back
    with pytest.raises(AssertionError):
        build_dataset(small(seed=9), corpus=corpus, progress=False, overwrite=True)
    assert open_dataset("tiny").manifest["created"] == created
    assert not [p for p in paths.datasets_dir().iterdir() if p.name.startswith(".")]


def test_overwrite_replaces(corpus):
    old = build_dataset(small(), corpus=corpus, progress=False)
    old_audio = arrays(old)["audio"]
    new = build_dataset(small(seed=8), corpus=corpus, progress=False, overwrite=True)
    assert new.manifest["seed"] == 8 and not np.array_equal(arrays(new)["audio"], old_audio)
    assert [p.name for p in paths.datasets_dir().iterdir()] == ["tiny"]


def test_interrupted_build_resumes_to_the_same_result(corpus, monkeypatch):
    reference = build_dataset(small("ref"), corpus=corpus, progress=False)
    real = datasets.write_shard
    written: list[int] = []

    def crash_on_shard_2(cfg, corp, root, k, *args, **kwargs):
        if k == 2:
            raise KeyboardInterrupt("power cut")
        written.append(k)
        return real(cfg, corp, root, k, *args, **kwargs)

    monkeypatch.setattr(datasets, "write_shard", crash_on_shard_2)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(small(), corpus=corpus, progress=False)
    root = paths.datasets_dir() / "tiny"
    assert (root / "build.json").exists() and not (root / "manifest.json").exists()
    assert sorted(p.name for p in root.glob("shard-*")) == ["shard-00000", "shard-00001"]
    with pytest.raises(DatasetError, match="incomplete.*manifest.json.*resume"):
        open_dataset("tiny")
    with pytest.raises(DatasetError, match="started with different parameters: seed"):
        build_dataset(small(seed=5), corpus=corpus, progress=False)

    def record(cfg, corp, root, k, *args, **kwargs):
        written.append(k)
        return real(cfg, corp, root, k, *args, **kwargs)

    written.clear()
    monkeypatch.setattr(datasets, "write_shard", record)
    resumed = build_dataset(small(), corpus=corpus, progress=False)
    assert written == [2]  # only the missing shard
    assert resumed.manifest["build"]["resumed_shards"] == 2
    assert same(resumed, reference)


def test_open_dataset_errors(corpus):
    with pytest.raises(DatasetError, match="no dataset 'nope'.*available: none"):
        open_dataset("nope")
    build_dataset(small(), corpus=corpus, progress=False)
    with pytest.raises(DatasetError, match="available: tiny"):
        open_dataset("nope")
    root = paths.datasets_dir() / "tiny"
    assert len(open_dataset(root)) == 10  # by path
    (root / "shard-00001" / "labels.npy").unlink()
    with pytest.raises(DatasetError, match=r"shard-00001 lacks labels.npy"):
        open_dataset("tiny")


def test_list_datasets_skips_broken_folders(corpus, caplog):
    build_dataset(small(), corpus=corpus, progress=False)
    build_dataset(small("spec", feature_kind="spectrogram", seed=1), corpus=corpus, progress=False)
    (paths.datasets_dir() / "broken").mkdir()
    with caplog.at_level(logging.WARNING, logger="lib.datasets"):
        rows = list_datasets()
    assert [r["name"] for r in rows] == ["spec", "tiny"]
    assert rows[0]["feature_kind"] == "spectrogram" and rows[1]["feature_kind"] == "logmel"
    assert rows[1]["examples"] == 10 and rows[1]["seed"] == 3 and rows[1]["split"] == "train"
    assert rows[1]["size_bytes"] > 10 * 2 * 2 * SR and rows[1]["kind"] == "synthetic"
    assert "broken" in caplog.text


def test_iter_batches_and_tf_dataset(corpus):
    ds = build_dataset(small(), corpus=corpus, progress=False)
    batches = list(ds.iter_batches(4))
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.shape == (4, 200, 1)
    assert np.array_equal(y[1, :, 0], ds.labels(1))
    shuffled = np.concatenate([y for _, y in ds.iter_batches(3, shuffle=True, seed=1)])
    assert sorted(map(bytes, shuffled.astype(np.uint8))) == sorted(
        bytes(ds.labels(i)[:, None]) for i in range(10)
    )
    with pytest.raises(ValueError, match="seed"):
        next(ds.iter_batches(3, shuffle=True))

    tf = pytest.importorskip("tensorflow")
    tfd = ds.as_tf_dataset(4, shuffle=True, seed=2)
    got = [(xb.numpy(), yb.numpy()) for xb, yb in tfd]
    assert [len(xb) for xb, _ in got] == [4, 4, 2]
    assert got[0][0].dtype == np.float32 and got[0][1].shape[1:] == (200, 1)
    feats = np.concatenate([xb for xb, _ in got])
    order = [int(np.argmin([np.abs(f - ds.features(i)).max() for i in range(10)])) for f in feats]
    assert sorted(order) == list(range(10)) and order != list(range(10))
    again = [xb.numpy() for xb, _ in ds.as_tf_dataset(4, shuffle=True, seed=2)]
    assert np.array_equal(again[0], got[0][0])  # the seed fixes the order
    plain = next(iter(ds.as_tf_dataset(10, shuffle=False)))[0].numpy()
    assert np.array_equal(plain[3], ds.features(3))
    repeated = ds.as_tf_dataset(4, shuffle=False, repeat=True).take(5)
    assert sum(1 for _ in repeated) == 5 and tf.is_tensor(next(iter(tfd))[0])


def write_raw(raw, dev: bool) -> None:
    records = []

    def add(kind, name, x, split="train", engine="espeak"):
        rel = f"{kind}s/{name}.wav"
        write_wav(raw / rel, x, 16000)
        records.append(
            ClipRecord(
                rel, kind, "t", "hey joe", engine, "v", "", None, None, split, 16000, len(x) / 16000
            )
        )

    add("activate", "a0", tone(0.4, 500, 16000))
    add("activate", "long", tone(2.5, 500, 16000))  # longer than a 2 s example
    add("negative", "n0", tone(0.3, 300, 16000), engine="flite")
    add("background", "b0", noise(3.0, 16000))
    if dev:
        add("activate", "d0", tone(0.4, 700, 16000), split="dev", engine="festival")
        add("background", "db0", noise(3.0, 16000, seed=5), split="dev")
    write_manifest(records, raw)


def test_build_from_the_raw_corpus_and_split(tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw, dev=True)
    ds = build_dataset(small(n_examples=4), raw_dir=raw, progress=False)
    sources = ds.manifest["sources"]
    assert sources["clips"]["activate"] == ["activates/a0.wav"]
    assert sources["skipped"][0]["path"] == "activates/long.wav"
    assert sources["counts_per_engine"]["negative"] == {"flite": 1}
    assert {e.clip for i in range(4) for e in ds.events(i) if e.kind == "activate"} == {
        "activates/a0.wav"
    }
    dev = build_dataset(small("dev", split="dev", n_examples=4), raw_dir=raw, progress=False)
    assert {e.clip for i in range(4) for e in dev.events(i)} <= {"activates/d0.wav"}
    assert dev.manifest["split"] == "dev"
    # the raw corpus changed since: the same settings are refused, naming what changed
    write_wav(raw / "activates" / "a0.wav", tone(0.45, 500, 16000), 16000)
    with pytest.raises(DatasetError, match="source clips"):
        build_dataset(small(n_examples=4), raw_dir=raw, progress=False)


def test_empty_split_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw, dev=False)
    with pytest.raises(DatasetError, match=rf"split 'dev' in {raw}"):
        build_dataset(small(split="dev"), raw_dir=raw, progress=False)
    assert not (paths.datasets_dir() / "tiny" / "manifest.json").exists()
    shutil.rmtree(paths.datasets_dir() / "tiny", ignore_errors=True)


def test_bytes_per_example_estimate_matches_disk(corpus):
    ds = build_dataset(small(), corpus=corpus, progress=False)
    arrays_on_disk = sum(
        (s.path / f"{a}.npy").stat().st_size
        for s in ds.shards
        for a in ("audio", "features", "labels")
    )
    estimate = ds.manifest["estimated_bytes"]
    assert estimate <= arrays_on_disk <= estimate + 3 * 3 * 256  # npy headers only


def test_benchmark_quick_smoke(tmp_path):
    import subprocess
    import sys

    script = paths.PROJ_ROOT / "benchmarks" / "synthesis.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["seed_examples_per_s"] > 0
    for key in ("default_1proc", "default_2proc", "seedeq_1proc", "seedeq_2proc"):
        assert figures[f"ours_{key}_examples_per_s"] > 0
        assert figures["speedup_vs_seed"][key] > 0
    assert "examples/s" in done.stderr


def test_float16_and_int16_storage_match_numpy_casts_bit_for_bit(tmp_path):
    # every 4099th float32 bit pattern: normals, subnormals, zeros, huge values, inf and NaN
    x = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32)
    got = datasets._to_float16(x, np.empty(x.shape, np.float16))
    with np.errstate(over="ignore", invalid="ignore"):
        ref = x.astype(np.float16)
    same = (got.view(np.uint16) == ref.view(np.uint16)) | (np.isnan(got) & np.isnan(ref))
    assert same.all()
    edges = np.array([65504, 65519, 65520, -65536, 6.1e-5, 2**-14, 0.0, -0.0], np.float32)
    with np.errstate(over="ignore"):
        assert np.array_equal(
            datasets._to_float16(edges, np.empty(8, np.float16)).view(np.uint16),
            edges.astype(np.float16).view(np.uint16),
        )
    audio = np.random.default_rng(0).uniform(-1.1, 1.1, 5000).astype(np.float32)
    expected = np.clip(np.rint(audio * np.float32(32768.0)), -32768, 32767).astype(np.int16)
    assert np.array_equal(datasets._to_int16(audio, np.empty(5000, np.int16)), expected)
    assert np.array_equal(datasets._to_int16(audio), expected)
    rows = datasets._NpyRows(tmp_path / "a.npy", np.int16, (2, 5000))
    rows.write(expected)
    with pytest.raises(ValueError, match="expected"):
        rows.write(expected[:10])
    with pytest.raises(RuntimeError, match="1 of 2 rows"):
        rows.close()
