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
