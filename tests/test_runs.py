"""Run records: the same set of files every time, clear failures, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from lib import cli, paths, runs
from lib.errors import ConfigError

SECRET = "s3cr3t-value-that-must-not-leak"


def _toy_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell('profile = "full"\nx = 1\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# toy"),
        params,
        nbformat.v4.new_code_cell(
            "import logging, os\n"
            "from lib.runs import start_run\n"
            'run = start_run("99_toy", profile=profile)\n'
            "secret = os.environ.get('SPOTIPY_CLIENT_SECRET')\n"
            'logging.getLogger("lib.toy").info("token %s", secret)\n'
            'print(os.environ.get("SPOTIPY_CLIENT_SECRET"))'
        ),
        nbformat.v4.new_code_cell('if x == 13:\n    raise ValueError("unlucky thirteen")'),
        nbformat.v4.new_code_cell(
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots()\nax.plot([0, x])\nrun.save_figure(fig, 'line')\n"
            'run.log_metrics({"x": x, "profile": profile})'
        ),
    ]
    path = folder / "99_toy.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def toy_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = _toy_notebook(folder)
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", folder)
    monkeypatch.setitem(runs.NOTEBOOK_STAGES, "99_toy", [])
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", SECRET)
    return path


@pytest.mark.slow
def test_run_leaves_a_complete_record(toy_notebook: Path) -> None:
    run_dir = runs.execute("99_toy", {"x": 7}, profile="quick", tag="t1", progress=False)
    assert run_dir.parent == paths.runs_dir()
    assert run_dir.name.endswith("_99_toy_t1") and run_dir.name[:8].isdigit()
    assert runs.missing_run_files(run_dir) == []
    assert json.loads((run_dir / "metrics.json").read_text()) == {"x": 7, "profile": "quick"}
    assert (run_dir / "figures" / "line.png").stat().st_size > 0
    params = yaml.safe_load((run_dir / "params.yaml").read_text())
    assert params["profile"] == "quick" and params["parameters"] == {"x": 7}
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["cpu_count"] >= 1 and "numpy" in {k.lower() for k in env["packages"]}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"
    # the secret was printed and logged inside the notebook, yet no file holds it
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            assert SECRET not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_failing_cell_names_notebook_cell_and_error(toy_notebook: Path, capsys) -> None:
    code = cli.main(["run", "99_toy", "-p", "x", "13", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "99_toy failed in cell" in err and "ValueError: unlucky thirteen" in err
    assert "Traceback" not in err
    (run_dir,) = paths.runs_dir().iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and "unlucky" in record["failed_cell"]["error"]


def test_unknown_parameter_lists_valid_ones(toy_notebook: Path, capsys) -> None:
    code = cli.main(["run", "99_toy", "-p", "y", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown parameter(s) y" in err and "profile, x" in err
    assert not paths.runs_dir().exists() or not any(paths.runs_dir().iterdir())


@pytest.mark.slow
def test_stage_settings_pass_through_heyjoe_run(
    toy_notebook: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Any setting of the notebook's stages is a parameter, even one its cell lacks."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    params = nbformat.v4.new_code_cell('profile = "full"\nx = 1\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from lib import runs\n"
        "runs.NOTEBOOK_STAGES['98_stage'] = ['speaker']  # as in the parent process\n"
        "run = runs.start_run('98_stage', profile=profile)\n"
        "run.log_metrics({'x': x, 'warps': run.speaker.formant_warps})"
    )]  # fmt: skip
    nbformat.write(nb, toy_notebook.parent / "98_stage.ipynb")
    monkeypatch.setitem(runs.NOTEBOOK_STAGES, "98_stage", ["speaker"])
    run_dir = runs.execute("98_stage", {"x": 2, "formant_warps": 4}, profile="quick",
                           tag="w4", progress=False)  # fmt: skip
    # the notebook saw the setting; the record has it as given and as resolved
    assert json.loads((run_dir / "metrics.json").read_text()) == {"x": 2, "warps": 4}
    params = yaml.safe_load((run_dir / "params.yaml").read_text())
    assert params["parameters"] == {"x": 2, "formant_warps": 4}
    assert params["resolved"]["speaker"]["formant_warps"] == 4
    # range-checked before anything runs, with the stage's own message
    assert cli.main(["run", "98_stage", "-p", "formant_warps", "-1"]) == 2
    assert "formant_warps" in capsys.readouterr().err
    assert cli.main(["run", "98_stage", "-p", "nonsense", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) nonsense" in err and "configs/speaker.yaml" in err
    assert len(list(paths.runs_dir().iterdir())) == 1


def test_secret_looking_parameter_is_refused(toy_notebook: Path) -> None:
    with pytest.raises(ConfigError, match="looks like a secret"):
        runs.execute("99_toy", {"spotify_token": "abc"}, progress=False)


def test_unknown_notebook_and_profile(toy_notebook: Path) -> None:
    with pytest.raises(ConfigError, match="notebooks are: 99_toy"):
        runs.execute("42_nothing", {}, progress=False)
    with pytest.raises(ConfigError, match="unknown profile"):
        runs.execute("99_toy", {}, profile="huge", progress=False)


def test_params_file_and_p_values_are_typed(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("n_examples: 5\nseed: 1\n")
    params = cli._collect_params([["seed", "2"], ["span", "[1, 3]"], ["flag", "true"]], [str(f)])
    assert params == {"n_examples": 5, "seed": 2, "span": [1, 3], "flag": True}


def test_a_null_parameter_is_said_to_be_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="lib.cli"):
        params = cli._collect_params([["parent", "null"], ["seed", "2"]], None)
    assert params == {"parent": None, "seed": 2}
    assert "'parent' is null" in caplog.text and "seed" not in caplog.text


def test_run_dirs_never_collide() -> None:
    a = runs.new_run_dir("01_x", "t")
    b = runs.new_run_dir("01_x", "t")
    assert a != b and a.is_dir() and b.is_dir()
    with pytest.raises(ConfigError, match="tag"):
        runs.new_run_dir("01_x", "///")


def test_redaction_of_secret_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "abcdefghij")
    monkeypatch.setenv("HOME_DIRECTORY_PATH", "not-a-secret")
    assert "abcdefghij" in runs.secret_values()
    assert "not-a-secret" not in runs.secret_values()
    assert runs.redact("key=abcdefghij", runs.secret_values()) == "key=***"


# ---------------------------------------------------------------------------- browsing runs


def _fake_run(name: str, notebook: str, resolved: dict, metrics: dict, status: str | None = None,
              commit: str = "abc") -> Path:  # fmt: skip
    d = paths.runs_dir() / name
    d.mkdir(parents=True)
    (d / "params.yaml").write_text(
        yaml.safe_dump(
            {"notebook": notebook, "profile": "quick", "parameters": {}, "resolved": resolved}
        )
    )
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "environment.json").write_text(json.dumps({"git_commit": commit, "python": "3.11"}))
    if status:
        (d / "run.json").write_text(json.dumps(
            {"notebook": notebook, "profile": "quick", "tag": "t", "status": status,
             "duration_seconds": 90.0}))  # fmt: skip
    return d


@pytest.fixture
def two_runs() -> tuple[Path, Path]:
    a = _fake_run("20260101T000000Z_03_train_trigger_hey_joe", "03_train_trigger",
                  {"trigger": {"seed": 0, "epochs": 30, "datasets": {"t": 1.0}}},
                  {"model_dir": "/m/hey_joe", "dev_frr_at_0.5_fa_per_hour": 0.9, "x": 1},
                  status="succeeded")  # fmt: skip
    b = _fake_run("20260102T000000Z_03_train_trigger_hey_joe_s1", "03_train_trigger",
                  {"trigger": {"seed": 1, "epochs": 30, "datasets": {"t": 0.5, "u": 0.5}}},
                  {"model_dir": "/m/hey_joe_s1", "dev_frr_at_0.5_fa_per_hour": 0.7},
                  commit="def")  # fmt: skip
    (paths.runs_dir() / "20260103T000000Z_pipeline_quick").mkdir()  # a report, not a run
    return a, b


def test_list_runs_reads_every_record(two_runs) -> None:
    a, b = two_runs
    rows = runs.list_runs()
    assert [r["name"] for r in rows] == [a.name, b.name]
    assert rows[0]["status"] == "succeeded" and rows[0]["duration_seconds"] == 90.0
    assert rows[1]["status"] == "unknown" and rows[1]["tag"] == "hey_joe_s1"  # no run.json
    assert rows[1]["started_utc"] == "2026-01-02T00:00:00+00:00"  # from the folder name
    assert runs.list_runs("03") == rows and runs.list_runs("04_train_speaker") == []
    assert runs.headline(rows[0]["metrics"]) == "model=hey_joe dev_frr_at_0.5_fa_per_hour=0.9"


def test_find_run_by_name_part_model_or_last(two_runs) -> None:
    a, b = two_runs
    assert runs.find_run(a.name) == a and runs.find_run(str(b)) == b
    assert runs.find_run("20260102") == b and runs.find_run("last") == b
    assert runs.find_run("hey_joe_s1") == b  # a part of one name only
    with pytest.raises(ConfigError, match="matches 2 runs"):
        runs.find_run("train_trigger")
    with pytest.raises(ConfigError, match="no run matches 'nothing'"):
        runs.find_run("nothing")


def test_diff_runs_names_what_differs(two_runs) -> None:
    a, b = two_runs
    diff = runs.diff_runs(a.name, "last")
    settings = {r["key"]: (r["a"], r["b"], r["only_in"]) for r in diff["settings"]}
    assert settings == {
        "trigger.seed": (0, 1, None),
        "trigger.datasets.t": (1.0, 0.5, None),
        "trigger.datasets.u": (None, 0.5, "b"),
    }  # epochs are equal: not listed
    metrics = {r["key"]: (r["a"], r["b"]) for r in diff["metrics"]}
    assert metrics["dev_frr_at_0.5_fa_per_hour"] == (0.9, 0.7) and metrics["x"] == (1, None)
    assert [r["key"] for r in diff["environment"]] == ["git_commit"]


def test_runs_command_lists_and_diffs(two_runs, capsys) -> None:
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "hey_joe_s1" in out and "succeeded" in out and "1.5" in out and "pipeline" not in out
    assert cli.main(["runs", "diff", "hey_joe_s1", "20260101"]) == 0
    out = capsys.readouterr().out
    assert "settings: 3 differ" in out and "trigger.seed" in out and "git_commit" in out
    assert cli.main(["runs", "diff", "last"]) == 2
    assert "two runs" in capsys.readouterr().err
    assert cli.main(["runs", "diff", "nothing", "last"]) == 2
    assert "no run matches" in capsys.readouterr().err
    assert cli.main(["runs", "--json", "--last", "1"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == [two_runs[1].name]


def test_command_run_records_success_and_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", SECRET)
    monkeypatch.delenv(runs.RUN_DIR_ENV, raising=False)
    with runs.command_run("03_train_trigger", "quick", tag="ok") as run_dir:
        assert runs.os.environ[runs.RUN_DIR_ENV] == str(run_dir)
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
        runs.log.info("token %s", SECRET)
    assert runs.RUN_DIR_ENV not in runs.os.environ
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "succeeded" and record["duration_seconds"] >= 0
    assert (run_dir / "environment.json").is_file()
    log_text = (run_dir / "run.log").read_text()
    assert "token ***" in log_text and SECRET not in log_text  # logged, then redacted
    with pytest.raises(ValueError, match="boom"):
        with runs.command_run("03_train_trigger", "quick", tag="bad") as bad_dir:
            raise ValueError("boom")
    record = json.loads((bad_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == "ValueError: boom"
    assert runs.read_run(bad_dir)["status"] == "failed"


def test_lib_messages_are_shown_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    lib_logger = logging.getLogger("lib")

    def consoles() -> list[logging.Handler]:
        return [h for h in lib_logger.handlers if getattr(h, "_heyjoe_console", False)]

    for h in consoles():
        lib_logger.removeHandler(h)
    # the command line: the root logger already shows lib's messages, nothing is added
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.StreamHandler()])
    runs.start_run("03_train_trigger", "quick")
    assert consoles() == []
    # a notebook kernel: no root handler, so one console handler, however many runs start
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    try:
        runs.start_run("03_train_trigger", "quick")
        runs.start_run("03_train_trigger", "quick")
        assert len(consoles()) == 1
    finally:
        for h in consoles():
            lib_logger.removeHandler(h)
