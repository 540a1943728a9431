"""Speaker database layouts, splits, bad input, the feature cache and triplet batches."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import soundfile as sf

from lib.errors import ConfigError, DatasetError
from lib.features import FeatureConfig
from lib.speaker import batches, cache, database
from lib.speaker.settings import SpeakerConfig

SR = 16000


def voice(rng: np.random.Generator, f0: float, seconds: float) -> np.ndarray:
    """A toy 'speaker': a harmonic buzz at ``f0`` with a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.05 * rng.standard_normal(len(t))
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def make_tree(root, layout: str, speakers: dict[str, int], seconds: float = 1.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    for k, (spk, n) in enumerate(speakers.items()):
        for i in range(n):
            if layout == "folders":
                path = root / spk / f"u{i}.wav"
            elif layout == "librispeech":
                path = root / spk / f"{100 + i % 2}" / f"{spk}-{100 + i % 2}-{i:04d}.flac"
            else:
                path = root / spk / f"vid{i % 2}" / f"{i:05d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, voice(rng, 90 + 37 * k, seconds + 0.1 * i), SR)
    return root


CFG = SpeakerConfig(dev_fraction=0.25, test_fraction=0.0, crop_seconds=0.5)


@pytest.mark.parametrize("layout", ["folders", "librispeech", "voxceleb"])
def test_each_layout_is_read_as_it_comes(tmp_path, layout) -> None:
    root = make_tree(tmp_path / "db", layout, {"s1": 3, "s2": 3, "s3": 2})
    if layout == "librispeech":
        (root / "s1" / "100" / "s1-100.trans.txt").write_text("0000 HELLO\n")
    db = database.build_manifest(root, "t", CFG, layout=layout)
    assert db.speakers() == ["s1", "s2", "s3"]
    assert len(db.utterances) == 8
    assert (db.dir / "manifest.csv").is_file() and (db.dir / "database.json").is_file()
    again = database.read_manifest("t")
    assert [u.path for u in again.utterances] == [u.path for u in db.utterances]
    auto = database.build_manifest(root, "t2", CFG, layout="auto")
    assert len(auto.utterances) == 8


def test_split_is_deterministic_speaker_disjoint_and_stable_when_speakers_are_added(
    tmp_path,
) -> None:
    speakers = {f"spk{i:02d}": 2 for i in range(20)}
    root = make_tree(tmp_path / "db", "folders", speakers, seconds=0.3)
    db = database.build_manifest(root, "t", CFG)
    split = {u.speaker: u.split for u in db.utterances}
    for u in db.utterances:  # speaker-disjoint: every utterance of a speaker in one split
        assert split[u.speaker] == u.split
    assert {"train", "dev"} <= set(split.values())
    make_tree(tmp_path / "db", "folders", {"newcomer": 2}, seconds=0.3, seed=5)
    db2 = database.build_manifest(root, "t", CFG)
    assert {u.speaker: u.split for u in db2.utterances if u.speaker != "newcomer"} == split


def test_bad_speakers_are_skipped_and_listed(tmp_path) -> None:
    root = make_tree(tmp_path / "db", "folders", {"a": 2, "b": 2, "solo": 1})
    (root / "empty").mkdir()
    sf.write(root / "stray.wav", np.zeros(1600, np.float32), SR)
    (root / "a" / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    db = database.build_manifest(root, "t", CFG)
    assert db.speakers() == ["a", "b"]
    reasons = dict(db.skipped)
    assert "only 1 utterance" in reasons["solo/"]
    assert "empty" in reasons["empty/"]
    assert "speaker folder" in reasons["stray.wav"]
    assert "unreadable" in reasons["a/broken.wav"]


def test_fewer_than_two_speakers_is_refused(tmp_path) -> None:
    root = make_tree(tmp_path / "db", "folders", {"a": 3, "b": 1})
    with pytest.raises(DatasetError, match="at least 2 speakers"):
        database.build_manifest(root, "t", CFG)
    (tmp_path / "void").mkdir()
    with pytest.raises(DatasetError, match="at least 2 speakers"):
        database.build_manifest(tmp_path / "void", "t", CFG)


def test_shift_changes_pitch_and_length_together() -> None:
    x = voice(np.random.default_rng(0), 100, 1.0)
    up = database.shift_audio(x, SR, 3.0)
    assert len(up) == pytest.approx(len(x) / 2 ** (3 / 12), rel=0.01)
    assert database.shift_audio(x, SR, 0.0) is not None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_synthetic_bootstrap_is_idempotent_and_reserves_festival_for_dev(tmp_path) -> None:
    cfg = dataclasses.replace(
        CFG, espeak_voices=("en-us",), espeak_variants=("m1", "f2"), flite_voices=(),
        festival_voices=(), shift_semitones=(0.0, 3.0), utterances_per_speaker=2,
        test_fraction=0.0,
    )  # fmt: skip
    db = database.bootstrap_synthetic(cfg, root=tmp_path / "syn")
    assert len(db.speakers()) == 4 and len(db.utterances) == 8
    assert all(u.split == "train" for u in db.utterances)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "syn").rglob("*.wav")}
    db2 = database.bootstrap_synthetic(cfg, root=tmp_path / "syn")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "syn").rglob("*.wav")} == mtimes
    assert db2.fingerprint() == db.fingerprint()
    voices = database.plan_voices(dataclasses.replace(cfg, festival_voices=("kal_diphone",)))
    assert {v.split for v in voices if v.engine == "festival"} == {"dev"}


