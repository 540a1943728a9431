"""Evaluation metrics: event-based trigger-word metrics and speaker-verification metrics.

Trigger word (frame accuracy says nothing here: an all-zero model scores about 90 %):

- **Scores → events.** Score ``i`` of a stream is the model's output for the audio heard up to
  ``offset_seconds + i * hop_seconds``. The score is *above* the threshold when
  ``score >= threshold``. A *rising edge* is a step that is above while the step before it
  is not (the first step counts as a rising edge when it is above). Each event starts a
  refractory window ``[t, t + refractory)``: further rising edges strictly inside it are
  merged into that event; the first rising edge at or after ``t + refractory`` starts the
  next event (and the next window). A score that simply stays above the threshold gives one
  event, however long it stays there.
- **Matching.** A labelled trigger spanning ``[start, end]`` is *detected* when at least one
  event time ``t`` satisfies ``start <= t <= end + tolerance`` (both ends inclusive).
  false-reject rate = missed / labelled. An event inside no such window is a *false accept*;
  false accepts per hour = false accepts / hours of audio scored.
- **Undefined values are None**, never a made-up number: the false-reject rate with no
  labelled triggers, false accepts per hour with no audio. (None is JSON ``null``.)
- A threshold sweep gives the DET curve; :func:`frr_at_fa_per_hour` reads the operating point
  "lowest false-reject rate among thresholds with false accepts per hour <= target".
- **How sure a figure is.** Each rate comes with a 95 % interval: Wilson's for the
  false-reject rate (missed out of labelled, a binomial proportion), the exact (Garwood)
  Poisson interval for false accepts per hour. With 35 labelled triggers an FRR of 51 % is
  [35 %, 67 %]; one hour without a false accept is [0, 3.7] per hour. Two models whose
  intervals overlap this much are not told apart by the evaluation.

Speaker verification: equal error rate and minDCF (NIST SRE / VoxCeleb convention:
``DCF(t) = c_miss * P_miss(t) * p_target + c_fa * P_fa(t) * (1 - p_target)``, normalised by
``min(c_miss * p_target, c_fa * (1 - p_target))`` and minimised over thresholds) on scores
such as cosine similarities, with label 1 = same speaker (target trial).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lib.errors import DatasetError

#: one scored stream: (scores, hop_seconds, offset_seconds, spans, duration_seconds)
Item = tuple[np.ndarray, float, float, Sequence[tuple[float, float]], float]

#: the operating points every trigger evaluation reports (false accepts per hour)
FA_PER_HOUR_TARGETS = (0.5, 0.2, 0.1)
#: the budgets (false accepts per hour) models are compared at: the goal's, and looser ones
COMPARISON_BUDGETS = (0.5, 2.0, 5.0, 10.0, 50.0)


# ---------------------------------------------------------------------------- trigger word


def _scores_array(scores: Any) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:  # (n, 1) model outputs
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {np.shape(scores)}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError("scores contain NaN or infinite values")
    return arr


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def scores_to_events(
    scores: Any,
    hop_seconds: float,
    offset_seconds: float,
    threshold: float,
    refractory_seconds: float = 2.0,
) -> np.ndarray:
    """Event times in seconds (sorted): rising edges above ``threshold``, merged within the
    refractory period (see the module docstring for the exact rule)."""
    s = _scores_array(scores)
    _check_positive("hop_seconds", hop_seconds)
    _check_positive("refractory_seconds", refractory_seconds, allow_zero=True)
    if s.size == 0:
        return np.zeros(0)
    above = s >= threshold
    rising = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
    if rising.size == 0:
        return np.zeros(0)
    times = offset_seconds + rising * float(hop_seconds)
    if refractory_seconds <= 0:
        return times
    # greedy merge; at most duration / refractory events, so loop over events, not edges
    events = []
    i = 0
    eps = 1e-9 * max(1.0, float(hop_seconds))  # t + refractory that lands on a step is "at"
    while i < times.size:
        t = times[i]
        events.append(t)
        i = int(np.searchsorted(times, t + refractory_seconds - eps, side="left"))
    return np.asarray(events)


def _check_spans(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for k, span in enumerate(spans):
        try:
            start, end = float(span[0]), float(span[1])
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"span {k} must be (start, end) in seconds, got {span!r}") from None
        if not (np.isfinite(start) and np.isfinite(end)) or end < start:
            raise ValueError(f"span {k} must have start <= end, got {span!r}")
        out.append((start, end))
    return out


def match_events(
    event_times: Any,
    spans: Sequence[tuple[float, float]],
    tolerance: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(detected, false_accept_times)``: one bool per span (an event in
    ``[start, end + tolerance]``) and the times of events inside no span's window."""
    _check_positive("tolerance", tolerance, allow_zero=True)
    ev = np.asarray(event_times, dtype=np.float64).reshape(-1)
    sp = _check_spans(spans)
    detected = np.zeros(len(sp), dtype=bool)
    in_window = np.zeros(ev.size, dtype=bool)
    for k, (start, end) in enumerate(sp):
        hit = (ev >= start) & (ev <= end + tolerance)
        detected[k] = bool(hit.any())
        in_window |= hit
    return detected, ev[~in_window]


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den > 0 else None


