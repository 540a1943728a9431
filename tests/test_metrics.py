"""Metric code against values worked out by hand (see lib/metrics.py for the exact rules)."""

from __future__ import annotations

import numpy as np
import pytest

from lib import metrics
from lib.errors import DatasetError


def stream(seconds: float, hop: float, peaks: dict[float, float]) -> np.ndarray:
    """Zeros with single-step peaks ``{time: score}`` (offset 0)."""
    s = np.zeros(int(round(seconds / hop)))
    for t, v in peaks.items():
        s[int(round(t / hop))] = v
    return s


# ---------------------------------------------------------------------------- events


def test_rising_edges_and_merging_within_refractory():
    scores = [0, 0, 0.6, 0.7, 0.2, 0.8, 0, 0]  # rising edges at steps 2 and 5
    # offset 0.5, hop 0.1: edges at 0.7 s and 1.0 s
    ev = metrics.scores_to_events(scores, 0.1, 0.5, 0.5, refractory_seconds=2.0)
    np.testing.assert_allclose(ev, [0.7])
    ev = metrics.scores_to_events(scores, 0.1, 0.5, 0.5, refractory_seconds=0.0)
    np.testing.assert_allclose(ev, [0.7, 1.0])
    # an edge exactly at t + refractory starts a new event; just inside it is merged
    np.testing.assert_allclose(metrics.scores_to_events(scores, 0.1, 0.5, 0.5, 0.3), [0.7, 1.0])
    np.testing.assert_allclose(metrics.scores_to_events(scores, 0.1, 0.5, 0.5, 0.31), [0.7])


def test_score_equal_to_threshold_is_above_and_plateau_is_one_event():
    scores = [0.5] * 1000  # above from the first step for 10 s
    np.testing.assert_allclose(metrics.scores_to_events(scores, 0.01, 0.0, 0.5, 2.0), [0.0])
    assert metrics.scores_to_events(scores, 0.01, 0.0, 0.51, 2.0).size == 0
    assert metrics.scores_to_events([], 0.01, 0.0, 0.5).size == 0


def test_long_stream_grouping_merges():
    # openWakeWord's grouping never merged on long streams; here an hour of chatter with a
    # rising edge every 0.5 s must give one event per 2 s window: 0, 2, 4, ... 3598 s
    hop = 0.01
    s = np.zeros(360_000)
    s[::50] = 0.9
    ev = metrics.scores_to_events(s, hop, 0.0, 0.5, refractory_seconds=2.0)
    assert ev.size == 1800
    np.testing.assert_allclose(ev[:3], [0.0, 2.0, 4.0])
    np.testing.assert_allclose(ev[-1], 3598.0)
    # a 1.9 s burst late in a long quiet stream is one event
    s = np.zeros(360_000)
    s[300_000:300_190:7] = 0.9
    np.testing.assert_allclose(metrics.scores_to_events(s, hop, 0.0, 0.5), [3000.0])


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        metrics.scores_to_events([0.1, np.nan], 0.01, 0.0, 0.5)
    with pytest.raises(ValueError, match="hop_seconds"):
        metrics.scores_to_events([0.1], 0.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="one-dimensional"):
        metrics.scores_to_events(np.zeros((3, 3)), 0.01, 0.0, 0.5)


# ---------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("t", "hit"),
    [(9.999, False), (10.0, True), (10.5, True), (12.0, True), (12.001, False)],
)
def test_match_window_boundaries(t, hit):
    detected, fa = metrics.match_events([t], [(10.0, 11.0)], tolerance=1.0)
    assert detected.tolist() == [hit]
    assert fa.tolist() == ([] if hit else [t])


def test_match_several_spans_and_events():
    detected, fa = metrics.match_events([1.0, 5.0, 30.0], [(0.5, 1.5), (20.0, 21.0)], 1.0)
    assert detected.tolist() == [True, False]
    assert fa.tolist() == [5.0, 30.0]
    with pytest.raises(ValueError, match="start <= end"):
        metrics.match_events([1.0], [(2.0, 1.0)])


# ---------------------------------------------------------------------------- aggregates


