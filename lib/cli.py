"""The ``heyjoe`` command line. It parses arguments and calls the same ``lib`` functions
the notebooks call; every user error is one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from lib import __version__
from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger("lib.cli")


def _parse_value(text: str) -> Any:
    """``-p`` values are read as YAML scalars/lists: ``5`` → 5, ``true`` → True, ``[1, 3]``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _collect_params(pairs: list[list[str]] | None, files_: list[str] | None) -> dict[str, Any]:
    from lib.config import read_yaml

    params: dict[str, Any] = {}
    for path in files_ or []:
        params.update(read_yaml(Path(path)))
    for key, value in pairs or []:
        params[key] = _parse_value(value)
    return params


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


# ---------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from lib import runs

    params = _collect_params(args.param, args.params_file)
    run_dir = runs.execute(
        args.notebook, params, profile=args.profile, tag=args.tag, progress=not args.no_progress
    )
    print(run_dir)
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    from lib import runs

    run_dirs = runs.pipeline(profile=args.profile, tag=args.tag, progress=not args.no_progress)
    for run_dir in run_dirs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        shown = ", ".join(f"{k}={v}" for k, v in list(metrics.items())[:6])
        print(f"{run_dir.name}: {shown}")
    print(f"run records: {run_dirs[0].parent}" if run_dirs else "no notebooks to run")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from lib import config, corpus

    cfg = config.load_config("corpus", args.profile, _collect_params(args.param, None))
    summary = corpus.bootstrap_corpus(cfg)
    print(summary)
    return 0


def cmd_synthesize(args: argparse.Namespace) -> int:
    from lib import config, datasets

    overrides = _collect_params(args.param, None)
    if args.name:
        overrides["dataset_name"] = args.name
    cfg = config.load_config("synthesis", args.profile, overrides)
    ds = datasets.build_dataset(cfg, overwrite=args.overwrite)
    print(ds.path if hasattr(ds, "path") else ds)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from lib import datasets

    rows = datasets.list_datasets()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print("no datasets yet: build one with `heyjoe synthesize` or notebook 01_synthesize")
    else:
        _print_table(rows, [c for c in rows[0] if c != "path"])
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from lib import system

    missing = system.missing_tools()
    for name, ok in system.tool_report().items():
        print(f"{'ok     ' if ok else 'MISSING'}  {name}")
    if missing:
        print(system.install_hint(missing), file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heyjoe", description="heyjoe voice-ML research workbench"
    )
    parser.add_argument("--version", action="version", version=f"heyjoe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_profile(p: argparse.ArgumentParser, default: str = "full") -> None:
        p.add_argument(
            "--profile",
            choices=["quick", "full"],
            default=default,
            help="quick shrinks every size for a fast run (default: %(default)s)",
        )

    def add_params(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-p",
            "--param",
            nargs=2,
            action="append",
            metavar=("KEY", "VALUE"),
            help="set a parameter (value read as YAML: 5, true, [1, 3])",
        )

    p = sub.add_parser("run", help="run a numbered notebook headless into runs/")
    p.add_argument("notebook", help="e.g. 01_synthesize (or 01)")
    add_params(p)
    p.add_argument(
        "-f",
        "--params-file",
        action="append",
        metavar="PARAMS.yaml",
        help="YAML file of parameters (-p wins over it)",
    )
    add_profile(p)
    p.add_argument("--tag", help="suffix of the run directory name (default: the profile)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("pipeline", help="run every numbered notebook in order")
    add_profile(p)
    p.add_argument("--tag", help="suffix of the run directory names")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("bootstrap", help="make the raw corpus from local text-to-speech")
    add_profile(p)
    add_params(p)
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("synthesize", help="build a named dataset of labelled examples")
    p.add_argument("name", nargs="?", help="dataset name (default: configs/synthesis.yaml)")
    add_profile(p)
    add_params(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing dataset of that name built with other parameters",
    )
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("datasets", help="list the named datasets")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("doctor", help="check the system tools heyjoe needs")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"heyjoe: error: {exc}", file=sys.stderr)
        return 2
    except HeyJoeError as exc:
        print(f"heyjoe: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("heyjoe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
