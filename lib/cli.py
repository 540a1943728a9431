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
    for key in [k for k, v in params.items() if v is None]:
        # a null parameter means "as configured" everywhere (notebook parameters default to
        # None), so it cannot clear a value the config or profile sets: say so, not silently
        log.warning(
            "parameter %r is null, which means 'as configured', so it is ignored: it cannot "
            "clear a value that configs/*.yaml or the profile sets (the quick trigger "
            "profile's parent, for one); use a profile without it, or edit the config file",
            key,
        )
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
    from lib import report, runs

    run_dirs = runs.pipeline(profile=args.profile, tag=args.tag, progress=not args.no_progress)
    if not run_dirs:
        print("no notebooks to run")
        return 0
    print(report.pipeline_summary(run_dirs, report.find_pipeline_report(run_dirs)))
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


def _print_json(data: Any, out: str | None) -> None:
    """Metrics as JSON on stdout (and into ``out`` when given, atomically)."""
    from lib.files import write_json

    if out:
        write_json(out, data)
    print(json.dumps(data, indent=2, default=str))


def cmd_score(args: argparse.Namespace) -> int:
    from lib import evaluate

    summary = evaluate.score_folder(
        args.dir, args.out, model=args.model, chunk_seconds=args.chunk_seconds,
        progress=not args.no_progress,
    )  # fmt: skip
    print(json.dumps(summary))
    return 0


def cmd_evaluate_trigger(args: argparse.Namespace) -> int:
    from lib import evaluate

    result = evaluate.evaluate_trigger(
        args.data, model=args.model, tolerance=args.tolerance, refractory=args.refractory,
        threshold=args.threshold, progress=not args.no_progress,
    )  # fmt: skip
    _print_json(result, args.out)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from lib import evalsets, evaluate
    from lib.trigger import train

    if args.boot < 100:
        raise ConfigError(f"--boot: at least 100 bootstrap samples, got {args.boot}")
    if args.speaker:
        return _compare_speakers(args)
    data = args.data
    if not data:  # the dev sets every evaluation reads (made if missing)
        evalsets.ensure_corpus("full")
        data = list(train.dev_eval_sets())
    result = evaluate.compare_trigger_models(args.a, args.b, data, n_boot=args.boot,
                                             seed=args.seed)  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return 0
    a, b = _column_names(result["a"], result["b"])
    rows = []
    for budget, r in result["frr_at_fa_per_hour"].items():
        lo, hi = r["difference_95"]
        rows.append({
            "FA/h <=": budget, a: _pct(r["a"]), b: _pct(r["b"]),
            "B - A": f"{100 * r['difference']:+.0f}", "95% of B - A": f"[{100 * lo:+.0f}, "
            f"{100 * hi:+.0f}]", "B better in": f"{100 * r['b_better']:.0f}%",
        })  # fmt: skip
    _print_table(rows, list(rows[0]))
    print(f"false-reject rates on {result['triggers']} triggers and {result['hours']:.2f} h; "
          f"paired bootstrap over the files ({result['bootstrap_samples']} samples): a "
          "difference whose interval holds 0 is not told apart from noise")  # fmt: skip
    return 0


def _column_names(a: str, b: str) -> tuple[str, str]:
    """Table columns of models A and B (marked when both have one name)."""
    return (a, b) if a != b else (f"{a} (A)", f"{b} (B)")


def _compare_speakers(args: argparse.Namespace) -> int:
    from lib import evaluate

    if args.data and len(args.data) > 1:
        raise ConfigError("--speaker --data takes one speaker database folder")
    r = evaluate.compare_speaker_models(
        args.a, args.b, split=args.split, utterances=args.utterances,
        db_dir=args.data[0] if args.data else None, n_boot=args.boot, seed=args.seed,
    )  # fmt: skip
    if args.json:
        print(json.dumps(r))
        return 0
    lo, hi = r["difference_95"]
    a, b = _column_names(r["a"], r["b"])
    _print_table([{
        "EER": f"{r['split']} split", a: f"{100 * r['a_eer']:.2f}%",
        b: f"{100 * r['b_eer']:.2f}%", "B - A": f"{100 * r['difference']:+.2f}",
        "95% of B - A": f"[{100 * lo:+.2f}, {100 * hi:+.2f}]",
        "B better in": f"{100 * r['b_better']:.0f}%",
    }], ["EER", a, b, "B - A", "95% of B - A", "B better in"])  # fmt: skip
    print(f"{r['trials']} trials of {r['utterances']} utterances by {r['speakers']} speakers; "
          f"paired bootstrap over the speakers ({r['bootstrap_samples']} samples)")  # fmt: skip
    return 0


