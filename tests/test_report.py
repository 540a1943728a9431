"""The pipeline report (one self-contained HTML page) and notebook 05's displays."""

from __future__ import annotations

import json

import numpy as np

from lib import files, paths, report, runs
from lib.audio import write_wav


def fake_run(notebook: str, metrics: dict, status: str = "succeeded", figure: bool = True):
    run_dir = runs.new_run_dir(notebook, "test")
    files.write_json(run_dir / "run.json", {"notebook": notebook, "status": status,
                                            "duration_seconds": 12.5})  # fmt: skip
    files.write_json(run_dir / "metrics.json", metrics)
    files.write_json(run_dir / "environment.json", {"git_commit": "abc123", "cpu": "test cpu"})
    if figure:
        plt = report._pyplot()
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        fig.savefig(run_dir / "figures" / "curve.png")
        plt.close(fig)
    return run_dir


def test_pipeline_report_is_one_self_contained_page():
    a = fake_run("01_synthesize", {"dataset_examples": 40, "nested": {"x": 1}})
    b = fake_run("05_evaluate", {"chosen_model": "hey_joe", "chosen_threshold": 0.8125})
    path = report.write_pipeline_report([a, b], profile="quick")
    assert path.name == "report.html" and path.parent.parent == paths.runs_dir()
    assert "_pipeline_quick" in path.parent.name
    page = path.read_text()
    assert page.count("data:image/png;base64,") == 2  # both figures embedded
    assert 'src="http' not in page and "src='figures" not in page  # nothing external
    assert "dataset_examples" in page and "0.8125" in page and "hey_joe" in page
    assert "nested" not in page  # only scalar metrics are shown
    assert str(a) in page and str(b) in page  # where the run records are
    assert report.find_pipeline_report([a, b]) == path
    assert report.find_pipeline_report([b]) is None
    summary = report.pipeline_summary([a, b], path)
    assert "01_synthesize" in summary and "succeeded" in summary
    assert "chosen_model=hey_joe" in summary and f"report: {path}" in summary
    assert json.loads((path.parent / "report.json").read_text())["runs"] == [a.name, b.name]


def test_failed_run_and_missing_files_still_render():
    a = fake_run("03_train", {}, status="failed", figure=False)
    (a / "metrics.json").unlink()
    page = report.render_report([a], "t")
    assert "class='failed'" in page


def test_det_plot_histograms_and_error_clips(tmp_path):
    curve = [
        {"threshold": 0.2, "false_reject_rate": 0.1, "false_accepts_per_hour": 5.0},
        {"threshold": 0.5, "false_reject_rate": 0.3, "false_accepts_per_hour": 0.0},
        {"threshold": 1.0, "false_reject_rate": None, "false_accepts_per_hour": 0.0},
    ]
    fig = report.plot_det_curves({"m": curve}, marks={"m": 0.5})
    assert len(fig.axes[0].lines) >= 2 and fig.axes[0].get_xscale() == "log"
    res = {"eer": 0.1, "eer_threshold": 0.5, "min_dcf": 0.3,
           "scores": {"target": [0.8, 0.9], "nontarget": [0.1, 0.2]}}  # fmt: skip
    assert len(report.plot_score_histograms({"s": res}).axes) == 1
    wav = tmp_path / "x.wav"
    write_wav(wav, 0.1 * np.random.default_rng(0).standard_normal(16000 * 8), 16000)
    errors = [{"file": "x.wav", "path": str(wav), "missed": [(1.0, 1.5)],
               "false_accepts": [6.0, 7.9]}]  # fmt: skip
    html = report.error_clips(errors, max_clips=2).data
    assert html.count("<audio ") == 2 and html.count("<img ") == 2
    assert "miss" in html and "false accept" in html
    assert "no misses" in report.error_clips([]).data


def test_pipeline_ends_with_the_report(monkeypatch, capsys):
    from lib import cli

    monkeypatch.setattr(runs, "list_notebooks", lambda: ["01_synthesize", "05_evaluate"])
    monkeypatch.setattr(runs, "execute",
                        lambda name, params, **kw: fake_run(name, {"n": len(name)}))  # fmt: skip
    assert cli.main(["pipeline", "--profile", "quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "01_synthesize" in out and "05_evaluate" in out and "n=11" in out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("report: ")]
    page = open(line.removeprefix("report: ")).read()
    assert page.count("data:image/png;base64,") == 2
