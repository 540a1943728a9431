"""The phonetic front end: PocketSphinx's acoustic model read in numpy, streamed causally."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib import phonetic
from lib.audio import load_audio
from lib.errors import ConfigError
from lib.features import FeatureConfig, compute_features
from lib.trigger.testing import chirp_in_noise


def _stream(x: np.ndarray, chunk: int) -> np.ndarray:
    """What :class:`lib.trigger.StreamingDetector` does with the samples: frame, keep the rest."""
    stream, buf, out = phonetic.PhoneticStream(), np.zeros(0, np.float32), []
    for i in range(0, len(x), chunk):
        buf = np.concatenate([buf, x[i : i + chunk]])
        n = 0 if len(buf) < 400 else 1 + (len(buf) - 400) // 160
        out.append(stream.process(buf, n))
        buf = buf[n * 160 :]
    return np.concatenate(out)


@pytest.mark.parametrize("chunk", [1, 170, 1000, 16000])
def test_a_stream_in_chunks_of_any_size_equals_the_whole_clip(chunk: int) -> None:
    x = chirp_in_noise(1.3 if chunk > 1 else 0.3, seed=chunk)
    whole = phonetic.phonetic_features(x)
    assert whole.shape == (1 + (len(x) - 400) // 160, phonetic.N_SENONES)
    np.testing.assert_allclose(_stream(x, chunk), whole, atol=2e-5)


def test_features_are_log_posteriors_held_every_other_frame_and_level_invariant() -> None:
    x = chirp_in_noise(2.0)
    f = phonetic.phonetic_features(x)
    # scaled log posteriors: exp(8 f) sums to one over the senones (the floor adds a little)
    total = np.exp(f / phonetic.SCALE).sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-4)
    assert f.min() >= phonetic.LOG_FLOOR * phonetic.SCALE and f.max() <= 0
    np.testing.assert_array_equal(f[1::2], f[0:-1:2][: len(f[1::2])])  # held for odd frames
    assert np.abs(np.diff(f[::2], axis=0)).max() > 0.1  # and they do move
    # the running mean normalisation removes a gain change exactly (c0 is log energy)
    np.testing.assert_allclose(phonetic.phonetic_features(0.25 * x), f, atol=2e-3)


def test_feature_kind_puts_logmel_and_phonetic_side_by_side() -> None:
    fc = FeatureConfig(kind="logmel_phonetic")
    assert fc.n_bins == 40 + phonetic.N_SENONES and fc.n_spectral == 40
    x = chirp_in_noise(1.0)
    f = compute_features(x, fc)
    np.testing.assert_array_equal(f[:, :40], compute_features(x, FeatureConfig()))
    np.testing.assert_array_equal(f[:, 40:], phonetic.phonetic_features(x))
    batch = compute_features(np.stack([x, x[::-1].copy()]), fc)
    np.testing.assert_array_equal(batch[0], f)
    assert compute_features(x[:399], fc).shape == (0, fc.n_bins)
    alone = FeatureConfig(kind="phonetic")
    assert alone.n_bins == phonetic.N_SENONES and alone.n_spectral == 0
    np.testing.assert_array_equal(compute_features(x, alone), f[:, 40:])
    for kind in ("logmel_phonetic", "phonetic"):
        for bad in ({"sample_rate": 8000}, {"hop_seconds": 0.02}, {"window_seconds": 0.03}):
            with pytest.raises(ConfigError, match=next(iter(bad))):
                FeatureConfig(kind=kind, **bad)


def test_tensorflow_version_is_refused_clearly() -> None:
    from lib.features import compute_features_tf

    with pytest.raises(ConfigError, match="numpy only"):
        compute_features_tf(chirp_in_noise(0.5), FeatureConfig(kind="logmel_phonetic"))


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    for name in ("means", "variances", "mdef"):
        shutil.copy(phonetic.model_dir() / name, tmp_path / name)
    with pytest.raises(ConfigError, match="sendump"):
        phonetic.AcousticModel(tmp_path)


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng")
def test_pocketsphinx_decodes_our_cepstra_as_it_decodes_its_own(tmp_path: Path) -> None:
    """Our MFCCs, given to PocketSphinx's phone decoder, give nearly the phones its own front
    end gives on the same audio; our senone posteriors hear the vowel of "joe"."""
    from pocketsphinx import Decoder

    wav = tmp_path / "hey_joe.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "hey joe"], check=True)
    y = load_audio(wav, 16000)
    y = np.concatenate([np.zeros(4800, np.float32), y / np.abs(y).max() * 0.5,
                        np.zeros(4800, np.float32)])  # fmt: skip
    y += np.random.default_rng(0).normal(0, 3e-4, len(y)).astype(np.float32)
    model = phonetic.acoustic_model()
    emphasised = np.concatenate([y[:1], y[1:] - 0.97 * y[:-1]]).astype(np.float32)
    n = 1 + (len(y) - 400) // 160
    frames = np.lib.stride_tricks.as_strided(emphasised, (n, 400), (640, 4))
    folder = phonetic.model_dir()
    dec = Decoder(hmm=str(folder), allphone=str(folder.parent / "en-us-phone.lm.bin"),
                  lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")  # fmt: skip
    dec.start_utt()
    dec.process_cep(model.cepstra(frames).astype(np.float32).tobytes(), full_utt=True)
    dec.end_utt()
    ours = [s.word for s in dec.seg()]
    dec.start_utt()
    dec.process_raw((y * 32767).astype(np.int16).tobytes(), full_utt=True)
    dec.end_utt()
    theirs = [s.word for s in dec.seg()]
    assert difflib.SequenceMatcher(a=ours, b=theirs).ratio() >= 0.8, (ours, theirs)
    # cepstra in another order (a wrong DCT) decode to something else: the check can fail
    wrong = model.cepstra(frames)[:, [0, *range(12, 0, -1)]]
    dec.start_utt()
    dec.process_cep(np.ascontiguousarray(wrong, np.float32).tobytes(), full_utt=True)
    dec.end_utt()
    assert difflib.SequenceMatcher(a=[s.word for s in dec.seg()], b=theirs).ratio() < 0.8
    best = phonetic.phonetic_features(y).argmax(axis=1) // 3
    assert "OW" in {model.phones[p] for p in best}