def cmd_evaluate_speaker(args: argparse.Namespace) -> int:
    from lib import evaluate

    result = evaluate.evaluate_speaker(args.trials, args.audio_root, model=args.model)
    result.pop("scores", None)
    _print_json(result, args.out)
    return 0


def cmd_train_trigger(args: argparse.Namespace) -> int:
    from lib import config
    from lib.trigger import cards, train

    params = _collect_params(args.param, args.params_file)
    if args.overwrite:
        params["overwrite"] = True
    if not args.seeds:
        result = train.train_cli(
            args.profile,
            params,
            evaluate=args.evaluate,
            dev_clips=args.dev_clips,
            negative_minutes=args.negative_minutes,
        )
        print(result.model_dir)
        return 0
    if not args.evaluate:
        raise ConfigError("--seeds compares the models' DET curves: add --evaluate")
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds: each seed once, got {args.seeds}")
    base = params.get("model_name") or config.load_config("trigger", args.profile).model_name
    dirs = []
    for seed in args.seeds:  # one model per seed: <name>_s<seed>
        result = train.train_cli(
            args.profile,
            {**params, "seed": seed, "model_name": f"{base}_s{seed}"},
            evaluate=True,
            dev_clips=args.dev_clips,
            negative_minutes=args.negative_minutes,
        )
        dirs.append(result.model_dir)
        print(result.model_dir)
    out = cards.local_dir() / f"{base}_seeds.json"
    spread = train.seed_spread(dirs, out)
    rows = [{k: _pct(v) if k != "model" and k != "seed" else v for k, v in r.items()}
            for r in spread["models"]]  # fmt: skip
    for stat in ("mean", "min", "max"):
        rows.append({"model": stat, "seed": "", **{
            k: _pct(v[stat]) if v else "" for k, v in spread["summary"].items()}})  # fmt: skip
    _print_table(rows, list(rows[0]))
    print(f"false-reject rates at <= 0.5 / 2 / 5 / 10 / 50 false accepts per hour; {out}")
    return 0