def test_trigger_metrics_hand_worked():
    # file A: 60 s, trigger at 10–11 s; events at 11.5 (hit, end + 0.5) and 30 (false accept)
    a = (stream(60, 0.1, {11.5: 0.9, 30.0: 0.9}), 0.1, 0.0, [(10.0, 11.0)], 60.0)
    # file B: 3540 s, no trigger; peaks at 100 and 101 merge (refractory 2), 200 is separate
    b = (stream(3540, 0.1, {100.0: 0.9, 101.0: 0.9, 200.0: 0.9}), 0.1, 0.0, [], 3540.0)
    m = metrics.trigger_metrics([a, b], threshold=0.5)
    assert m["n_triggers"] == 1 and m["detected"] == 1 and m["missed"] == 0
    assert m["false_reject_rate"] == 0.0
    assert m["false_accepts"] == 3
    assert m["hours"] == pytest.approx(1.0)
    assert m["false_accepts_per_hour"] == pytest.approx(3.0)
    errors = metrics.clip_errors([a, b], threshold=0.5)
    assert errors[0]["missed"] == [] and errors[0]["false_accepts"] == pytest.approx([30.0])
    assert errors[1]["false_accepts"] == pytest.approx([100.0, 200.0])
    # a higher threshold misses the trigger: FRR 1/1
    assert metrics.trigger_metrics([a, b], threshold=0.95)["false_reject_rate"] == 1.0


def test_frr_by_group_hand_worked():
    # file A: triggers at 10-11 (voice x, hit at 11.5) and 30-31 (voice y, no event)
    a = (stream(60, 0.1, {11.5: 0.9}), 0.1, 0.0, [(10.0, 11.0), (30.0, 31.0)], 60.0)
    # file B: a trigger at 5-6 (voice x, no event above 0.5: 0.4 only)
    b = (stream(20, 0.1, {6.5: 0.4}), 0.1, 0.0, [(5.0, 6.0)], 20.0)
    by = metrics.frr_by_group([a, b], [["x", "y"], ["x"]], threshold=0.5)
    assert list(by) == ["x", "y"]
    assert by["x"]["triggers"] == 2 and by["x"]["missed"] == 1
    assert by["x"]["false_reject_rate"] == 0.5 and by["y"]["false_reject_rate"] == 1.0
    assert by["x"]["false_reject_rate_95"] == [round(v, 4) for v in metrics.wilson_interval(1, 2)]
    # at 0.3 B's trigger is found too
    assert metrics.frr_by_group([a, b], [["x", "y"], ["x"]], 0.3)["x"]["missed"] == 0
    with pytest.raises(DatasetError, match="item 1 has 1 spans but 2 names"):
        metrics.frr_by_group([a, b], [["x", "y"], ["x", "y"]], 0.5)
    with pytest.raises(DatasetError, match="1 group lists for 2 items"):
        metrics.frr_by_group([a, b], [["x", "y"]], 0.5)


