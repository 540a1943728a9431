"""What evaluation shows, and the report that ends the main job.

- Notebook 05's displays: :func:`plot_det_curves` (every model's DET curve on one plot),
  :func:`plot_score_histograms` (speaker target / non-target cosine scores),
  :func:`error_clips` (misses and false accepts with an audio player and a spectrogram each),
  :func:`leaderboard` (a table).
- :func:`write_pipeline_report`: after ``heyjoe pipeline`` has run the notebooks, ONE
  self-contained HTML page (every figure embedded as a base64 PNG, no external files) in a new
  run directory ``runs/<UTC timestamp>_pipeline_<tag>/report.html``, with each notebook's
  status, duration, key metrics and figures, and where every run record is; and
  :func:`pipeline_summary`, the short version for the terminal.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lib import files, paths
from lib.plots import _player_html, _pyplot, html_table

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"


# ---------------------------------------------------------------------------- notebook displays


def plot_det_curves(
    curves: dict[str, Sequence[dict[str, Any]]],
    fa_targets: Sequence[float] = (0.5, 0.2, 0.1),
    marks: dict[str, float] | None = None,
) -> Any:
    """Every model's DET curve (false-reject rate against false accepts per hour, log x) on one
    plot; dotted lines at the target rates; ``marks``: name → threshold to mark on its curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    floor = 0.05
    for name, curve in curves.items():
        pts = [
            (p["false_accepts_per_hour"], p["false_reject_rate"], p["threshold"])
            for p in curve
            if p["false_accepts_per_hour"] is not None and p["false_reject_rate"] is not None
        ]
        if not pts:
            continue
        fa, frr, th = (np.asarray(v, dtype=float) for v in zip(*pts, strict=True))
        # merging makes raw points non-monotone; draw what is reachable: the lowest
        # false-reject rate at or below each false-accept rate
        order = np.lexsort((frr, fa))
        env = np.minimum.accumulate(frr[order])
        (line,) = ax.step(np.maximum(fa[order], floor), env, where="post", label=name)
        if marks and name in marks:
            k = int(np.argmin(np.abs(th - marks[name])))
            ax.plot(max(fa[k], floor), frr[k], "o", color=line.get_color())
    for t in fa_targets:
        ax.axvline(t, color="0.6", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (values below {floor:g} drawn at {floor:g})")
    ax.set_ylabel("false-reject rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    ax.set_title("DET curves: lowest false-reject rate at each false-accept rate (dot: chosen)")
    fig.tight_layout()
    return fig


def plot_score_histograms(results: dict[str, dict[str, Any]]) -> Any:
    """Target and non-target cosine scores of each speaker model (one panel per model);
    ``results``: name → :func:`lib.evaluate.evaluate_speaker` output."""
    plt = _pyplot()
    n = max(1, len(results))
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=False):
        bins = np.linspace(-1, 1, 41)
        ax.hist(res["scores"]["nontarget"], bins=bins, alpha=0.6, label="different speaker")
        ax.hist(res["scores"]["target"], bins=bins, alpha=0.6, label="same speaker")
        ax.axvline(res["eer_threshold"], color="k", ls="--", lw=1, label="EER threshold")
        ax.set_title(f"{name}: EER {100 * res['eer']:.1f} %, minDCF {res['min_dcf']:.3f}")
        ax.set_xlabel("cosine score")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _excerpt(path: Path, center: float, context: float) -> tuple[np.ndarray, int, float]:
    import soundfile as sf

    info = sf.info(str(path))
    sr = info.samplerate
    start = max(0.0, center - context)
    stop = min(info.duration, center + context)
    x, sr = sf.read(str(path), start=int(start * sr), stop=int(stop * sr), dtype="float32",
                    always_2d=True)  # fmt: skip
    return x.mean(axis=1), sr, start


def _spectrogram_png(x: np.ndarray, sr: int, t0: float, spans: Sequence[tuple[float, float]],
                     marks: Sequence[float]) -> str:  # fmt: skip
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 1.8))
    if len(x) > 256:
        ax.specgram(x, NFFT=256, Fs=sr, noverlap=128, xextent=(t0, t0 + len(x) / sr), cmap="magma")
    for a, b in spans:
        ax.axvspan(a, b, color="lime", alpha=0.25)
    for t in marks:
        ax.axvline(t, color="cyan", lw=1.5)
    ax.set_ylim(0, min(sr / 2, 8000))
    ax.set_xlabel("s")
    ax.set_yticks([])
    fig.tight_layout()
    data = figure_png(fig)
    plt.close(fig)
    return f'<img src="data:image/png;base64,{data}">'


