"""What runs inside a SageMaker training job (standard library only: it runs before the
project's dependencies are installed).

The job's ``ContainerEntrypoint`` unpacks the staged code (a tarball of the git-tracked
files, the ``code`` channel) into ``/opt/ml/code`` and calls :func:`main`, which

1. pip-installs the project's dependencies except TensorFlow (the container's own
   TensorFlow, GPU build included, is kept);
2. links each staged data channel into ``HEYJOE_DATA_DIR`` under its folder name;
3. points the run, checkpoint and training folders at SageMaker's directories
   (:func:`container_environment`): run records into ``/opt/ml/model/runs`` (uploaded as the
   model artifact, the same layout as a local ``runs/``), the trainers' per-epoch
   checkpoints into ``/opt/ml/checkpoints`` (synced to S3; after a spot interruption the
   restarted job finds them there and the trainers resume);
4. with several instances, sets ``TF_CONFIG`` for ``tf.distribute`` multi-worker training
   from ``SM_HOSTS`` / ``SM_CURRENT_HOST`` (:func:`tf_config`): the trigger and speaker
   trainers read it (:mod:`lib.distribute`) and train data-parallel across the hosts, and
   only the chief (the first host) writes checkpoints, logs and models, so the synced
   ``/opt/ml/checkpoints`` and the model artifact hold the chief's alone. After a spot
   restart every host resumes from the checkpoints restored into its
   ``/opt/ml/checkpoints``; should they differ, the trainers stop with an error naming each
   worker's epoch rather than hang;
5. runs ``heyjoe run NOTEBOOK -p KEY VALUE ... --profile PROFILE`` (papermill).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CODE_DIR = Path("/opt/ml/code")
ML_ROOT = Path("/opt/ml")
#: TF_CONFIG port of each worker (any free port; the same on every host)
WORKER_PORT = 2222
#: requirements never installed in the container (it brings its own TensorFlow build)
SKIP_REQUIREMENTS = ("tensorflow", "tensorflow-cpu", "tensorboard")


def tf_config(
    hosts: list[str], current_host: str, port: int = WORKER_PORT
) -> dict[str, Any] | None:
    """``TF_CONFIG`` for ``MultiWorkerMirroredStrategy``; None for a single host.

    ``hosts`` is SageMaker's ``SM_HOSTS`` (``["algo-1", "algo-2"]``); the first host, in
    sorted order, is worker 0, the chief.
    """
    if not hosts:
        raise ValueError("SM_HOSTS is empty")
    ordered = sorted(hosts)
    if current_host not in ordered:
        raise ValueError(f"current host {current_host!r} is not among SM_HOSTS {ordered}")
    if len(ordered) == 1:
        return None
    return {
        "cluster": {"worker": [f"{h}:{port}" for h in ordered]},
        "task": {"type": "worker", "index": ordered.index(current_host)},
    }


def cluster_hosts(environ: dict[str, str], resource_config: Path) -> tuple[list[str], str]:
    """(hosts, current host) from ``SM_HOSTS``/``SM_CURRENT_HOST`` (set by SageMaker's
    training toolkit) or else from ``/opt/ml/input/config/resourceconfig.json`` (always
    written by SageMaker, also when the entrypoint is our own)."""
    if environ.get("SM_HOSTS") and environ.get("SM_CURRENT_HOST"):
        return json.loads(environ["SM_HOSTS"]), environ["SM_CURRENT_HOST"]
    if resource_config.is_file():
        rc = json.loads(resource_config.read_text())
        return list(rc["hosts"]), rc["current_host"]
    return [], ""


def container_environment(ml_root: Path = ML_ROOT) -> dict[str, str]:
    """Where a job's heyjoe folders go, as the environment variables :mod:`lib.paths` and the
    trainers read. Tests call it with a temporary ``ml_root`` to simulate a job."""
    return {
        "HEYJOE_RUNS_DIR": str(ml_root / "model" / "runs"),
        "HEYJOE_CHECKPOINTS_DIR": str(ml_root / "checkpoints" / "models"),
        "HEYJOE_TRAINING_DIR": str(ml_root / "checkpoints" / "training"),
        "HEYJOE_DATA_DIR": str(ml_root / "heyjoe-data"),
    }


def pip_requirements(pyproject_text: str) -> list[str]:
    """The runtime dependencies of ``pyproject.toml`` minus TensorFlow (the container's)."""
    import tomllib

    deps = tomllib.loads(pyproject_text)["project"]["dependencies"]
    keep = []
    for dep in deps:
        name = dep.split(";")[0].split("==")[0].split(">")[0].split("<")[0].strip().lower()
        if name not in SKIP_REQUIREMENTS:
            keep.append(dep)
    return keep


def link_data_channels(channels: dict[str, str], input_dir: Path, data_dir: Path) -> list[Path]:
    """Make ``data_dir/<folder>`` point at each channel's download ``input_dir/<channel>``."""
    made = []
    for channel, folder in channels.items():
        source = input_dir / channel
        if not source.is_dir():
            raise FileNotFoundError(f"data channel {channel!r} ({folder}) was not mounted")
        target = data_dir / folder
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            continue
        target.symlink_to(source, target_is_directory=True)
        made.append(target)
    return made


def run_command(notebook: str, profile: str, params: dict[str, Any], tag: str) -> list[str]:
    """The ``heyjoe run`` command line of the job."""
    cmd = [sys.executable, "-m", "lib.cli", "run", notebook, "--profile", profile]
    for key, value in params.items():
        cmd += ["-p", key, json.dumps(value)]
    return cmd + ["--tag", tag, "--no-progress"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sagemaker_entry")
    ap.add_argument("--notebook", required=True)
    ap.add_argument("--profile", default="full")
    ap.add_argument("--params", default="{}", help="JSON object of notebook parameters")
    ap.add_argument("--tag", default="sagemaker")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    env.update(container_environment())
    hosts, current = cluster_hosts(env, ML_ROOT / "input" / "config" / "resourceconfig.json")
    cluster = tf_config(hosts, current) if hosts and current else None
    if cluster is not None:
        env["TF_CONFIG"] = json.dumps(cluster)
        print(f"TF_CONFIG: {env['TF_CONFIG']}", flush=True)
        if cluster["task"]["index"] != 0:  # only the chief's run record becomes the artifact
            env["HEYJOE_RUNS_DIR"] = "/tmp/heyjoe-worker-runs"
    for key in ("HEYJOE_RUNS_DIR", "HEYJOE_CHECKPOINTS_DIR", "HEYJOE_TRAINING_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    channels = json.loads(env.get("HEYJOE_DATA_CHANNELS", "{}"))
    link_data_channels(channels, ML_ROOT / "input" / "data", Path(env["HEYJOE_DATA_DIR"]))

    reqs = pip_requirements((CODE_DIR / "pyproject.toml").read_text())
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", *reqs], check=True)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_DIR), env.get("PYTHONPATH")]))
    cmd = run_command(args.notebook, args.profile, json.loads(args.params), args.tag)
    print("running:", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=CODE_DIR, env=env).returncode
    # the trained models (model cards included) travel with the run records
    models = Path(env["HEYJOE_CHECKPOINTS_DIR"])
    if models.is_dir() and any(models.iterdir()):
        shutil.copytree(models, ML_ROOT / "model" / "checkpoints", dirs_exist_ok=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