def _listed(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 4), round(interval[1], 4)]


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % (``z`` = 1.96) Wilson score interval of the proportion ``k / n``; None when n = 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise DatasetError(f"a proportion needs 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def poisson_rate_interval(
    count: int, exposure: float, level: float = 0.95
) -> tuple[float, float] | None:
    """Exact (Garwood) interval of a Poisson rate: ``count`` events in ``exposure`` units (e.g.
    hours); None when there is no exposure."""
    if exposure <= 0:
        return None
    from scipy.stats import chi2

    alpha = 1.0 - level
    lo = 0.0 if count == 0 else chi2.ppf(alpha / 2, 2 * count) / 2
    hi = chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return float(lo / exposure), float(hi / exposure)


def _item_errors(
    item: Item, threshold: float, tolerance: float, refractory: float
) -> tuple[np.ndarray, np.ndarray, float]:
    scores, hop, offset, spans, duration = item
    events = scores_to_events(scores, hop, offset, threshold, refractory)
    detected, fa = match_events(events, spans, tolerance)
    return detected, fa, float(duration)


def trigger_metrics(
    items: Sequence[Item],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> dict[str, Any]:
    """Event-based metrics over scored streams at one threshold.

    ``items``: ``(scores, hop_seconds, offset_seconds, spans, duration_seconds)`` per stream,
    ``spans`` the labelled triggers ``(start, end)`` in seconds. Returns ``threshold``,
    ``n_files``, ``n_triggers``, ``detected``, ``missed``, ``false_reject_rate`` (None without
    labelled triggers), ``false_accepts``, ``hours``, ``false_accepts_per_hour`` (None without
    audio), their 95 % intervals ``false_reject_rate_95`` (Wilson) and
    ``false_accepts_per_hour_95`` (exact Poisson) as ``[low, high]`` or None, ``tolerance`` and
    ``refractory``.
    """
    n_triggers = detected_total = false_accepts = 0
    seconds = 0.0
    for item in items:
        detected, fa, duration = _item_errors(item, threshold, tolerance, refractory)
        _check_positive("duration_seconds", duration, allow_zero=True)
        n_triggers += detected.size
        detected_total += int(detected.sum())
        false_accepts += fa.size
        seconds += duration
    hours = seconds / 3600.0
    return {
        "threshold": float(threshold),
        "n_files": len(items),
        "n_triggers": n_triggers,
        "detected": detected_total,
        "missed": n_triggers - detected_total,
        "false_reject_rate": _ratio(n_triggers - detected_total, n_triggers),
        "false_accepts": false_accepts,
        "hours": hours,
        "false_accepts_per_hour": _ratio(false_accepts, hours),
        "false_reject_rate_95": _listed(wilson_interval(n_triggers - detected_total, n_triggers)),
        "false_accepts_per_hour_95": _listed(poisson_rate_interval(false_accepts, hours)),
        "tolerance": float(tolerance),
        "refractory": float(refractory),
    }


def frr_by_group(
    items: Sequence[Item],
    groups: Sequence[Sequence[str]],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> dict[str, dict[str, Any]]:
    """False-reject rate per group of triggers (a voice, a speaker) at one threshold.

    ``groups[i][k]`` names the group of span ``k`` of item ``i`` (the item's span order).
    Returns ``{group: {triggers, missed, false_reject_rate, false_reject_rate_95}}``, groups
    sorted by name; raises DatasetError when an item's names and spans differ in number."""
    if len(groups) != len(items):
        raise DatasetError(f"frr_by_group: {len(groups)} group lists for {len(items)} items")
    counts: dict[str, list[int]] = {}
    for index, (item, names) in enumerate(zip(items, groups, strict=True)):
        detected, _, _ = _item_errors(item, threshold, tolerance, refractory)
        if len(names) != detected.size:
            raise DatasetError(
                f"frr_by_group: item {index} has {detected.size} spans but {len(names)} names"
            )
        for name, hit in zip(names, detected, strict=True):
            c = counts.setdefault(str(name), [0, 0])
            c[0] += 1
            c[1] += int(not hit)
    return {
        name: {
            "triggers": n,
            "missed": missed,
            "false_reject_rate": missed / n,
            "false_reject_rate_95": _listed(wilson_interval(missed, n)),
        }
        for name, (n, missed) in sorted(counts.items())
    }


def clip_errors(
    items: Sequence[Item],
    threshold: float,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> list[dict[str, Any]]:
    """Per stream: ``index``, the ``missed`` spans and the ``false_accepts`` times (seconds),
    for listing what to label or synthesise next."""
    out = []
    for index, item in enumerate(items):
        detected, fa, _ = _item_errors(item, threshold, tolerance, refractory)
        spans = _check_spans(item[3])
        out.append(
            {
                "index": index,
                "missed": [spans[k] for k in np.flatnonzero(~detected)],
                "false_accepts": [float(t) for t in fa],
            }
        )
    return out


def default_thresholds(items: Sequence[Item], n: int = 101) -> np.ndarray:
    """Thresholds for a sweep: a 0..1 grid refined near 1 for sigmoid outputs, otherwise
    quantiles of the scores; always ending just above the highest score, so the curve reaches
    "no events at all" (false-reject rate 1, no false accepts)."""
    parts = [_scores_array(item[0]) for item in items]
    allv = np.concatenate(parts) if parts else np.zeros(0)
    if allv.size == 0:
        return np.linspace(0.0, 1.0, n)
    lo, hi = float(allv.min()), float(allv.max())
    if lo >= 0.0 and hi <= 1.0:
        grid = np.concatenate([np.linspace(0.0, 1.0, n), 1.0 - np.logspace(-1.0, -4.0, 31)])
        return np.unique(np.concatenate([np.round(grid, 6), [np.nextafter(1.0, 2.0)]]))
    qs = np.quantile(allv, np.linspace(0.0, 1.0, n))
    return np.unique(np.concatenate([qs, [np.nextafter(hi, np.inf)]]))


def det_curve(
    items: Sequence[Item],
    thresholds: Sequence[float] | np.ndarray | None = None,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> list[dict[str, Any]]:
    """The detection-error trade-off: one point per threshold (ascending), each a dict with
    ``threshold``, ``false_reject_rate``, ``false_accepts_per_hour``, ``false_accepts``,
    ``missed`` and the two rates' 95 % intervals (``false_reject_rate_95``,
    ``false_accepts_per_hour_95``)."""
    ths = default_thresholds(items) if thresholds is None else np.asarray(thresholds, float)
    curve = []
    for th in np.sort(ths.reshape(-1)):
        m = trigger_metrics(items, float(th), tolerance, refractory)
        curve.append(
            {
                "threshold": float(th),
                "false_reject_rate": m["false_reject_rate"],
                "false_accepts_per_hour": m["false_accepts_per_hour"],
                "false_accepts": m["false_accepts"],
                "missed": m["missed"],
                "false_reject_rate_95": m["false_reject_rate_95"],
                "false_accepts_per_hour_95": m["false_accepts_per_hour_95"],
            }
        )
    return curve


def error_counts(
    items: Sequence[Item],
    thresholds: Sequence[float] | np.ndarray | None = None,
    tolerance: float = 1.0,
    refractory: float = 2.0,
) -> dict[str, np.ndarray]:
    """Per stream and threshold, what :func:`det_curve` sums: ``thresholds`` (T,),
    ``triggers`` (F,), ``missed`` (F, T), ``false_accepts`` (F, T) and ``seconds`` (F,), so
    that curves of resampled sets of streams are weighted sums (:func:`compare_frr`)."""
    ths = np.sort(
        (default_thresholds(items) if thresholds is None else np.asarray(thresholds, float))
        .reshape(-1)
    )  # fmt: skip
    n, t = len(items), len(ths)
    out = {
        "thresholds": ths,
        "triggers": np.zeros(n),
        "missed": np.zeros((n, t)),
        "false_accepts": np.zeros((n, t)),
        "seconds": np.zeros(n),
    }
    for i, item in enumerate(items):
        for j, th in enumerate(ths):
            detected, fa, duration = _item_errors(item, float(th), tolerance, refractory)
            out["missed"][i, j] = detected.size - int(detected.sum())
            out["false_accepts"][i, j] = fa.size
        out["triggers"][i] = len(_check_spans(item[3]))
        out["seconds"][i] = float(item[4])
    return out


def _frr_at_budget(counts: dict[str, np.ndarray], weights: np.ndarray, budget: float) -> np.ndarray:
    """FRR at <= ``budget`` FA/h for each row of ``weights`` (B, F): the lowest false-reject
    rate among thresholds within the budget (1.0 where none is)."""
    trig = weights @ counts["triggers"]
    hours = weights @ counts["seconds"] / 3600.0
    missed = weights @ counts["missed"]
    fa = weights @ counts["false_accepts"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frr = missed / trig[:, None]
        fa_h = fa / hours[:, None]
    ok = (fa_h <= budget) & np.isfinite(frr)
    return np.where(ok, frr, np.inf).min(axis=1).clip(max=1.0)


def compare_frr(
    a: dict[str, np.ndarray],
    b: dict[str, np.ndarray],
    budgets: Sequence[float] = COMPARISON_BUDGETS,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Is model B's false-reject rate at each false-accepts-per-hour budget lower than model
    A's on the same streams, or is the difference noise? A paired bootstrap: the streams are
    resampled with replacement (those with triggers and those without separately, so every
    sample has both), each sample's DET curves are read for both models, and the 2.5th and
    97.5th percentiles of B - A give the interval. Per budget: ``a``, ``b``, ``difference``
    (B - A, negative = B better), ``difference_95``, ``b_better`` and ``a_better`` (shares of
    the samples where each is strictly lower). ``a`` and ``b`` come from :func:`error_counts`
    over the same streams in the same order."""
    if len(a["triggers"]) != len(b["triggers"]) or not np.array_equal(a["triggers"], b["triggers"]):
        raise DatasetError("compare_frr: the two models were not scored on the same streams")
    if n_boot < 1:
        raise DatasetError(f"compare_frr: n_boot must be >= 1, got {n_boot}")
    n = len(a["triggers"])
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, n))
    for group in (np.flatnonzero(a["triggers"] > 0), np.flatnonzero(a["triggers"] == 0)):
        if group.size:
            draws = rng.integers(group.size, size=(n_boot, group.size))
            np.add.at(weights, (np.arange(n_boot)[:, None], group[draws]), 1.0)
    full = np.ones((1, n))
    out = {}
    for budget in budgets:
        fa, fb = (_frr_at_budget(c, full, budget)[0] for c in (a, b))
        da = _frr_at_budget(a, weights, budget)
        db = _frr_at_budget(b, weights, budget)
        out[f"{budget:g}"] = {
            "a": float(fa),
            "b": float(fb),
            "difference": float(fb - fa),
            **_bootstrap_summary(db - da),
        }
    return out


def _bootstrap_summary(diff: np.ndarray) -> dict[str, Any]:
    """Of bootstrap differences B − A (NaN draws left out of the interval): the 95 %
    interval ``difference_95`` and the shares of draws where each model is strictly lower,
    ``b_better`` and ``a_better`` (:func:`compare_frr`, :func:`compare_eer`)."""
    lo, hi = np.nanpercentile(diff, [2.5, 97.5])
    return {
        "difference_95": [round(float(lo), 4), round(float(hi), 4)],
        "b_better": round(float((diff < 0).mean()), 4),
        "a_better": round(float((diff > 0).mean()), 4),
    }


def frr_at_fa_per_hour(curve: Sequence[dict[str, Any]], fa_per_hour: float) -> float | None:
    """The lowest false-reject rate among curve points with false accepts per hour <=
    ``fa_per_hour``; None when no point qualifies or the rate is undefined (no triggers)."""
    ok = [
        p["false_reject_rate"]
        for p in curve
        if p.get("false_accepts_per_hour") is not None
        and p["false_accepts_per_hour"] <= fa_per_hour
        and p.get("false_reject_rate") is not None
    ]
    return float(min(ok)) if ok else None


def threshold_at_fa_per_hour(curve: Sequence[dict[str, Any]], fa_per_hour: float) -> float | None:
    """The threshold of the point :func:`frr_at_fa_per_hour` picks (lowest such threshold)."""
    best = frr_at_fa_per_hour(curve, fa_per_hour)
    if best is None:
        return None
    for p in sorted(curve, key=lambda p: p["threshold"]):
        fa = p.get("false_accepts_per_hour")
        if fa is not None and fa <= fa_per_hour and p.get("false_reject_rate") == best:
            return float(p["threshold"])
    return None


# ---------------------------------------------------------------------------- speaker


def _trial_arrays(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    if s.size != lab.size:
        raise ValueError(f"{s.size} scores but {lab.size} labels")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    if not np.all(np.isin(lab, (0, 1))):
        raise ValueError("labels must be 0 (different speakers) or 1 (same speaker)")
    lab = lab.astype(bool)
    if not lab.any() or lab.all():
        kind = "target (label 1)" if not lab.any() else "non-target (label 0)"
        raise DatasetError(f"the trials hold no {kind} trial; EER and minDCF need both kinds")
    return s, lab


def _error_rates(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P_miss, P_fa, thresholds) for "accept when score >= threshold", ties kept together;
    from accept-all (threshold = lowest score) to reject-all (threshold = +inf)."""
    s, lab = _trial_arrays(scores, labels)
    order = np.argsort(s, kind="mergesort")
    s, lab = s[order], lab[order]
    n_tar, n_non = lab.sum(), (~lab).sum()
    miss = np.concatenate(([0], np.cumsum(lab))) / n_tar  # targets below threshold k
    fa = 1.0 - np.concatenate(([0], np.cumsum(~lab))) / n_non  # non-targets at/above
    th = np.concatenate((s, [np.inf]))
    keep = np.concatenate(([True], s[1:] != s[:-1], [True]))  # threshold at each new value
    return miss[keep], fa[keep], th[keep]


def _weighted_eer(lab: np.ndarray, w: np.ndarray, new_value: np.ndarray) -> np.ndarray:
    """EERs of trials sorted by score, for each row of weights ``w`` (B, T); ``new_value``
    marks where a new score starts (ties stay together), as in :func:`equal_error_rate`."""
    wt, wn = w * lab, w * ~lab
    n_tar, n_non = wt.sum(axis=1, keepdims=True), wn.sum(axis=1, keepdims=True)
    zero = np.zeros((w.shape[0], 1))
    with np.errstate(divide="ignore", invalid="ignore"):  # a draw of one speaker: NaN
        miss = np.concatenate([zero, np.cumsum(wt, axis=1)], axis=1)[:, new_value] / n_tar
        fa = 1.0 - np.concatenate([zero, np.cumsum(wn, axis=1)], axis=1)[:, new_value] / n_non
    k = np.argmax(miss >= fa, axis=1)
    rows = np.arange(w.shape[0])
    k0 = np.maximum(k - 1, 0)
    d0 = fa[rows, k0] - miss[rows, k0]
    d1 = miss[rows, k] - fa[rows, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(d0 + d1 > 0, d0 / (d0 + d1), 1.0)
    eer = miss[rows, k0] + alpha * (miss[rows, k] - miss[rows, k0])
    return np.where(k == 0, miss[rows, 0], eer)


def compare_eer(
    scores_a: Any,
    scores_b: Any,
    labels: Any,
    speakers: tuple[Any, Any],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Is speaker model B's equal error rate lower than A's on the same trials, or is the
    difference noise? A paired bootstrap over the *speakers* (trials of one speaker are not
    independent): each sample draws the speakers with replacement and weighs each trial by
    how often its speakers were drawn (a same-speaker trial by the count of its speaker, a
    different-speaker one by the product of the two). ``speakers``: the speakers of each
    trial's two sides. Returns ``a``, ``b``, ``difference`` (B − A), ``difference_95``,
    ``b_better``, ``a_better`` and ``speakers``."""
    sa, lab = _trial_arrays(scores_a, labels)
    sb, _ = _trial_arrays(scores_b, labels)
    if sa.size != sb.size:
        raise DatasetError(f"compare_eer: {sa.size} trials for A but {sb.size} for B")
    left, right = (np.asarray(x).reshape(-1) for x in speakers)
    if left.size != sa.size or right.size != sa.size:
        raise DatasetError("compare_eer: one pair of speakers per trial is needed")
    if n_boot < 1:
        raise DatasetError(f"compare_eer: n_boot must be >= 1, got {n_boot}")
    names, idx = np.unique(np.concatenate([left, right]), return_inverse=True)
    li, ri = idx[: sa.size], idx[sa.size :]
    rng = np.random.default_rng(seed)
    draws = rng.integers(names.size, size=(n_boot, names.size))
    counts = np.zeros((n_boot, names.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    w = np.where(lab, counts[:, li], counts[:, li] * counts[:, ri])
    out: dict[str, Any] = {"speakers": int(names.size)}
    boot = []
    for key, s in (("a", sa), ("b", sb)):
        order = np.argsort(s, kind="mergesort")
        s_sorted = s[order]
        new_value = np.concatenate(([True], s_sorted[1:] != s_sorted[:-1], [True]))
        out[key] = equal_error_rate(s, lab.astype(int))[0]
        boot.append(_weighted_eer(lab[order], w[:, order], new_value))
    out.update({"difference": out["b"] - out["a"], **_bootstrap_summary(boot[1] - boot[0])})
    return out


def equal_error_rate(scores: Any, labels: Any) -> tuple[float, float]:
    """``(eer, threshold)``: where the miss and false-alarm rates cross, linearly
    interpolated between neighbouring thresholds (accept when score >= threshold)."""
    miss, fa, th = _error_rates(scores, labels)
    k = int(np.argmax(miss >= fa))  # miss rises 0→1, fa falls 1→0: a crossing exists
    if k == 0:
        return float(miss[0]), float(th[0])
    d0 = fa[k - 1] - miss[k - 1]
    d1 = miss[k] - fa[k]
    alpha = d0 / (d0 + d1) if d0 + d1 > 0 else 1.0
    eer = miss[k - 1] + alpha * (miss[k] - miss[k - 1])
    t0, t1 = th[k - 1], th[k]
    threshold = t0 + alpha * (t1 - t0) if np.isfinite(t1) else t0
    return float(eer), float(threshold)


def min_dcf(
    scores: Any,
    labels: Any,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    """Normalised minimum detection cost (NIST SRE / VoxCeleb convention, <= 1)."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target!r}")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError("c_miss and c_fa must be > 0")
    miss, fa, _ = _error_rates(scores, labels)
    dcf = c_miss * miss * p_target + c_fa * fa * (1.0 - p_target)
    c_def = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(dcf.min() / c_def)