def error_clips(errors: Sequence[dict[str, Any]], max_clips: int = 6, context: float = 2.5) -> Any:
    """A table of misses and false accepts (from :func:`lib.evaluate.clip_errors`): file, what
    went wrong and when, a player and a spectrogram of the few seconds around it (labelled span
    green, false accept cyan). What to label or synthesise next."""
    rows = []
    for err in errors:
        path = Path(err["path"])
        events = [("miss", (a + b) / 2, [(a, b)], []) for a, b in err["missed"]]
        events += [("false accept", t, [], [t]) for t in err["false_accepts"]]
        for kind, center, spans, marks in events:
            if len(rows) >= max_clips:
                break
            try:
                x, sr, t0 = _excerpt(path, center, context)
            except Exception as exc:  # noqa: BLE001 — show what can be shown
                log.warning("%s: cannot show (%s)", path, exc)
                continue
            rows.append({
                "file": err["file"], "error": kind, "at (s)": f"{center:.2f}",
                "player": _player_html(x, sr),
                "spectrogram": _spectrogram_png(x, sr, t0, spans, marks),
            })  # fmt: skip
    return _html_rows(rows)


def _html_rows(rows: list[dict[str, Any]]) -> Any:
    from IPython.display import HTML

    if not rows:
        return HTML("<p><em>no misses and no false accepts</em></p>")
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)

    def cell(v: Any) -> str:
        s = str(v)
        return s if s.startswith(("<audio ", "<img ")) else html.escape(s)

    body = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in cols) + "</tr>"
                   for r in rows)  # fmt: skip
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def leaderboard(rows: Sequence[dict[str, Any]]) -> Any:
    """The model leaderboard as an HTML table (best first, as given)."""
    return html_table(list(rows))


# ---------------------------------------------------------------------------- pipeline report