def cmd_mine_negatives(args: argparse.Namespace) -> int:
    from lib import config, evalsets, evaluate
    from lib.trigger import mining

    sources = list(args.sources)
    if args.train_negatives is not None and not args.train_negatives > 0:
        raise ConfigError(f"--train-negatives: minutes must be > 0, got {args.train_negatives}")
    if args.train_negatives is not None:
        sources.append(evalsets.make_long_negatives(args.train_negatives, split="train"))
    if not sources:
        raise ConfigError(
            "mine-negatives: give audio files or folders with no trigger in them, or "
            "--train-negatives MINUTES to make such audio from the corpus's training voices"
        )
    model = evaluate.load_trigger_model(args.model)
    window = config.load_config("synthesis", args.profile).example_seconds
    report = mining.mine_false_accepts(
        model, sources, args.out, threshold=args.threshold, window_seconds=window,
        max_per_file=args.max_per_file, seed=args.seed,
    )  # fmt: skip
    result = report.to_dict()
    if not args.no_dataset:
        ds = mining.build_mined_dataset(model, report.folder, args.dataset, args.profile)
        result["dataset"] = {"name": args.dataset, "examples": len(ds), "path": str(ds.path)}
    if args.json:
        print(json.dumps(result))
        return 0
    fa_h = result["false_accepts_per_hour"]
    print(f"{result['false_accepts']} false accept(s) in {result['audio_hours']:.2f} h of audio "
          f"from {result['files']} file(s) ({'-' if fa_h is None else fa_h} per hour) at "
          f"threshold {report.threshold:.3f}")  # fmt: skip
    print(f"{result['written']} new window(s), {result['reused']} already there: {report.folder}")
    for item in result["skipped"]:
        print(f"skipped {item['file']}: {item['why']}")
    if "dataset" in result:
        d = result["dataset"]
        print(f"dataset {d['name']}: {d['examples']} examples ({d['path']}); mix it into "
              f"training with datasets: {{..., {d['name']}: 0.1}}")  # fmt: skip
    return 0


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def cmd_export(args: argparse.Namespace) -> int:
    from lib.trigger import cards
    from lib.trigger.export import FOLDER_EXPORT, export_model

    model = cards.load_model(args.model)
    if args.keep and args.out:
        raise ConfigError("--keep writes into the model's folder: leave out --out")
    if args.keep:  # derived from the folder's own model file: replacing it loses nothing
        path = export_model(model, model.path / FOLDER_EXPORT, overwrite=True)
        print(f"{path}  (listening from this folder now loads it, without TensorFlow)")
        return 0
    out = Path(args.out) if args.out else Path(f"{model.name}.npz")
    path = export_model(model, out, overwrite=args.overwrite)
    print(f"{path}  ({path.stat().st_size / 1e3:.0f} kB; use it as --model {path})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if args.speaker:
        return _speaker_models(args)
    from lib.trigger import cards

    rows = cards.list_models()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print("no trigger models yet: train one with `heyjoe train-trigger` or notebook 03")
    elif args.tree:
        print(cards.lineage_tree(rows))
    else:
        table = cards.model_rows(rows)
        for r in table:  # rates as percentages on screen (--json keeps the numbers)
            for key in ("dev_frr", "test_frr"):
                if isinstance(r[key], float):
                    r[key] = _pct(r[key])
        _print_table(table, list(table[0]))
    return 0


def _speaker_models(args: argparse.Namespace) -> int:
    from lib.speaker.verify import model_rows

    if args.tree:
        raise ConfigError("--tree shows the trigger models' lineage; leave it out with --speaker")
    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print("no speaker models yet: train one with notebook 04 (`heyjoe run 04`)")
    else:
        table = [dict(r) for r in rows]
        for r in table:  # rates as percentages on screen (--json keeps the numbers)
            for key in ("dev_eer", "test_eer"):
                if isinstance(r[key], float):
                    r[key] = f"{100 * r[key]:.2f}%"
            r["parent"] = r["parent"] or "-"
        _print_table(table, [c for c in table[0] if c != "shipped"])
    return 0


def _short(value: Any, width: int = 40) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def cmd_runs(args: argparse.Namespace) -> int:
    from lib import runs

    if args.action == "diff":
        if len(args.runs) != 2:
            raise ConfigError(f"runs diff takes two runs (names, parts of names or folders), "
                              f"got {len(args.runs)}")  # fmt: skip
        diff = runs.diff_runs(*args.runs)
        if args.json:
            print(json.dumps(diff, indent=2, default=str))
            return 0
        for side in ("a", "b"):
            r = diff[side]
            print(f"{side}: {r['name']} ({r['notebook']}, {r['profile']}, {r['status']})")
        for part in ("settings", "metrics", "environment"):
            rows = diff[part]
            print(f"\n{part}: {len(rows)} differ" + (":" if rows else ""))
            if rows:
                table = [{"key": r["key"], "a": _short(r["a"]), "b": _short(r["b"])} for r in rows]
                _print_table(table, ["key", "a", "b"])
        return 0
    if args.runs:
        raise ConfigError("runs list takes no run names (did you mean `heyjoe runs diff A B`?)")
    rows = runs.list_runs(args.notebook)
    if args.last:
        rows = rows[-args.last :]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print(f"no run records yet in {runs.paths.runs_dir()}: run a notebook (`heyjoe run 01`)")
    else:
        table = [{
            "run": r["name"], "notebook": r["notebook"] or "-", "profile": r["profile"] or "-",
            "status": r["status"], "minutes": _minutes(r["duration_seconds"]),
            "headline": runs.headline(r["metrics"]),
        } for r in rows]  # fmt: skip
        _print_table(table, list(table[0]))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from lib import config, handlabel, recordings

    overrides = _collect_params(args.param, None)
    if args.folder:
        overrides["recordings_dir"] = args.folder
    cfg = config.load_config("hand_label", args.profile, overrides)
    if args.action == "demo":
        for path in recordings.make_demo_recordings(cfg.folder(), n=cfg.demo_recordings):
            print(path)
        return 0
    scan = handlabel.scan_recordings(cfg.folder(), cfg.group_by)
    if args.action == "summary":
        rows = handlabel.summary_rows(scan)
        if rows:
            _print_table(rows, ["recording", "group", "state", "seconds", "spans"])
        print(json.dumps(handlabel.summary(scan)))
        return 1 if scan.malformed else 0
    split = handlabel.write_split(scan, cfg)
    print(f"split written to {handlabel.split_path(scan.folder)}: {split['counts']}")
    if not args.no_datasets:
        synthesis = config.load_config("synthesis", args.profile)
        built = handlabel.build_split_datasets(scan, split, cfg, synthesis)
        for row in handlabel.dataset_rows(built):
            print(f"{row['dataset']}: {row['windows']} windows from {row['recordings']} recordings")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from lib import speaker

    model = speaker.load_model(args.model)
    result = speaker.verify(model, args.a, args.b)
    decision = "same speaker" if result["same"] else "different speakers"
    print(f"score {result['score']:.4f}  threshold {result['threshold']:.4f}  {decision}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from lib import speaker

    model = speaker.load_model(args.model)
    path = speaker.enroll(args.name, args.files, model=model, overwrite=args.overwrite)
    print(path)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from lib import speaker

    model = speaker.load_model(args.model)
    result = speaker.embed_folder(model, args.folder, args.out)
    print(
        f"{result['embedded']} embeddings written to {result['out']}"
        + (f" ({len(result['skipped'])} file(s) skipped)" if result["skipped"] else "")
    )
    return 0


def cmd_sagemaker(args: argparse.Namespace) -> int:
    from lib import sagemaker as sm

    if args.action == "submit":
        sub = sm.submit(
            args.notebook, _collect_params(args.param, args.params_file), profile=args.profile,
            instance_type=args.instance_type, instance_count=args.instance_count,
            spot=True if args.spot else None, max_hours=args.max_hours, dry_run=args.dry_run,
            confirm=lambda text: print(text, file=sys.stderr),
        )  # fmt: skip
        if sub.dry_run:
            print(json.dumps(sub.request, indent=2))
        else:
            print(f"submitted {sub.request['TrainingJobName']} ({sub.job_arn})")
        return 0
    clients = sm.aws_clients(sm.load_settings(), need_role=False, need_bucket=False)
    if args.action == "status":
        print(json.dumps(sm.status(clients, args.job), indent=2, default=str))
    elif args.action == "logs":
        print("\n".join(sm.logs(clients, args.job)))
    elif args.action == "stop":
        sm.stop(clients, args.job)
        print(f"stopping {args.job}")
    else:
        for run_dir in sm.fetch(clients, args.job):
            print(run_dir)
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from lib import config
    from lib.live import assistant

    over = {"asr": args.asr, "music": args.music, "speaker_gate": args.speaker_gate,
            "model": args.model, "threshold": args.threshold,
            "asr_grammar": False if args.open_vocabulary else None}  # fmt: skip
    cfg = config.load_config("live", "full", over)
    return assistant.listen(cfg, args.source, json_lines=args.json, realtime=args.realtime)


def cmd_spotify_login(args: argparse.Namespace) -> int:
    from lib.live import spotify

    path = spotify.login(open_browser=not args.no_browser)
    print(f"logged in to Spotify; the token is cached in {path} (mode 0600)")
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
    p = sub.add_parser(
        "score", help="score every audio file below DIR with a trigger model → JSONL"
    )
    p.add_argument("dir", metavar="DIR", help="folder of audio files (searched recursively)")
    p.add_argument("--model", help="model folder or name from `heyjoe models` (default: shipped)")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="where the scores go")
    p.add_argument("--chunk-seconds", type=float, default=1.0, help="audio per detector call")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("evaluate", help="evaluate a trigger or speaker model (metrics as JSON)")
    ev = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = ev.add_parser(
        "trigger",
        help="false rejects and false accepts per hour on audio with Audacity label sidecars",
    )
    q.add_argument("--model", help="model folder or name from `heyjoe models` (default: shipped)")
    q.add_argument(
        "--data", required=True, action="append", metavar="DIR",
        help="folder of audio with NAME.txt label files (repeat for several)",
    )  # fmt: skip
    q.add_argument("--tolerance", type=float, default=1.0, help="seconds after a trigger's end")
    q.add_argument("--refractory", type=float, default=2.0, help="seconds merging events")
    q.add_argument("--threshold", type=float, help="default: the model card's threshold")
    q.add_argument("--out", metavar="metrics.json", help="also write the metrics here")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_evaluate_trigger)
    q = ev.add_parser("speaker", help="EER and minDCF over a VoxCeleb-format trial list")
    q.add_argument("--model", help="speaker model folder or name (default: shipped)")
    q.add_argument("--trials", required=True, metavar="FILE", help="lines 'label path1 path2'")
    q.add_argument("--audio-root", required=True, metavar="DIR", help="trial paths are below it")
    q.add_argument("--out", metavar="metrics.json", help="also write the metrics here")
    q.set_defaults(func=cmd_evaluate_speaker)
    p = sub.add_parser(
        "compare", help="is trigger model B better than A, or is the difference noise?"
    )
    p.add_argument("a", help="model A (name or folder), e.g. the shipped hey_joe")
    p.add_argument("b", help="model B")
    p.add_argument(
        "--data", nargs="+", metavar="DIR",
        help="labelled folders (default: the dev clips and long negatives, made if missing); "
        "--speaker: a speaker database folder (default: the configured one)",
    )  # fmt: skip
    p.add_argument(
        "--speaker",
        action="store_true",
        help="speaker models: EER on pairs of utterances of the speaker database",
    )
    p.add_argument(
        "--split",
        default="dev",
        choices=["train", "dev", "test"],
        help="--speaker: the database split (default: %(default)s)",
    )
    p.add_argument(
        "--utterances",
        type=int,
        default=200,
        help="--speaker: utterances drawn (every pair is a trial)",
    )
    p.add_argument("--boot", type=int, default=2000, help="bootstrap samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("train-trigger", help="train a trigger model (configs/trigger.yaml)")
    add_profile(p)
    add_params(p)
    p.add_argument(
        "-f", "--params-file", action="append", metavar="PARAMS.yaml",
        help="YAML file of parameters (-p wins over it)",
    )  # fmt: skip
    p.add_argument("--evaluate", action="store_true", help="evaluate on the dev sets afterwards")
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace a model of that name trained with other settings (else refused)",
    )  # fmt: skip
    p.add_argument("--dev-clips", type=int, default=40, help="dev clips for --evaluate")
    p.add_argument(
        "--seeds", type=int, nargs="+", metavar="SEED",
        help="train one model per seed (<name>_s<seed>) and report how far apart they are",
    )  # fmt: skip
    p.add_argument(
        "--negative-minutes", type=float, default=60.0, help="long negatives for --evaluate"
    )
    p.set_defaults(func=cmd_train_trigger)

    p = sub.add_parser(
        "mine-negatives",
        help="windows where a trigger model fires on audio with no trigger → a dataset",
    )
    p.add_argument("sources", nargs="*", help="audio files or folders with no trigger in them")
    p.add_argument("--model", help="trigger model name or folder (default: the shipped one)")
    p.add_argument("--threshold", type=float, help="detection threshold (default: the model's)")
    p.add_argument(
        "--train-negatives", type=float, metavar="MINUTES",
        help="also mine MINUTES of long negatives made from the corpus's training voices",
    )  # fmt: skip
    p.add_argument("--out", help="folder of the mined windows (default: data/mined/)")
    p.add_argument("--max-per-file", type=int, help="keep the N most confident per file")
    p.add_argument("--seed", type=int, default=0, help="seed of where each event sits")
    p.add_argument(
        "--dataset", default="mined_negatives", help="named dataset built from the windows"
    )
    p.add_argument("--no-dataset", action="store_true", help="only write the windows")
    add_profile(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_mine_negatives)

    p = sub.add_parser(
        "export", help="a trigger model as one .npz file that listens without TensorFlow"
    )
    p.add_argument("model", nargs="?", help="model name or folder (default: the shipped one)")
    p.add_argument("--out", help="the file to write (default: ./<name>.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.add_argument(
        "--keep", action="store_true",
        help="write it into the model's folder (model.npz): listening then starts without "
        "TensorFlow",
    )  # fmt: skip
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("models", help="list the trigger (or speaker) models (model cards)")
    p.add_argument("--tree", action="store_true", help="show the lineage tree")
    p.add_argument("--speaker", action="store_true", help="the speaker models instead")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("runs", help="list the run records, or show what differs between two")
    p.add_argument(
        "action", nargs="?", choices=["list", "diff"], default="list",
        help="list (default): one line per run; diff A B: the settings, metrics and environment "
        "that differ between two runs",
    )  # fmt: skip
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="diff: two runs (a folder, a run name, a part only one name has, or "
                   "'last')")  # fmt: skip
    p.add_argument("--notebook", help="list: only this notebook's runs (name or number)")
    p.add_argument("--last", type=int, metavar="N", help="list: only the newest N runs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("labels", help="hand labels: summary, split into datasets, demo recordings")
    p.add_argument(
        "action",
        choices=["summary", "split", "demo"],
        help="summary: what is labelled (exit 1 if a label file is malformed); split: record "
        "the train/dev/test split and build the hand_* datasets; demo: make demo recordings",
    )
    p.add_argument("folder", nargs="?", help="recordings folder (default: data/recordings/)")
    add_profile(p)
    add_params(p)
    p.add_argument("--no-datasets", action="store_true", help="split: only write split.json")
    p.set_defaults(func=cmd_labels)
    p = sub.add_parser("verify", help="same speaker? cosine score of two audio files")
    p.add_argument("a", help="first audio file")
    p.add_argument("b", help="second audio file")
    p.add_argument("--model", help="speaker model name or folder (default: the shipped one)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("enroll", help="store a speaker profile from audio files")
    p.add_argument("name", help="the speaker's name (profile data/speakers/NAME.json)")
    p.add_argument("files", nargs="+", help="audio files of the speaker")
    p.add_argument("--model", help="speaker model name or folder (default: the shipped one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing profile")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("embed", help="speaker embeddings of every audio file in a folder")
    p.add_argument("folder", help="folder of audio files (searched recursively)")
    p.add_argument("--out", required=True, help="JSON-lines file to write")
    p.add_argument("--model", help="speaker model name or folder (default: the shipped one)")
    p.set_defaults(func=cmd_embed)
    p = sub.add_parser("sagemaker", help="run notebooks as SageMaker training jobs")
    smp = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = smp.add_parser("submit", help="run a numbered notebook as a training job (cost first)")
    q.add_argument("notebook", help="e.g. 03_train_trigger (or 03)")
    add_params(q)
    q.add_argument(
        "-f", "--params-file", action="append", metavar="PARAMS.yaml",
        help="YAML file of parameters (-p wins over it)",
    )  # fmt: skip
    add_profile(q)
    q.add_argument("--instance-type", required=True, help="e.g. ml.p2.xlarge, ml.g5.xlarge")
    q.add_argument("--instance-count", type=int, default=1, help="instances (data-parallel)")
    q.add_argument("--spot", action="store_true", help="managed spot training (resumes)")
    q.add_argument("--max-hours", type=float, help="stop after (default: configs/sagemaker.yaml)")
    q.add_argument("--dry-run", action="store_true", help="print the request, upload nothing")
    q.set_defaults(func=cmd_sagemaker)
    for action, text in (
        ("status", "state and billable seconds"),
        ("logs", "CloudWatch log"),
        ("stop", "stop the job"),
        ("fetch", "download its runs into runs/"),
    ):
        q = smp.add_parser(action, help=text)
        q.add_argument("job", metavar="JOB", help="training job name")
        q.set_defaults(func=cmd_sagemaker)
    p = sub.add_parser("listen", help="live assistant: trigger word → command → music")
    p.add_argument(
        "--source", nargs="+", default=["mic"], metavar="mic|FILE",
        help="'mic' (default) or audio files played one after the other",
    )  # fmt: skip
    p.add_argument(
        "--asr", choices=["pocketsphinx", "google"],
        help="speech recogniser: pocketsphinx (offline) or google (falls back to pocketsphinx)",
    )  # fmt: skip
    p.add_argument(
        "--open-vocabulary", action="store_true",
        help="pocketsphinx: general English model instead of the command grammar",
    )  # fmt: skip
    p.add_argument("--music", choices=["dry-run", "spotify"], help="music controller")
    p.add_argument("--speaker-gate", metavar="NAME", help="only this enrolled speaker commands")
    p.add_argument("--model", help="trigger model name or folder (default: shipped)")
    p.add_argument("--threshold", type=float, help="detection threshold (default: the card's)")
    p.add_argument("--realtime", action="store_true", help="play files at real-time speed")
    p.add_argument("--json", action="store_true", help="one JSON object per event per line")
    p.set_defaults(func=cmd_listen)
    p = sub.add_parser("spotify-login", help="log in to Spotify once (for --music spotify)")
    p.add_argument("--no-browser", action="store_true", help="print the login URL instead")
    p.set_defaults(func=cmd_spotify_login)

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
