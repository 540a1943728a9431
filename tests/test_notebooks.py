"""Committed notebooks stay thin, and each runs headless in the quick profile."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from lib import paths, runs

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_numbered_notebooks_and_each_is_registered() -> None:
    assert NOTEBOOKS, "no numbered notebooks found"
    for path in NOTEBOOKS:
        assert path.stem in runs.NOTEBOOK_STAGES, f"{path.name} missing from NOTEBOOK_STAGES"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_thin_and_clean(path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    for i, cell in enumerate(code):
        assert not cell.get("outputs"), f"{path.name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
            ), f"{path.name}: code cell {i} defines a function or class: move it into lib/"
        assert "!pip" not in cell.source and "%pip" not in cell.source
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_holds_only_plain_defaults(path) -> None:
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    tree = ast.parse(cell.source)
    for node in tree.body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), f"{path.name}: {ast.dump(node)}"
        value = node.value
        ast.literal_eval(value)  # raises if a default is computed, not plain
    for line in cell.source.splitlines():
        if line.strip():
            assert "#" in line, f"{path.name}: parameter without a comment: {line}"
    # papermill must see every parameter (it cannot parse annotations such as `int | None`)
    assigned = {
        t.id
        for node in tree.body
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
    }
    assert set(runs.notebook_parameters(path)) == assigned


@pytest.mark.slow
def test_notebook_01_runs_headless_in_quick_profile() -> None:
    run_dir = runs.execute("01_synthesize", {}, profile="quick", tag="test", progress=False)
    assert runs.missing_run_files(run_dir) == []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset_examples"] > 0
    assert list((run_dir / "figures").glob("*.png"))