def figure_png(fig: Any) -> str:
    """A matplotlib figure as base64 PNG text."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _scalar(v: Any) -> bool:
    return (isinstance(v, (int, float, str, bool)) or v is None) and not (
        isinstance(v, float) and not math.isfinite(v)
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run_summary(run_dir: Path) -> dict[str, Any]:
    """What the report shows of one run: notebook, status, duration, scalar metrics, figures."""
    run = files.read_json_dict(run_dir / "run.json")
    metrics = files.read_json_dict(run_dir / "metrics.json")
    return {
        "notebook": run.get("notebook", run_dir.name),
        "status": run.get("status", "unknown"),
        "duration_seconds": run.get("duration_seconds"),
        "dir": str(run_dir),
        "metrics": {k: v for k, v in metrics.items() if _scalar(v)},
        "figures": sorted(str(p) for p in (run_dir / "figures").glob("*.png")),
    }


def pipeline_summary(run_dirs: Sequence[Path], report: Path | None = None,
                     max_metrics: int = 5) -> str:  # fmt: skip
    """A few lines for the terminal: each notebook's status, duration and key metrics."""
    lines = []
    for d in run_dirs:
        s = run_summary(Path(d))
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in list(s["metrics"].items())[:max_metrics])
        dur = s["duration_seconds"]
        lines.append(f"{s['notebook']:<20} {s['status']:<10} "
                     f"{'' if dur is None else f'{dur:.0f} s':>7}  {shown}")  # fmt: skip
    if run_dirs:
        lines.append(f"run records: {Path(run_dirs[0]).parent}")
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;font-size:90%;vertical-align:top}th{background:#f3f3f3}
img{max-width:100%;margin:.5em 0;border:1px solid #eee}code{background:#f6f6f6;padding:1px 3px}
.failed{color:#b00}.succeeded{color:#070}"""


def render_report(run_dirs: Sequence[Path], title: str, extra: dict[str, Any] | None = None) -> str:
    """The self-contained HTML page of a pipeline run (figures embedded)."""
    summaries = [run_summary(Path(d)) for d in run_dirs]
    esc = html.escape
    env = files.read_json_dict(Path(run_dirs[0]) / "environment.json") if run_dirs else {}
    total = sum(s["duration_seconds"] or 0 for s in summaries)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
        f"<p>{len(summaries)} notebook(s), {total:.0f} s in all; written "
        f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"git commit <code>{esc(str(env.get('git_commit')))}</code>"
        f"{' (with uncommitted changes)' if env.get('git_dirty') else ''}; "
        f"CPU {esc(str(env.get('cpu')))}, GPUs {esc(str(env.get('gpus') or 'none'))}.</p>",
        "<h2>Summary</h2><table><tr><th>notebook</th><th>status</th><th>seconds</th>"
        "<th>key metrics</th></tr>",
    ]
    for s in summaries:
        shown = "<br>".join(f"{esc(k)} = {esc(_fmt(v))}" for k, v in list(s["metrics"].items())[:8])
        dur = "" if s["duration_seconds"] is None else f"{s['duration_seconds']:.0f}"
        parts.append(f"<tr><td><a href='#{esc(s['notebook'])}'>{esc(s['notebook'])}</a></td>"
                     f"<td class='{esc(s['status'])}'>{esc(s['status'])}</td><td>{dur}</td>"
                     f"<td>{shown}</td></tr>")  # fmt: skip
    parts.append("</table>")
    if extra:
        parts.append("<h2>Notes</h2><ul>" + "".join(
            f"<li>{esc(k)}: {esc(_fmt(v))}</li>" for k, v in extra.items()) + "</ul>")  # fmt: skip
    for s in summaries:
        parts.append(f"<h2 id='{esc(s['notebook'])}'>{esc(s['notebook'])}</h2>")
        parts.append(
            f"<p>run record: <code>{esc(s['dir'])}</code> (executed notebook, "
            "params.yaml, environment.json, run.log, metrics.json, figures/)</p>"
        )
        if s["metrics"]:
            parts.append("<table>" + "".join(
                f"<tr><td>{esc(k)}</td><td>{esc(_fmt(v))}</td></tr>"
                for k, v in s["metrics"].items()) + "</table>")  # fmt: skip
        for fig in s["figures"]:
            data = base64.b64encode(Path(fig).read_bytes()).decode("ascii")
            parts.append(f"<p>{esc(Path(fig).stem)}</p><img alt='{esc(Path(fig).stem)}' "
                         f"src='data:image/png;base64,{data}'>")  # fmt: skip
    parts.append("<h2>Where the records are</h2><ul>")
    parts += [f"<li><code>{esc(s['dir'])}</code></li>" for s in summaries]
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def write_pipeline_report(
    run_dirs: Sequence[Path], profile: str = "full", tag: str | None = None
) -> Path:
    """Write ``runs/<ts>_pipeline_<tag>/report.html`` (and ``report.json`` listing the runs);
    returns the HTML file's path."""
    from lib import runs

    run_dirs = [Path(d) for d in run_dirs]
    out_dir = runs.new_run_dir("pipeline", tag or profile)
    title = f"heyjoe pipeline ({profile} profile)"
    page = render_report(run_dirs, title)
    path = files.write_text(out_dir / REPORT_NAME, page)
    files.write_json(out_dir / "report.json", {
        "profile": profile,
        "runs": [d.name for d in run_dirs],
        "summary": [run_summary(d) for d in run_dirs],
    })  # fmt: skip
    log.info("pipeline report: %s", path)
    return path


def find_pipeline_report(run_dirs: Sequence[Path]) -> Path | None:
    """The newest pipeline report made from exactly these runs, if any."""
    names = [Path(d).name for d in run_dirs]
    for cand in sorted(paths.runs_dir().glob("*_pipeline_*/report.json"), reverse=True):
        same = files.read_json_dict(cand).get("runs") == names
        if same and (cand.parent / REPORT_NAME).is_file():
            return cand.parent / REPORT_NAME
    return None