@pytest.mark.skipif(
    not all(shutil.which(c) for c in ("espeak-ng", "mbrola", "pico2wave")),
    reason="needs espeak-ng, mbrola and pico2wave installed",
)
def test_mbrola_and_pico_voices_are_training_speakers(tmp_path) -> None:
    cfg = dataclasses.replace(
        CFG, espeak_voices=(), flite_voices=(), festival_voices=(), mbrola_voices=("mb-us2",),
        pico_voices=("en-GB",), shift_semitones=(0.0,), utterances_per_speaker=2,
        test_fraction=0.0,
    )  # fmt: skip
    db = database.bootstrap_synthetic(cfg, root=tmp_path / "syn")
    assert sorted(db.speakers()) == ["mbrola-mb-us2", "pico-en-GB"]
    assert len(db.utterances) == 4 and {u.split for u in db.utterances} == {"train"}
    for u in db.utterances:
        x, sr = sf.read(db.full_path(u))
        assert sr == SR and len(x) > SR and np.max(np.abs(x)) > 0.05


def test_formant_warps_add_pseudo_speakers_of_training_voices_only() -> None:
    cfg = dataclasses.replace(
        CFG, espeak_voices=("en-us",), espeak_variants=("m1",), flite_voices=("awb",),
        festival_voices=("kal_diphone",), shift_semitones=(0.0, 3.0), formant_warps=2,
    )  # fmt: skip
    voices = database.plan_voices(cfg)
    names = [v.speaker for v in voices]
    assert len(names) == len(set(names)) == 2 * 2 * 3 + 2  # (espeak + flite) x shifts x 3, + dev
    assert "espeak-en-us+m1_+3st_w2" in names and "flite-awb_w1" in names
    assert not any(v.warp for v in voices if v.engine == "festival")
    plain = next(v for v in voices if v.speaker == "flite-awb")
    warped = next(v for v in voices if v.speaker == "flite-awb_w1")
    x = (0.1 * np.sin(np.arange(16000) * 2 * np.pi * 150 / 16000)).astype(np.float32)
    x += 0.05 * np.sin(np.arange(16000) * 2 * np.pi * 2400 / 16000).astype(np.float32)
    assert np.array_equal(database.warp_audio(x, 16000, plain, 0.15), x)
    y = database.warp_audio(x, 16000, warped, 0.15)
    assert not np.allclose(y, x, atol=1e-3)  # the warp changed the spectrum
    assert np.array_equal(y, database.warp_audio(x, 16000, warped, 0.15))  # same every time
    assert database._clip_name(plain, "t") != database._clip_name(warped, "t")
    with pytest.raises(ConfigError, match="formant_warps"):
        dataclasses.replace(cfg, formant_warps=-1)


# ---------------------------------------------------------------------------- cache


def tiny_db(tmp_path, speakers=None, seconds=1.5):
    root = make_tree(tmp_path / "db", "folders", speakers or {f"s{i}": 3 for i in range(4)},
                     seconds)  # fmt: skip
    return database.build_manifest(root, "tiny", dataclasses.replace(CFG, dev_fraction=0.0))


def test_cache_is_computed_once_compact_and_checked(tmp_path) -> None:
    db = tiny_db(tmp_path)
    fc = FeatureConfig(n_mels=64)
    c = cache.build_cache(db, fc)
    assert c.features.dtype == np.float16 and c.features.shape[1] == 64
    assert len(c) == len(db.utterances)
    assert sum(e.frames for e in c.entries) == c.features.shape[0]
    stamp = (c.dir / "features.npy").stat().st_mtime_ns
    c2 = cache.build_cache(db, fc)
    assert (c2.dir / "features.npy").stat().st_mtime_ns == stamp  # reused, not recomputed
    with pytest.raises(ConfigError, match="n_mels: cache 64 vs model 40"):
        cache.load_cache(c.dir, expect=FeatureConfig(n_mels=40))
    c3 = cache.build_cache(db, FeatureConfig(n_mels=32))  # other settings: rebuilt
    assert c3.features.shape[1] == 32


