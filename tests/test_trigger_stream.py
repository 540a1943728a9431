"""The streaming detector equals offline inference, whatever the chunk size, in bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lib.errors import AudioError
from lib.features import FeatureConfig, compute_features
from lib.trigger import StreamingDetector, TriggerModel, score_audio
from lib.trigger.model import ArchSpec, build_model
from lib.trigger.testing import chirp_in_noise


def _model(arch_name: str, seed: int = 1, kind: str = "logmel") -> TriggerModel:
    """A model with random weights and non-trivial BatchNorm statistics."""
    fc = FeatureConfig(kind=kind)
    arch = ArchSpec.preset(arch_name)
    km = build_model(arch, fc.n_bins, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in km.layers:
        if layer.name.endswith("_bn"):
            g, b, m, v = layer.get_weights()
            stats = [rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape),
                     rng.normal(0, 1, m.shape), rng.uniform(0.5, 2, v.shape)]  # fmt: skip
            layer.set_weights(stats)
    card = {"name": arch_name, "architecture": arch.to_dict(), "features": fc.to_dict(),
            "threshold": 0.5}  # fmt: skip
    return TriggerModel(Path("."), card, km)


@pytest.fixture(scope="module")
def small() -> TriggerModel:
    return _model("small")


@pytest.mark.parametrize("chunk_seconds", [0.1, 1.37, 100.0], ids=["0.1s", "1.37s", "whole"])
def test_streaming_equals_offline_predict(small: TriggerModel, chunk_seconds: float) -> None:
    audio = chirp_in_noise(3.3)
    offline = small.predict_features(compute_features(audio, small.feature_config))
    streamed = score_audio(small, audio, chunk_seconds=chunk_seconds)
    assert streamed.shape == offline.shape == (82,)  # ceil(328 frames / 4)
    np.testing.assert_allclose(streamed, offline, atol=1e-4)


@pytest.mark.parametrize(
    ("kind", "chunk"),
    [("logmel_phonetic", 1), ("logmel_phonetic", 1000), ("logmel_phonetic", 21930),
     ("phonetic", 1000)],
    ids=["1 sample", "1000", "1.37s", "phonetic alone"],
)  # fmt: skip
def test_streaming_equals_offline_with_phonetic_features(kind: str, chunk: int) -> None:
    """The phonetic front end's state (running mean, delta history, held frames) streams too."""
    model = _model("small", seed=3, kind=kind)
    audio = chirp_in_noise(0.5 if chunk == 1 else 3.3, seed=5)
    offline = model.predict_features(compute_features(audio, model.feature_config))
    det = StreamingDetector(model)
    streamed = np.concatenate([det.process(audio[i : i + chunk])
                               for i in range(0, len(audio), chunk)])  # fmt: skip
    np.testing.assert_allclose(streamed, offline, atol=1e-4)
    det.reset()  # a reset forgets the phonetic state too
    np.testing.assert_allclose(det.process(audio), offline, atol=1e-4)


def test_one_sample_chunks_equal_offline_for_the_seed_architecture() -> None:
    model = _model("seed", seed=2)
    audio = chirp_in_noise(0.6, seed=1)
    offline = model.predict_features(compute_features(audio, model.feature_config))
    det = StreamingDetector(model)
    streamed = np.concatenate([det.process(audio[i : i + 1]) for i in range(len(audio))])
    np.testing.assert_allclose(streamed, offline, atol=1e-4)
    assert det.steps_done == len(offline) and det.samples_seen == len(audio)


def test_state_is_carried_memory_is_bounded_and_reset_restarts(small: TriggerModel) -> None:
    det = StreamingDetector(small)
    audio = chirp_in_noise(2.0, seed=3)
    first = np.concatenate([det.process(audio[i : i + 1234]) for i in range(0, len(audio), 1234)])
    # feed a long stream: internal buffers stay a few frames and samples whatever its length
    rng = np.random.default_rng(4)
    for _ in range(150):  # 150 x 0.8 s = 2 minutes
        det.process((0.05 * rng.standard_normal(12800)).astype(np.float32))
        assert len(det._samples) < det._win + det._hop
        assert len(det._frames) < det._w.kernel_size + det.stride
    det.reset()
    again = np.concatenate([det.process(audio[i : i + 4000]) for i in range(0, len(audio), 4000)])
    np.testing.assert_allclose(again, first, atol=1e-6)
    times = det.times(0, 3)
    np.testing.assert_allclose(times, [0.025, 0.065, 0.105])


def test_bad_chunks_are_clear_errors(small: TriggerModel) -> None:
    det = StreamingDetector(small)
    with pytest.raises(AudioError, match="1-D"):
        det.process(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(AudioError, match="float"):
        det.process(np.zeros(100, dtype=np.int16))
    assert det.process(np.zeros(0, dtype=np.float32)).shape == (0,)
