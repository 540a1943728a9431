"""Run records: every notebook run, headless or interactive, leaves the same set of files.

``runs/<UTC timestamp>_<notebook>_<tag>/`` holds

- ``notebook.ipynb``   the executed notebook (headless runs)
- ``params.yaml``      the parameters given and every resolved stage setting
- ``environment.json`` package versions, git commit, CPU/GPU, Python
- ``run.log``          the log of the run (papermill progress and ``lib`` logging)
- ``metrics.json``     the figures the notebook reports
- ``figures/``         the plots the notebook saves
- ``run.json``         status, start, end, duration and, on failure, the failing cell

Secrets never enter a run record: parameter names that look like secrets are refused,
and the values of secret-looking environment variables are redacted from every file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lib import config, files, paths
from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger(__name__)

#: notebook → the configuration stages its parameters belong to.
NOTEBOOK_STAGES: dict[str, list[str]] = {
    "01_synthesize": ["corpus", "synthesis"],
    "02_hand_label": ["hand_label", "synthesis"],
    "03_train_trigger": ["trigger", "synthesis"],
    "04_train_speaker": ["speaker"],
    "05_evaluate": ["evaluate"],
    "06_live_demo": ["live"],
}


RUN_FILES = ("notebook.ipynb", "params.yaml", "environment.json", "run.log", "metrics.json")

SECRET_NAME = re.compile(r"(key|token|secret|passw|credential|auth|cookie|session)", re.I)
RUN_DIR_ENV = "HEYJOE_RUN_DIR"


class NotebookFailed(HeyJoeError):
    """A cell of a headless notebook run raised; the message names notebook, cell and error."""


# ---------------------------------------------------------------------------- notebooks


def list_notebooks() -> list[str]:
    """The numbered notebooks, in order (names without ``.ipynb``)."""
    return sorted(
        p.stem for p in paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb") if p.stem in NOTEBOOK_STAGES
    )


def resolve_notebook(name: str) -> Path:
    """``01_synthesize``, ``01``, ``01_synthesize.ipynb`` or a path → the notebook file."""
    candidate = Path(name)
    if candidate.suffix == ".ipynb" and candidate.exists():
        return candidate.resolve()
    stem = candidate.stem if candidate.suffix == ".ipynb" else name
    matches = [n for n in list_notebooks() if n == stem or n.split("_", 1)[0] == stem]
    if len(matches) != 1:
        raise ConfigError(
            f"unknown notebook {name!r}; notebooks are: {', '.join(list_notebooks()) or '(none)'}"
        )
    return paths.NOTEBOOKS_DIR / f"{matches[0]}.ipynb"


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """Names and defaults of the notebook's tagged ``parameters`` cell."""
    import papermill

    try:
        inferred = papermill.inspect_notebook(str(notebook))
    except Exception as exc:  # papermill raises bare Exceptions for unreadable notebooks
        raise ConfigError(f"cannot read parameters of {notebook}: {exc}") from None
    if not inferred:
        raise ConfigError(f"{notebook} has no cell tagged 'parameters'")
    return {name: info.get("default") for name, info in inferred.items()}


def stage_settings(notebook: str) -> set[str]:
    """Names of every setting of the configuration stages a notebook uses."""
    stages = NOTEBOOK_STAGES.get(notebook, [])
    return {f.name for s in stages for f in dataclasses.fields(config.stage_class(s))}


def check_parameters(notebook: Path, params: dict[str, Any]) -> None:
    """Refuse secret-looking and unknown parameter names before anything runs.

    A name is known when the notebook's parameters cell has it, or when it is a setting of
    one of the notebook's configuration stages (``-p formant_warps 4`` for notebook 04):
    those reach the run through :func:`start_run`."""
    for name in params:
        if SECRET_NAME.search(name):
            raise ConfigError(
                f"parameter {name!r} looks like a secret; secrets are never notebook parameters. "
                "Set credentials in the environment (e.g. GOOGLE_APPLICATION_CREDENTIALS, "
                "SPOTIPY_CLIENT_SECRET, AWS_PROFILE) instead"
            )
    valid = notebook_parameters(notebook)
    unknown = sorted(set(params) - set(valid) - stage_settings(notebook.stem))
    if unknown:
        stages = NOTEBOOK_STAGES.get(notebook.stem, [])
        also = (" — and any setting of " + ", ".join(f"configs/{s}.yaml" for s in stages)
                if stages else "")  # fmt: skip
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for {notebook.stem}; valid parameters "
            f"are: {', '.join(sorted(valid))}{also}"
        )


