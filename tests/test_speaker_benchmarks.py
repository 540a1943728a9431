"""The speaker benchmarks run in their quick mode and end with one JSON line of figures."""

from __future__ import annotations

import pytest

from lib import paths
from tests.benchmarks_run import run_benchmark


@pytest.mark.slow
def test_speaker_batches_benchmark_quick() -> None:
    figures = run_benchmark("speaker_batches.py")
    assert figures["ours_numpy_batch_ms"] > 0 and figures["seed_style_batch_ms"] > 0
    assert figures["speedup_vs_seed_style"] > 1
    assert figures["ours_tfdata_batch_ms"] > 0 and figures["ours_tfdata_batch_mean_ms"] > 0
    assert figures["ours_tfdata_wait_in_training_ms"] >= 0
    assert figures["speedup_tfdata_vs_seed_style"] > 1
    assert figures["train_step_ms"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    not (paths.PROJ_ROOT / "checkpoints" / "speaker" / "default" / "model.keras").is_file(),
    reason="no shipped speaker model",
)
def test_speaker_quality_benchmark_quick() -> None:
    figures = run_benchmark("speaker_quality.py", "--utterances", "8")
    assert 0 <= figures["ours_eer"] <= 1
    assert figures["ours_ms_per_audio_second"] > 0
    assert figures["trials"] == 28
    if figures["resemblyzer_eer"] is not None:  # the bootstrap interval of the difference
        lo, hi = figures["resemblyzer_minus_ours_eer_95"]
        assert -1 <= lo <= hi <= 1