def test_sampler_skips_short_utterances_and_refuses_too_few_speakers(tmp_path) -> None:
    fc = FeatureConfig(n_mels=64)
    feats = {
        "a": [200, 220, 50],  # one too short for a crop of 100
        "b": [150, 300],
        "c": [300, 40],  # only one long enough: speaker dropped
    }
    rng = np.random.default_rng(0)
    utts = [(f"{s}/{i}", s, "train", rng.standard_normal((n, 64)))
            for s, ns in feats.items() for i, n in enumerate(ns)]  # fmt: skip
    c = cache.write_cache(tmp_path / "c", utts, fc)
    sampler = batches.TripletSampler(c, "train", crop_frames=100)
    assert sampler.speakers == ["a", "b"]
    skipped = dict(sampler.skipped)
    assert "shorter than a crop" in skipped["a/2"] and "c/" in skipped
    with pytest.raises(DatasetError, match="need at least 2"):
        batches.TripletSampler(c, "train", crop_frames=250)


def test_triplets_are_valid_deterministic_and_crops_in_bounds(tmp_path) -> None:
    fc = FeatureConfig(n_mels=8)
    rng = np.random.default_rng(1)
    utts = [(f"s{k}/{i}", f"s{k}", "train", rng.standard_normal((120 + 10 * i, 8)))
            for k in range(5) for i in range(3)]  # fmt: skip
    c = cache.write_cache(tmp_path / "c", utts, fc)
    sampler = batches.TripletSampler(c, "train", crop_frames=100)
    t = sampler.triplets(np.random.default_rng(3), 200)
    spk = np.array([e.speaker for e in c.entries])
    assert np.all(spk[t[:, 0]] == spk[t[:, 1]]) and np.all(t[:, 0] != t[:, 1])
    assert np.all(spk[t[:, 0]] != spk[t[:, 2]])
    assert np.array_equal(t, sampler.triplets(np.random.default_rng(3), 200))
    ids = t.T.reshape(-1)
    starts = sampler.crop_starts(np.random.default_rng(0), ids)
    ends = starts + 100
    assert np.all(starts >= sampler.starts[ids])
    assert np.all(ends <= sampler.starts[ids] + sampler.frames[ids])


def test_semi_hard_negative_comes_from_the_table(tmp_path) -> None:
    fc = FeatureConfig(n_mels=8)
    rng = np.random.default_rng(1)
    utts = [(f"s{k}/{i}", f"s{k}", "train", rng.standard_normal((120, 8)))
            for k in range(4) for i in range(2)]  # fmt: skip
    c = cache.write_cache(tmp_path / "c", utts, fc)
    s = batches.TripletSampler(c, "train", 100, margin=0.1, hard_negative_fraction=1.0,
                               hard_candidates=64)  # fmt: skip
    emb = np.zeros((8, 3), np.float32)
    emb[:, 2] = 1.0  # everything far from s0 ...
    emb[0] = emb[1] = [1, 0, 0]  # s0's two utterances
    emb[6] = [0.95, 0.312, 0]  # ... except utterance 6 (speaker s3): semi-hard for s0
    s.set_table(np.arange(8), emb)
    assert s._hard_negative(np.random.default_rng(0), 0, 1, fallback=4) == 6


def test_tf_data_batches_equal_numpy_crops(tmp_path) -> None:
    fc = FeatureConfig(n_mels=8)
    rng = np.random.default_rng(2)
    utts = [(f"s{k}/{i}", f"s{k}", "train", rng.standard_normal((150, 8)))
            for k in range(3) for i in range(2)]  # fmt: skip
    c = cache.write_cache(tmp_path / "c", utts, fc)
    s = batches.TripletSampler(c, "train", 100)
    ds = batches.triplet_dataset(s, batches.features_tensor(c), 4, seed=7)
    got = next(iter(ds)).numpy()
    starts = s.triplet_batch_starts(np.random.default_rng(7), 4)
    assert got.shape == (12, 100, 8)
    np.testing.assert_array_equal(got, batches.crop_numpy(c.features, starts, 100))


def small_cache(tmp_path, speakers=4, per_speaker=3, bins=8, seed=5):
    rng = np.random.default_rng(seed)
    utts = [(f"s{k}/{i}", f"s{k}", "train", rng.standard_normal((110 + 17 * i + 5 * k, bins)))
            for k in range(speakers) for i in range(per_speaker)]  # fmt: skip
    return cache.write_cache(tmp_path / "c", utts, FeatureConfig(n_mels=bins))