def resolve_configs(notebook: str, profile: str, params: dict[str, Any]) -> dict[str, Any]:
    """The stage settings a notebook run will use: YAML → profile → parameters.

    Parameters that are not stage settings (notebook-only ones) are left to the notebook.
    """
    settings = stage_settings(notebook)
    overrides = {k: v for k, v in params.items() if k in settings}
    return config.load_stages(NOTEBOOK_STAGES.get(notebook, []), profile, overrides)


# ---------------------------------------------------------------------------- environment


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=paths.PROJ_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def environment_record() -> dict[str, Any]:
    """What a run ran on: code version, packages, Python, CPU/GPU. No environment variables."""
    packages = {
        dist.metadata["Name"]: dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb,
        "gpus": _gpus(),
        "sagemaker": bool(os.environ.get("SM_TRAINING_ENV") or os.environ.get("SM_CURRENT_HOST")),
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
    }


# ---------------------------------------------------------------------------- secrets


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like secrets (long enough to matter)."""
    environ = os.environ if environ is None else environ
    return sorted(
        {v for k, v in environ.items() if SECRET_NAME.search(k) and len(v) >= 6},
        key=len,
        reverse=True,
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return text


class RedactingFilter(logging.Filter):
    """Replaces secret values in log records before any handler writes them."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets = secret_values()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


def redact_run_dir(run_dir: Path) -> int:
    """Scrub secret values from every text file of a run record; returns files changed."""
    secrets = secret_values()
    changed = 0
    if not secrets:
        return 0
    for path in run_dir.rglob("*"):
        if not path.is_file() or path.suffix not in {".ipynb", ".log", ".json", ".yaml", ".txt"}:
            continue
        text = path.read_text(errors="replace")
        clean = redact(text, secrets)
        if clean != text:
            files.write_text(path, clean)
            changed += 1
    return changed


# ---------------------------------------------------------------------------- run objects


