"""A real browser labels a recording: JupyterLab headless on loopback, driven by Playwright
with the system Chromium (Debian's ``chromium`` package; browsers cannot be downloaded here).

It opens notebook 02 (a copy, with 2 demo recordings and no suggestions), runs every cell,
zooms with the mouse wheel, drags across the spectrogram to mark a span, checks the label
file on disk, then undoes with a key and checks the file is gone again.

Skipped (with the reason) when Chromium or Playwright is missing, unless ``CI`` is set: in CI
it must run. On failure, screenshots are left in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from lib import paths
from lib.labels import label_path, read_labels

CHROMIUM = Path(os.environ.get("HEYJOE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = bool(os.environ.get("CI"))
NOTEBOOK = "02_hand_label.ipynb"
PARAMETERS = {  # the copy's parameter cell: small and quick, nothing labelled beforehand
    "profile": '"quick"',
    "demo_recordings": "2",
    "use_demo_truth": "False",
    "suggest": "False",
}


def _why_not() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e .[dev])"
    return None


pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 02 → (url base, token, root)."""
    why = _why_not()
    if why:
        if IN_CI:
            pytest.fail(f"the browser test must run in CI, but {why}")
        pytest.skip(why)
    root = tmp_path / "lab"
    root.mkdir()
    nb = json.loads((paths.NOTEBOOKS_DIR / NOTEBOOK).read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(cell["source"])
    for name, value in PARAMETERS.items():
        source, n = re.subn(
            rf"^({name}(?:: [^=]+)? = )[^#\n]+?(\s+#)", rf"\g<1>{value}\g<2>", source, flags=re.M
        )
        assert n == 1, f"parameter {name} not found in {NOTEBOOK}"
    cell["source"] = source
    (root / NOTEBOOK).write_text(json.dumps(nb))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = uuid.uuid4().hex
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
    }
    log = open(tmp_path / "jupyter.log", "w")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        "--LabApp.news_url=",
        "--ServerApp.terminals_enabled=False",
    ]
    cmd += ["--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyter.log').read_text()}")
            time.sleep(0.3)
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_label_a_recording_in_a_real_browser(lab, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    base, token, root = lab
    recordings = paths.recordings_dir()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        t0 = time.time()
        step = "open JupyterLab"

        def mark(name: str) -> str:
            print(f"{time.time() - t0:6.1f} s  {name}")
            return name

        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            step = mark("wait for the notebook and its kernel")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                " === 'idle'"
            )
            step = mark("run all cells")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # the last cell prints the metrics; a failing cell prints a traceback instead
            page.wait_for_function(
                "() => /split_counts|Traceback/.test(document.querySelector("
                "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook').innerText)"
            )
            tracebacks = [
                t
                for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                if "Traceback" in t
            ]
            assert not tracebacks, tracebacks
            step = mark("find the figure")
            widget = page.locator(".heyjoe-label-widget")
            widget.wait_for()
            canvas = widget.locator(".jupyter-matplotlib-canvas-div canvas").last
            canvas.wait_for()
            canvas.scroll_into_view_if_needed()
            view = widget.locator(".heyjoe-view")
            first_view = view.inner_text()
            assert first_view.startswith("view 0.00–"), first_view
            box = canvas.bounding_box()
            assert box and box["width"] > 300, box

            def at(fx: float, fy: float) -> tuple[float, float]:
                """Page position of figure fraction (fx from left, fy from bottom)."""
                return box["x"] + fx * box["width"], box["y"] + (1 - fy) * box["height"]

            step = mark("zoom with the mouse wheel")
            page.mouse.move(*at(0.4, 0.3))
            for _ in range(3):
                page.mouse.wheel(0, -120)
                page.wait_for_timeout(150)
            page.wait_for_function(
                "(old) => document.querySelector('.heyjoe-view').innerText !== old", arg=first_view
            )
            page.wait_for_timeout(500)  # let the last wheel event land
            zoomed = view.inner_text()
            a, b = (float(v) for v in re.findall(r"[\d.]+", zoomed)[:2])
            full = float(re.findall(r"[\d.]+", first_view)[1])
            assert 0 <= a < b and b - a < full * 0.9, (first_view, zoomed)

            step = mark("drag across the spectrogram")
            x1, y = at(0.06 + 0.93 * 0.30, 0.3)
            x2, _ = at(0.06 + 0.93 * 0.55, 0.3)
            page.mouse.move(x1, y)
            page.mouse.down()
            page.mouse.move((x1 + x2) / 2, y, steps=4)
            page.mouse.move(x2, y, steps=4)
            page.mouse.up()
            target = label_path(recordings / "kal_take01.wav")
            deadline = time.time() + 20
            while not target.is_file() and time.time() < deadline:
                time.sleep(0.2)
            assert target.is_file(), f"no label file {target} after the drag"
            (label,) = read_labels(target)
            width = b - a
            assert label.start == pytest.approx(a + 0.30 * width, abs=0.06 * width), (label, a, b)
            assert label.end == pytest.approx(a + 0.55 * width, abs=0.06 * width), (label, a, b)
            widget.locator(".heyjoe-labels").filter(has_text=f"{label.start:.2f}").wait_for()
            assert "1 / 2 checked" in widget.locator(".heyjoe-progress").inner_text()

            step = mark("undo with the u key")
            page.mouse.click(*at(0.02, 0.5))  # focus the figure (left of the axes: marks nothing)
            page.keyboard.press("u")
            deadline = time.time() + 15
            while target.exists() and time.time() < deadline:
                time.sleep(0.2)
            assert not target.exists(), "the u key did not undo the span"
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            log = (tmp_path / "jupyter.log").read_text()[-3000:]
            print(f"browser test failed at step {step!r}; screenshot {shots / 'failure.png'}")
            print(log)
            raise
        finally:
            browser.close()
        mark("done")
    shutil.rmtree(shots, ignore_errors=True)