def test_intervals_of_the_rates_hand_worked():
    # Wilson, 18 of 35 missed (z = 1.96): centre 0.5132, half-width 0.1572 (worked by hand)
    lo, hi = metrics.wilson_interval(18, 35)
    assert lo == pytest.approx(0.3557, abs=1e-4) and hi == pytest.approx(0.6701, abs=1e-4)
    assert metrics.wilson_interval(0, 35)[0] == 0.0 and metrics.wilson_interval(35, 35)[1] == 1.0
    assert metrics.wilson_interval(0, 0) is None
    with pytest.raises(DatasetError):
        metrics.wilson_interval(5, 3)
    # exact Poisson: none in one hour -> [0, 3.689] (the "rule of three" is 3.0 one-sided)
    assert metrics.poisson_rate_interval(0, 1.0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    lo, hi = metrics.poisson_rate_interval(3, 1.0)  # 3 events: [0.6187, 8.7673] (tables)
    assert lo == pytest.approx(0.6187, abs=1e-4) and hi == pytest.approx(8.7673, abs=1e-4)
    assert metrics.poisson_rate_interval(3, 2.0)[1] == pytest.approx(8.7673 / 2, abs=1e-4)
    assert metrics.poisson_rate_interval(1, 0.0) is None
    # trigger_metrics carries both: 1 of 1 detected, 3 false accepts in one hour
    a = (stream(60, 0.1, {11.5: 0.9, 30.0: 0.9}), 0.1, 0.0, [(10.0, 11.0)], 60.0)
    b = (stream(3540, 0.1, {100.0: 0.9, 101.0: 0.9, 200.0: 0.9}), 0.1, 0.0, [], 3540.0)
    m = metrics.trigger_metrics([a, b], threshold=0.5)
    assert m["false_reject_rate_95"] == pytest.approx([0.0, 0.7935], abs=1e-4)
    assert m["false_accepts_per_hour_95"] == pytest.approx([0.6187, 8.7673], abs=1e-4)
    assert metrics.trigger_metrics([], threshold=0.5)["false_reject_rate_95"] is None


def test_no_positives_gives_undefined_frr():
    b = (stream(1800, 0.1, {100.0: 0.9}), 0.1, 0.0, [], 1800.0)
    m = metrics.trigger_metrics([b], threshold=0.5)
    assert m["n_triggers"] == 0
    assert m["false_reject_rate"] is None
    assert m["false_accepts_per_hour"] == pytest.approx(2.0)
    curve = metrics.det_curve([b], thresholds=[0.5, 0.95])
    assert metrics.frr_at_fa_per_hour(curve, 0.5) is None


def test_no_negatives_and_no_audio():
    # every event falls inside a trigger window: no false accepts
    a = (stream(10, 0.1, {2.0: 0.9}), 0.1, 0.0, [(1.5, 2.0)], 10.0)
    m = metrics.trigger_metrics([a], threshold=0.5)
    assert m["false_accepts"] == 0 and m["false_reject_rate"] == 0.0
    assert m["false_accepts_per_hour"] == 0.0
    empty = metrics.trigger_metrics([], threshold=0.5)
    assert empty["false_reject_rate"] is None and empty["false_accepts_per_hour"] is None


def test_det_curve_and_operating_points():
    # one hour, hop 1 s: triggers at 9–10 (peak 0.9) and 19–20 (peak 0.4);
    # non-trigger peaks 0.6 at 100 s and 0.3 at 200 s
    s = stream(3600, 1.0, {10.0: 0.9, 20.0: 0.4, 100.0: 0.6, 200.0: 0.3})
    item = (s, 1.0, 0.0, [(9.0, 10.0), (19.0, 20.0)], 3600.0)
    curve = metrics.det_curve([item], thresholds=[1.0, 0.25, 0.75, 0.5])
    got = [(p["threshold"], p["false_reject_rate"], p["false_accepts_per_hour"]) for p in curve]
    assert got == [(0.25, 0.0, 2.0), (0.5, 0.5, 1.0), (0.75, 0.5, 0.0), (1.0, 1.0, 0.0)]
    assert metrics.frr_at_fa_per_hour(curve, 2.0) == 0.0
    assert metrics.frr_at_fa_per_hour(curve, 1.0) == 0.5
    assert metrics.frr_at_fa_per_hour(curve, 0.1) == 0.5
    assert metrics.threshold_at_fa_per_hour(curve, 0.1) == 0.75
    assert (
        metrics.frr_at_fa_per_hour(
            [{"threshold": 0.5, "false_reject_rate": 0.1, "false_accepts_per_hour": 3.0}], 0.5
        )
        is None
    )


def test_default_thresholds_cover_sigmoid_and_other_ranges():
    th = metrics.default_thresholds([(np.array([0.0, 0.2, 1.0]), 0.1, 0.0, [], 1.0)])
    assert th[0] == 0.0 and th[-1] > 1.0 and 1.0 in th and 0.999 in th
    th = metrics.default_thresholds([(np.array([-3.0, 5.0]), 0.1, 0.0, [], 1.0)])
    assert th.min() == -3.0 and th.max() > 5.0


# ---------------------------------------------------------------------------- speaker


def test_eer_and_min_dcf_hand_worked():
    # sorted: 0.1N 0.2N 0.3N 0.4T 0.6N 0.9T → P_miss 0,0,0,0,.5,.5,1 ; P_fa 1,.75,.5,.25,.25,0,0
    scores = [0.9, 0.4, 0.6, 0.1, 0.2, 0.3]
    labels = [1, 1, 0, 0, 0, 0]
    eer, th = metrics.equal_error_rate(scores, labels)
    assert eer == pytest.approx(0.25)
    assert th == pytest.approx(0.5)
    # p_target 0.01: min over (P_miss + 99 P_fa) = 0.5 ; p_target 0.5: min(P_miss + P_fa) = .25
    assert metrics.min_dcf(scores, labels) == pytest.approx(0.5)
    assert metrics.min_dcf(scores, labels, p_target=0.5) == pytest.approx(0.25)


def test_eer_cases():
    assert metrics.equal_error_rate([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == (0.0, 0.8)
    eer, th = metrics.equal_error_rate([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    assert (eer, th) == (pytest.approx(1 / 3), 0.7)
    assert metrics.min_dcf([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 0.0
    # all scores tied: no threshold separates anything
    assert metrics.equal_error_rate([0.5] * 4, [1, 1, 0, 0]) == (0.5, 0.5)
    assert metrics.min_dcf([0.5] * 4, [1, 1, 0, 0]) == pytest.approx(1.0)


def test_speaker_metrics_need_both_kinds_of_trial():
    with pytest.raises(DatasetError, match="target"):
        metrics.equal_error_rate([0.1, 0.2], [0, 0])
    with pytest.raises(DatasetError, match="non-target"):
        metrics.min_dcf([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        metrics.equal_error_rate([0.1, 0.2], [1, 2])


# ---------------------------------------------------------------------------- comparing models


def _clips(scores_of_trigger: list[float], fa_peaks: list[float], seed: int = 0) -> list:
    """One 20 s clip per trigger (span 9-10 s, the given peak at 10 s) and one hour of
    negatives with the given false-accept peaks."""
    items = [(stream(20, 0.5, {10.0: v}), 0.5, 0.0, [(9.0, 10.0)], 20.0)
             for v in scores_of_trigger]  # fmt: skip
    peaks = {100.0 + 60 * k: v for k, v in enumerate(fa_peaks)}
    items.append((stream(3600, 0.5, peaks), 0.5, 0.0, [], 3600.0))
    return items


def test_error_counts_sum_to_the_det_curve():
    items = _clips([0.9, 0.4, 0.7, 0.2], [0.6, 0.3])
    ths = [0.1, 0.35, 0.5, 0.65, 0.8, 0.95]
    c = metrics.error_counts(items, ths)
    curve = metrics.det_curve(items, ths)
    assert c["missed"].sum(axis=0).tolist() == [p["missed"] for p in curve]
    assert c["false_accepts"].sum(axis=0).tolist() == [p["false_accepts"] for p in curve]
    assert c["triggers"].tolist() == [1, 1, 1, 1, 0] and c["seconds"].sum() == 3680.0


def test_compare_frr_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(0)
    trig = rng.uniform(0.3, 1.0, 60)
    a = metrics.error_counts(_clips(list(trig), [0.8]))
    same = metrics.compare_frr(a, a, budgets=(0.5,), n_boot=300)["0.5"]
    assert same["difference"] == 0.0 and same["difference_95"] == [0.0, 0.0]
    assert same["b_better"] == same["a_better"] == 0.0
    # B scores every trigger higher: at <= 0.5 FA/h (threshold above 0.8) it misses far fewer
    b = metrics.error_counts(_clips(list(np.minimum(trig + 0.3, 0.99)), [0.8]))
    r = metrics.compare_frr(a, b, budgets=(0.5,), n_boot=300)["0.5"]
    th = a["thresholds"][a["thresholds"] > 0.8].min()  # A's lowest threshold with no FA
    assert r["a"] == pytest.approx((trig < th).mean())
    assert r["b"] < r["a"] and r["difference"] == pytest.approx(r["b"] - r["a"])
    assert r["difference_95"][1] < 0 and r["b_better"] > 0.99
    # one trigger apart out of 60: the interval holds 0
    c = metrics.error_counts(_clips(list(trig[:-1]) + [0.95 if trig[-1] <= 0.8 else 0.5], [0.8]))
    near = metrics.compare_frr(a, c, budgets=(0.5,), n_boot=300)["0.5"]
    assert abs(near["difference"]) == pytest.approx(1 / 60)
    assert near["difference_95"][0] <= 0 <= near["difference_95"][1]
    with pytest.raises(DatasetError, match="same streams"):
        metrics.compare_frr(a, metrics.error_counts(_clips([0.5], [])), n_boot=10)


def _speaker_trials(n_spk: int, per: int, noise: float, seed: int = 0):
    """Embeddings of ``n_spk`` speakers (``per`` utterances each) around random centres, and
    the scores, labels and speaker pairs of every pair of utterances."""
    rng = np.random.default_rng(seed)
    spk = np.repeat(np.arange(n_spk), per)
    emb = rng.normal(size=(n_spk, 16))[spk] + noise * rng.normal(size=(spk.size, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    iu = np.triu_indices(spk.size, k=1)
    return (
        (emb @ emb.T)[iu],
        (spk[:, None] == spk[None, :])[iu].astype(int),
        (spk[iu[0]], spk[iu[1]]),
    )


def test_compare_eer_bootstraps_over_speakers():
    good, labels, pairs = _speaker_trials(20, 5, noise=0.6)
    bad, _, _ = _speaker_trials(20, 5, noise=1.6)  # the same speakers and trials, noisier
    same = metrics.compare_eer(good, good, labels, pairs, n_boot=300)
    assert same["difference"] == 0.0 and same["difference_95"] == [0.0, 0.0]
    assert same["a"] == metrics.equal_error_rate(good, labels)[0] and same["speakers"] == 20
    r = metrics.compare_eer(good, bad, labels, pairs, n_boot=300)
    assert r["b"] > r["a"] and r["difference_95"][0] > 0 and r["a_better"] > 0.99
    # the same model on other draws of its noise: the interval holds 0
    other, _, _ = _speaker_trials(20, 5, noise=0.6, seed=0)
    rng = np.random.default_rng(5)
    jitter = other + 0.02 * rng.standard_normal(other.size)
    near = metrics.compare_eer(good, jitter, labels, pairs, n_boot=300)
    assert near["difference_95"][0] <= 0 <= near["difference_95"][1]
    with pytest.raises(DatasetError, match="one pair of speakers per trial"):
        metrics.compare_eer(good, bad, labels, (pairs[0][:-1], pairs[1]))