def _timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _safe_tag(tag: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-")
    if not clean:
        raise ConfigError(f"--tag {tag!r} has no usable characters (letters, digits, _ . -)")
    return clean


def new_run_dir(notebook: str, tag: str) -> Path:
    """A fresh ``runs/<UTC timestamp>_<notebook>_<tag>/`` (never an existing one)."""
    base = paths.runs_dir() / f"{_timestamp()}_{notebook}_{_safe_tag(tag)}"
    run_dir, n = base, 1
    while True:
        try:
            run_dir.mkdir(parents=True)
            break
        except FileExistsError:
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
    (run_dir / "figures").mkdir()
    return run_dir


@dataclasses.dataclass
class Run:
    """One run of a notebook: where its record lives and its resolved settings."""

    dir: Path
    notebook: str
    profile: str
    config: dict[str, Any]

    def __getattr__(self, stage: str) -> Any:
        # run.synthesis, run.corpus: the stage settings (dataclasses)
        cfg = self.__dict__.get("config", {})
        if stage in cfg:
            return cfg[stage]
        raise AttributeError(stage)

    @property
    def figures_dir(self) -> Path:
        return self.dir / "figures"

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png``; returns the path."""
        path = self.figures_dir / f"{name}.png"
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        with files.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        return path

    def metrics(self) -> dict[str, Any]:
        path = self.dir / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def log_metrics(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into ``metrics.json`` (atomic); returns the whole set."""
        merged = {**self.metrics(), **values}
        files.write_json(self.dir / "metrics.json", merged)
        return merged


_LOG_HANDLERS: list[logging.Handler] = []


def attach_log(run_dir: Path, *loggers: str) -> logging.Handler:
    """Send ``lib`` (and the named loggers) at INFO to ``run_dir/run.log``, secrets redacted."""
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    for name in ("lib", *loggers):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    _LOG_HANDLERS.append(handler)
    return handler


def detach_log(handler: logging.Handler) -> None:
    for logger in [logging.getLogger(n) for n in logging.root.manager.loggerDict] + [
        logging.getLogger("lib")
    ]:
        if handler in getattr(logger, "handlers", []):
            logger.removeHandler(handler)
    handler.close()
    if handler in _LOG_HANDLERS:
        _LOG_HANDLERS.remove(handler)


def start_run(notebook: str, profile: str = "full", overrides: dict[str, Any] | None = None) -> Run:
    """Called by a notebook's setup cell: resolve settings and open the run record.

    Under ``heyjoe run`` the record directory already exists (``HEYJOE_RUN_DIR``); run
    interactively, a new ``runs/<timestamp>_<notebook>_interactive/`` is made. With
    ``TF_CONFIG`` naming several workers, multi-worker training is set up here, before the
    notebook runs any TensorFlow (:func:`lib.distribute.start_if_configured`).
    """
    from lib import distribute

    distribute.start_if_configured()
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    env_dir = os.environ.get(RUN_DIR_ENV)
    run_dir = Path(env_dir) if env_dir else None
    given = overrides
    if run_dir is not None and (run_dir / "params.yaml").exists():
        # written by `heyjoe run` with what the user passed: stage settings that are not
        # parameters of the notebook apply here (the notebook's own values win)
        passed = config.read_yaml(run_dir / "params.yaml").get("parameters") or {}
        settings = stage_settings(notebook)
        overrides = {k: v for k, v in passed.items() if k in settings} | overrides
        given = passed | overrides
    configs = config.load_stages(NOTEBOOK_STAGES.get(notebook, []), profile, overrides)
    if run_dir is not None:
        (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(notebook, "interactive")
        files.write_json(run_dir / "environment.json", environment_record())
        attach_log(run_dir)
    files.write_yaml(
        run_dir / "params.yaml",
        {
            "notebook": notebook,
            "profile": profile,
            "parameters": given,
            "resolved": {stage: config.to_dict(cfg) for stage, cfg in configs.items()},
        },
    )
    if not (run_dir / "metrics.json").exists():
        files.write_json(run_dir / "metrics.json", {})
    _show_lib_logs_in_notebook()
    log.info("run %s: notebook %s, profile %s", run_dir.name, notebook, profile)
    return Run(dir=run_dir, notebook=notebook, profile=profile, config=configs)


def _show_lib_logs_in_notebook() -> None:
    """Inside a kernel, show ``lib``'s INFO messages under the cell (once). Where the root
    logger already shows them (the ``heyjoe`` command line), nothing is added: each message
    once, and standard output stays the command's."""
    logger = logging.getLogger("lib")
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    if logging.getLogger().handlers:
        return
    if not any(getattr(h, "_heyjoe_console", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._heyjoe_console = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


# ---------------------------------------------------------------------------- headless runs


def _open_record(run_dir: Path, notebook: str, profile: str, tag: str) -> dict[str, Any]:
    """Write ``run.json`` (status ``running``) and ``environment.json``; returns the record."""
    record: dict[str, Any] = {
        "notebook": notebook,
        "profile": profile,
        "tag": tag,
        "status": "running",
        "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and "heyjoe" in sys.argv[0] else None,
    }
    files.write_json(run_dir / "run.json", record)
    files.write_json(run_dir / "environment.json", environment_record())
    return record


def execute(
    notebook: str,
    params: dict[str, Any] | None = None,
    profile: str = "full",
    tag: str | None = None,
    progress: bool = True,
) -> Path:
    """Run a numbered notebook headless with papermill; returns its run directory.

    Everything that can be checked before running is: the notebook exists, every
    parameter name is one the notebook has, no parameter looks like a secret, and every
    value has the type its setting needs.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    params = dict(params or {})
    config.check_profile(profile)
    path = resolve_notebook(notebook)
    name = path.stem
    check_parameters(path, {**params, "profile": profile})
    resolve_configs(name, profile, params)
    own = notebook_parameters(path)  # the rest are stage settings: start_run applies them

    run_dir = new_run_dir(name, tag or profile)
    handler = attach_log(run_dir, "papermill")
    started = time.time()
    record = _open_record(run_dir, name, profile, tag or profile)
    files.write_json(run_dir / "metrics.json", {})
    files.write_yaml(
        run_dir / "params.yaml", {"notebook": name, "profile": profile, "parameters": params}
    )
    log.info("running %s (profile %s) into %s", name, profile, run_dir)
    old_env = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    # cell output goes to run.log only; the terminal keeps the progress bar and lib's messages
    pm_logger = logging.getLogger("papermill")
    pm_propagate, pm_logger.propagate = pm_logger.propagate, False
    failure: PapermillExecutionError | None = None
    try:
        papermill.execute_notebook(
            str(path),
            str(run_dir / "notebook.ipynb"),
            parameters={**{k: v for k, v in params.items() if k in own}, "profile": profile},
            kernel_name="python3",
            cwd=str(paths.PROJ_ROOT),
            progress_bar=progress,
            log_output=True,
        )
    except PapermillExecutionError as exc:
        failure = exc
    finally:
        if old_env is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = old_env
        pm_logger.propagate = pm_propagate
        record["duration_seconds"] = round(time.time() - started, 2)
        record["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        detach_log(handler)
    record["status"] = "failed" if failure else "succeeded"
    if failure is not None:
        record["failed_cell"] = {
            "index": failure.cell_index,
            "execution_count": failure.exec_count,
            "error": f"{failure.ename}: {failure.evalue}",
        }
    files.write_json(run_dir / "run.json", record)
    redact_run_dir(run_dir)
    if failure is not None:
        raise NotebookFailed(
            f"{name} failed in cell {failure.cell_index} (execution count {failure.exec_count}): "
            f"{failure.ename}: {failure.evalue} — the executed notebook is "
            f"{run_dir / 'notebook.ipynb'}"
        )
    log.info("%s finished in %.1f s: %s", name, record["duration_seconds"], run_dir)
    return run_dir


@contextlib.contextmanager
def command_run(notebook: str, profile: str, tag: str = "cli") -> Iterator[Path]:
    """The run record of a command that does a notebook's work without the notebook
    (``heyjoe train-trigger``): a fresh run folder with ``environment.json``, ``run.log`` and a
    ``run.json`` that ends ``succeeded`` or ``failed`` (with the error), like a headless run's.
    Inside, ``start_run`` picks the folder up (``HEYJOE_RUN_DIR``)."""
    run_dir = new_run_dir(notebook, tag)
    started = time.time()
    record = _open_record(run_dir, notebook, profile, tag)
    handler = attach_log(run_dir)
    old = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield run_dir
    except BaseException as exc:
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise
    else:
        record["status"] = "succeeded"
    finally:
        if old is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = old
        detach_log(handler)
        record["duration_seconds"] = round(time.time() - started, 2)
        record["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        files.write_json(run_dir / "run.json", record)
        redact_run_dir(run_dir)


def pipeline(profile: str = "full", tag: str | None = None, progress: bool = True) -> list[Path]:
    """Run every numbered notebook in order; stops at the first failure. Ends with the
    report (``runs/<ts>_pipeline_<tag>/report.html``, see :mod:`lib.report`)."""
    run_dirs = []
    for name in list_notebooks():
        run_dirs.append(
            execute(name, {}, profile=profile, tag=tag or f"pipeline-{profile}", progress=progress)
        )
    if run_dirs:
        from lib import report

        report.write_pipeline_report(run_dirs, profile=profile, tag=tag)
    return run_dirs


def missing_run_files(run_dir: Path) -> list[str]:
    """Files of the standard run record that ``run_dir`` lacks (empty when complete)."""
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if not (run_dir / "figures").is_dir():
        missing.append("figures/")
    return missing


# ---------------------------------------------------------------------------- browsing runs

#: the figures ``heyjoe runs`` shows for a run, first found first (at most three)
HEADLINE_METRICS = (
    "dataset", "dataset_examples",  # 01
    "recordings_labelled", "split_counts",  # 02
    "dev_frr_at_0.5_fa_per_hour", "test_frr_at_threshold", "best_val_pr_auc",  # 03
    "dev_eer", "test_eer",  # 04
    "chosen_model", "chosen_frr_at_0.5_fa_per_hour",  # 05
    "demo_commands_right", "demo_commands", "demo_spurious_actions",  # 06
)  # fmt: skip

_RUN_NAME = re.compile(r"^(\d{8}T\d{6}Z)_(.+)$")


def _read_params(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _split_name(name: str) -> tuple[str | None, str | None, str | None]:
    """``<timestamp>_<notebook>_<tag>`` → (timestamp, notebook, tag); Nones where unknown."""
    m = _RUN_NAME.match(name)
    if not m:
        return None, None, None
    stamp, rest = m.groups()
    for nb in [*NOTEBOOK_STAGES, "pipeline"]:
        if rest.startswith(nb + "_"):
            return stamp, nb, rest[len(nb) + 1 :]
    return stamp, None, rest


def read_run(run_dir: Path | str) -> dict[str, Any]:
    """One run record as a dict: name, path, notebook, tag, profile, status, started,
    duration, the parameters given, the resolved settings, the metrics and the environment.

    Records written before ``run.json`` existed, or by a process that was killed, have the
    status ``unknown`` or ``running``; unreadable files count as absent."""
    run_dir = Path(run_dir)
    stamp, notebook, tag = _split_name(run_dir.name)
    record = files.read_json_dict(run_dir / "run.json")
    params = _read_params(run_dir / "params.yaml")
    started = record.get("started_utc")
    if started is None and stamp is not None:
        started = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.timezone.utc
        ).isoformat(timespec="seconds")  # fmt: skip
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "notebook": record.get("notebook") or params.get("notebook") or notebook,
        "tag": record.get("tag") or tag,
        "profile": record.get("profile") or params.get("profile"),
        "status": record.get("status", "unknown"),
        "started_utc": started,
        "duration_seconds": record.get("duration_seconds"),
        "failed_cell": record.get("failed_cell"),
        "parameters": params.get("parameters") or {},
        "resolved": params.get("resolved") or {},
        "metrics": files.read_json_dict(run_dir / "metrics.json"),
        "environment": files.read_json_dict(run_dir / "environment.json"),
    }


def list_runs(notebook: str | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Every run record under ``runs/`` (oldest first), each as :func:`read_run` gives it;
    ``notebook`` (a name or its number, ``03``) keeps that notebook's runs only. Folders that
    are not run records (no ``params.yaml`` and no ``run.json``) are left out."""
    root = root or paths.runs_dir()
    want = resolve_notebook(notebook).stem if notebook else None
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if not d.is_dir() or not ((d / "params.yaml").is_file() or (d / "run.json").is_file()):
            continue
        run = read_run(d)
        if want is None or run["notebook"] == want:
            out.append(run)
    return out


def find_run(text: str, root: Path | None = None) -> Path:
    """A run folder from a path, a full run name, or a part of one that only one run has
    (``20261123T2146``, ``train_trigger_hey_joe``) or the name of the model it trained;
    ``last`` is the newest run. Raises ConfigError
    naming the candidates when the text fits none or several."""
    root = root or paths.runs_dir()
    path = Path(text)
    if path.is_dir() and ((path / "params.yaml").is_file() or (path / "run.json").is_file()):
        return path
    runs_ = [Path(r["path"]) for r in list_runs(root=root)]
    if not runs_:
        raise ConfigError(f"no run records in {root}: run a notebook first (`heyjoe run 01`)")
    if text == "last":
        return runs_[-1]
    exact = [p for p in runs_ if p.name == text]
    if exact:
        return exact[0]
    hits = [p for p in runs_ if text in p.name]
    if not hits:  # the model a run trained (its metrics' model_dir)
        hits = [p for p in runs_ if _model_name(files.read_json_dict(p / "metrics.json")) == text]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ConfigError(f"no run matches {text!r} in {root} (see `heyjoe runs`)")
    names = ", ".join(p.name for p in hits[:8]) + (" ..." if len(hits) > 8 else "")
    raise ConfigError(f"{text!r} matches {len(hits)} runs: {names}; give more of the name")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _flatten(a), _flatten(b)
    missing = object()
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, missing), fb.get(key, missing)
        if va != vb:
            rows.append({
                "key": key,
                "a": None if va is missing else va,
                "b": None if vb is missing else vb,
                "only_in": "a" if vb is missing else "b" if va is missing else None,
            })  # fmt: skip
    return rows


def diff_runs(a: Path | str, b: Path | str, root: Path | None = None) -> dict[str, Any]:
    """What differs between two run records: every resolved setting (falling back to the
    parameters given), every metric, and the environment (git commit, package versions,
    machine). Runs are found with :func:`find_run`."""
    ra, rb = (read_run(find_run(str(x), root)) for x in (a, b))

    def settings(r: dict[str, Any]) -> dict[str, Any]:
        return r["resolved"] or r["parameters"]

    def env(r: dict[str, Any]) -> dict[str, Any]:
        e = r["environment"]
        keep = ("git_commit", "git_dirty", "python", "packages", "cpu", "gpus", "hostname")
        return {k: e[k] for k in keep if k in e}

    return {
        "a": {k: ra[k] for k in ("name", "notebook", "profile", "status", "started_utc")},
        "b": {k: rb[k] for k in ("name", "notebook", "profile", "status", "started_utc")},
        "settings": _differences(settings(ra), settings(rb)),
        "metrics": _differences(ra["metrics"], rb["metrics"]),
        "environment": _differences(env(ra), env(rb)),
    }


def _model_name(metrics: dict[str, Any]) -> str | None:
    model_dir = metrics.get("model_dir")
    return Path(model_dir).name if isinstance(model_dir, str) and model_dir else None


def headline(metrics: dict[str, Any], n: int = 3) -> str:
    """The model a run trained (if any) and the first ``n`` of :data:`HEADLINE_METRICS` it
    logged, as ``key=value`` text."""
    model = _model_name(metrics)
    parts = [f"model={model}"] if model else []
    n += len(parts)
    for key in HEADLINE_METRICS:
        if key in metrics and metrics[key] is not None and len(parts) < n:
            v = metrics[key]
            parts.append(f"{key}={round(v, 4) if isinstance(v, float) else v}")
    return " ".join(parts)