def test_vectorised_crops_equal_per_crop_slices(tmp_path) -> None:
    c = small_cache(tmp_path)
    crop = 100
    last = len(c.features) - crop
    starts = np.array([0, 1, 37, last - 1, last, 5, 5], dtype=np.int32)
    want = np.stack([np.asarray(c.features[s : s + crop], np.float32) for s in starts])
    bank = batches.feature_bank(c)
    assert bank.dtype == np.float32 and batches.feature_bank(c, budget_bytes=0) is c.features
    for features in (c.features, bank):  # the float16 memory map and the float32 copy
        got = batches.crop_numpy(features, starts, crop)
        assert got.dtype == np.float32 and got.shape == (len(starts), crop, 8)
        np.testing.assert_array_equal(got, want)
    windows = batches.crop_windows(bank, crop)
    assert windows.shape == (last + 1, crop, 8) and not windows.flags.writeable
    assert np.shares_memory(windows, bank)  # a view, no copy
    assert batches.crop_numpy(bank, np.zeros(0, np.int32), crop).shape == (0, crop, 8)
    for bad in (last + 1, -1):
        with pytest.raises(IndexError):
            batches.crop_numpy(bank, np.array([3, bad]), crop)
    with pytest.raises(ValueError, match="does not fit"):
        batches.crop_windows(bank, len(bank) + 1)


def test_vectorised_hard_negatives_match_the_per_triplet_rule(tmp_path) -> None:
    c = small_cache(tmp_path, speakers=6, per_speaker=4)
    s = batches.TripletSampler(c, "train", 100, margin=0.2, hard_negative_fraction=1.0,
                               hard_candidates=5)  # fmt: skip
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(len(c), size=18, replace=False))  # some utterances not in it
    emb = rng.standard_normal((len(ids), 4)).astype(np.float32)
    s.set_table(ids, emb / np.linalg.norm(emb, axis=1, keepdims=True))
    trip = s.triplets(np.random.default_rng(1), 64)

    def reference(cand_row: np.ndarray, a: int, p: int, fallback: int) -> int:
        """The rule one triplet at a time, as the earlier loop did it."""
        row = {int(u): r for r, u in enumerate(s.table_index)}
        if int(a) not in row or int(p) not in row:
            return fallback
        cand = cand_row[s.speaker_of[s.table_index[cand_row]] != s.speaker_of[a]]
        if cand.size == 0:
            return fallback
        sim_an = s.table[cand] @ s.table[row[int(a)]]
        sim_ap = float(s.table[row[int(p)]] @ s.table[row[int(a)]])
        semi = sim_an < sim_ap + s.margin
        pool = np.flatnonzero(semi) if semi.any() else np.arange(len(cand))
        return int(s.table_index[cand[pool[np.argmax(sim_an[pool])]]])

    got = s._hard_negatives(np.random.default_rng(2), trip[:, 0], trip[:, 1], trip[:, 2],
                            s._table)  # fmt: skip
    cands = np.random.default_rng(2).integers(len(ids), size=(len(trip), s.hard_candidates))
    want = [reference(cands[t], *trip[t]) for t in range(len(trip))]
    np.testing.assert_array_equal(got, want)
    assert np.any(got != trip[:, 2])  # some negatives did come from the table
    spk = s.speaker_of
    assert np.all(spk[trip[:, 0]] == spk[trip[:, 1]]) and np.all(spk[trip[:, 0]] != spk[trip[:, 2]])
    assert np.array_equal(trip, s.triplets(np.random.default_rng(1), 64))  # deterministic


def test_tf_data_batches_equal_numpy_crops_with_hard_negatives_and_labels(tmp_path) -> None:
    c = small_cache(tmp_path)
    s = batches.TripletSampler(c, "train", 100, hard_negative_fraction=0.5, hard_candidates=4)
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((len(s.utterances), 4)).astype(np.float32)
    s.set_table(s.utterances, emb / np.linalg.norm(emb, axis=1, keepdims=True))
    want_rng = np.random.default_rng(11)
    want = [batches.crop_numpy(c.features, s.triplet_batch_starts(want_rng, 3), 100)
            for _ in range(4)]  # fmt: skip
    for budget in (batches.FLOAT32_BUDGET_BYTES, 0):  # float32 tensor, or float16 + cast
        feats = batches.features_tensor(c, budget_bytes=budget)
        assert feats.dtype.name == ("float32" if budget else "float16")
        it = iter(batches.triplet_dataset(s, feats, 3, seed=11))
        for w in want:
            got = next(it).numpy()
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, w)
    cls = next(iter(batches.classification_dataset(s, batches.features_tensor(c), 5, seed=3)))
    starts, labels = s.classification_batch(np.random.default_rng(3), 5)
    np.testing.assert_array_equal(cls[0].numpy(), batches.crop_numpy(c.features, starts, 100))
    np.testing.assert_array_equal(cls[1].numpy(), labels)
