"""Numbered notebooks as SageMaker training jobs: stage, submit, watch, fetch.

``heyjoe sagemaker submit NOTEBOOK`` checks the notebook and its parameters exactly as a
local ``heyjoe run`` does, checks the AWS settings (credentials, region, role, bucket),
prints a cost estimate, stages the code (a tarball of the git-tracked files) and the named
data folders in S3, and creates a training job in the AWS TensorFlow training container.
Inside the job :mod:`lib.sagemaker_entry` runs the notebook with papermill, writing the
usual run directory into ``/opt/ml/model/runs`` (uploaded as the model artifact;
``heyjoe sagemaker fetch JOB`` unpacks it into ``runs/``) and the trainers' per-epoch
checkpoints into ``/opt/ml/checkpoints`` (synced to S3, so a spot job resumes after an
interruption).

boto3 is imported lazily: nothing here needs it until AWS is actually called. Every request
is built by a pure function and checked against botocore's service model
(:func:`check_request`) before it is sent or printed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import json
import logging
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib import config, paths, runs
from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger(__name__)

#: AWS Deep Learning Containers registry account per region (the SageMaker SDK's image map);
#: every region not listed uses :data:`DEFAULT_DLC_ACCOUNT`.
DEFAULT_DLC_ACCOUNT = "763104351884"
DLC_ACCOUNTS: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-southeast-3": "907027046896",
    "eu-south-1": "692866216735",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENTRY_MODULE = "lib.sagemaker_entry"
CODE_CHANNEL = "code"
#: unpack the code channel and start the entry module (each entrypoint string ≤ 256 chars)
ENTRYPOINT = [
    "python3",
    "-c",
    "import sys,tarfile;tarfile.open('/opt/ml/input/data/code/code.tar.gz').extractall("
    "'/opt/ml/code',filter='data');sys.path.insert(0,'/opt/ml/code');"
    "from lib import sagemaker_entry as e;sys.exit(e.main())",
]
SPOT_SAVING = "up to ~70% less, billed on actual use"


class SageMakerError(HeyJoeError):
    """An AWS call failed or a job is not in the state the command needs."""


@dataclass(frozen=True)
class SageMakerConfig:
    """Settings of the ``sagemaker`` stage (``configs/sagemaker.yaml`` documents each key)."""

    region: str | None = None
    role_arn: str | None = None
    bucket: str | None = None
    prefix: str = "heyjoe"
    framework_version: str = "2.21"
    image_tag_gpu: str = "2.21-gpu-py312-cu129-amzn2023-sagemaker"
    image_tag_cpu: str = "2.21-cpu-py312-amzn2023-sagemaker"
    image_uri: str | None = None
    instance_prices: dict[str, float] = field(default_factory=lambda: {"ml.p2.xlarge": 1.26})
    storage_price_gb_month: float = 0.10
    max_hours: float = 4.0
    spot: bool = False
    spot_wait_hours: float = 8.0
    volume_gb: int = 30
    data_folders: list[str] = field(default_factory=lambda: ["datasets", "raw"])

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"sagemaker parameter {key!r} {why}, got {getattr(self, key)!r}")

        if not self.max_hours > 0:
            raise bad("max_hours", "must be positive")
        if self.spot_wait_hours < self.max_hours:
            raise bad("spot_wait_hours", f"must be at least max_hours ({self.max_hours})")
        if not 1 <= self.volume_gb <= 16384:
            raise bad("volume_gb", "must be in [1, 16384] GB")
        if any(not p > 0 for p in self.instance_prices.values()):
            raise bad("instance_prices", "must all be positive (USD per hour)")
        if self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise bad("prefix", "must not start or end with '/'")
        for folder in self.data_folders:
            if folder.startswith("/") or ".." in Path(folder).parts:
                raise bad("data_folders", "must be folders below data/")


def load_settings(profile: str = "full", overrides: dict[str, Any] | None = None) -> Any:
    """The ``sagemaker`` stage with the environment overrides (region, role, bucket)."""
    cfg = config.load_config("sagemaker", profile, overrides)
    env = {
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        "role_arn": os.environ.get("HEYJOE_SAGEMAKER_ROLE"),
        "bucket": os.environ.get("HEYJOE_SAGEMAKER_BUCKET"),
    }
    return dataclasses.replace(cfg, **{k: v for k, v in env.items() if v and not getattr(cfg, k)})


# ---------------------------------------------------------------------------- pure pieces


def job_name(notebook: str, now: dt.datetime | None = None) -> str:
    """``heyjoe-03-train-trigger-20261123-093000`` (≤ 63 chars, SageMaker's name pattern)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", notebook).strip("-")[: 63 - len(stamp) - 8]
    return f"heyjoe-{stem}-{stamp}"


def is_gpu_instance(instance_type: str) -> bool:
    """ml.p*, ml.g* instance families have NVIDIA GPUs (the rest run the CPU image)."""
    family = instance_type.removeprefix("ml.").split(".")[0]
    return family[:1] in ("p", "g")


def image_uri(cfg: SageMakerConfig, region: str, instance_type: str) -> str:
    """The TensorFlow training image of the configured version for this region and instance."""
    if cfg.image_uri:
        return cfg.image_uri
    account = DLC_ACCOUNTS.get(region, DEFAULT_DLC_ACCOUNT)
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    tag = cfg.image_tag_gpu if is_gpu_instance(instance_type) else cfg.image_tag_cpu
    return f"{account}.dkr.ecr.{region}.{domain}/tensorflow-training:{tag}"


def estimate_cost(
    cfg: SageMakerConfig, instance_type: str, count: int, max_hours: float, spot: bool
) -> dict[str, Any]:
    """Upper bound of a job's compute cost: price × maximum hours × instances (USD)."""
    price = cfg.instance_prices.get(instance_type)
    compute = None if price is None else round(price * max_hours * count, 2)
    storage = round(cfg.storage_price_gb_month * cfg.volume_gb * count * max_hours / (30 * 24), 4)
    return {
        "instance_type": instance_type,
        "instance_count": count,
        "price_per_hour": price,
        "max_hours": max_hours,
        "max_compute_usd": compute,
        "max_storage_usd": storage,
        "spot": spot,
    }


def cost_text(est: dict[str, Any]) -> str:
    """One paragraph for the terminal."""
    head = f"{est['instance_count']} x {est['instance_type']} for at most {est['max_hours']:g} h"
    if est["price_per_hour"] is None:
        text = (
            f"cost estimate: {head}: no price for {est['instance_type']} in "
            "configs/sagemaker.yaml instance_prices (add it to get an estimate)"
        )
    else:
        text = (
            f"cost estimate: {head} at ${est['price_per_hour']:.3f}/h = at most "
            f"${est['max_compute_usd']:.2f} (+ ${est['max_storage_usd']:.2f} storage)"
        )
    if est["spot"]:
        text += f"; spot: {SPOT_SAVING}"
    return text


def s3_uri(bucket: str, *parts: str) -> str:
    return "s3://" + "/".join([bucket, *[p.strip("/") for p in parts if p]])


def data_channel_name(folder: str) -> str:
    """``datasets/bootstrap_train`` → ``data-datasets-bootstrap_train`` (channel pattern)."""
    return ("data-" + re.sub(r"[^A-Za-z0-9._-]+", "-", folder.strip("/")))[:64]


def build_request(
    cfg: SageMakerConfig,
    *,
    name: str,
    region: str,
    notebook: str,
    params: dict[str, Any],
    profile: str,
    instance_type: str,
    instance_count: int = 1,
    spot: bool = False,
    max_hours: float | None = None,
    data_folders: list[str] | None = None,
    tag: str = "sagemaker",
) -> dict[str, Any]:
    """The CreateTrainingJob request (a plain dict, checked by :func:`check_request`)."""
    hours = cfg.max_hours if max_hours is None else max_hours
    folders = cfg.data_folders if data_folders is None else data_folders
    root = f"{cfg.prefix}/jobs/{name}"
    channels = [
        {
            "ChannelName": CODE_CHANNEL,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": s3_uri(cfg.bucket or "", root, "code", "code.tar.gz"),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "InputMode": "File",
        }
    ]
    mapping = {}
    for folder in folders:
        channel = data_channel_name(folder)
        mapping[channel] = folder
        channels.append(
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": s3_uri(cfg.bucket or "", cfg.prefix, "data", folder) + "/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            }
        )
    max_runtime = int(round(hours * 3600))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_runtime}
    if spot:
        stopping["MaxWaitTimeInSeconds"] = max(max_runtime, int(round(cfg.spot_wait_hours * 3600)))
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri(cfg, region, instance_type),
            "TrainingInputMode": "File",
            "ContainerEntrypoint": list(ENTRYPOINT),
            "ContainerArguments": [
                "--notebook",
                notebook,
                "--profile",
                profile,
                "--params",
                json.dumps(params, sort_keys=True),
                "--tag",
                tag,
            ],  # fmt: skip
        },
        "RoleArn": cfg.role_arn or "",
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": s3_uri(cfg.bucket or "", cfg.prefix, "output") + "/"},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeSizeInGB": cfg.volume_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spot,
        "CheckpointConfig": {
            "S3Uri": s3_uri(cfg.bucket or "", root, "checkpoints") + "/",
            "LocalPath": "/opt/ml/checkpoints",
        },
        "Environment": {"HEYJOE_DATA_CHANNELS": json.dumps(mapping, sort_keys=True)},
        "Tags": [{"Key": "heyjoe:notebook", "Value": notebook}],
    }
    return request


# ---------------------------------------------------------------------------- validation


def _service_model(service: str = "sagemaker") -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@functools.lru_cache(maxsize=512)
def _regex(pattern: str | None) -> re.Pattern[str] | None:
    """A model pattern as a Python regex; None when absent or Java-only (``\\p{...}``)."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _check_strings(shape: Any, value: Any, where: str, errors: list[str]) -> None:
    """min/max length, regex pattern (whole string) and enums, which botocore's own
    parameter validation does not check."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, v in value.items():
            if key in shape.members:
                _check_strings(shape.members[key], v, f"{where}.{key}", errors)
    elif kind == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _check_strings(shape.member, v, f"{where}[{i}]", errors)
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _check_strings(shape.key, k, f"{where} key {k!r}", errors)
            _check_strings(shape.value, v, f"{where}[{k!r}]", errors)
    elif kind == "string" and isinstance(value, str):
        meta = shape.metadata
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{where}: {value!r} is shorter than {meta['min']} characters")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{where}: longer than {meta['max']} characters ({len(value)})")
        regex = _regex(meta.get("pattern"))
        if regex is not None and not regex.fullmatch(value):
            errors.append(f"{where}: {value!r} does not match the pattern {regex.pattern}")
        if shape.enum and value not in shape.enum:
            errors.append(f"{where}: {value!r} is not one of SageMaker's values")


def check_request(operation: str, request: dict[str, Any], service: str = "sagemaker") -> None:
    """Validate ``request`` against botocore's model of ``operation``: types and required
    members (botocore), then lengths, patterns and enums. Raises ConfigError listing all."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    shape = _service_model(service).operation_model(operation).input_shape
    errors: list[str] = []
    try:
        validate_parameters(request, shape)
    except ParamValidationError as exc:
        errors.append(str(exc))
    _check_strings(shape, request, operation, errors)
    if errors:
        raise ConfigError("invalid SageMaker request:\n  " + "\n  ".join(errors))


# ---------------------------------------------------------------------------- AWS session


@dataclass
class Clients:
    """The boto3 clients a command uses (tests pass stubbed or moto-backed ones)."""

    sagemaker: Any
    s3: Any
    logs: Any


def aws_clients(cfg: SageMakerConfig, need_role: bool = True, need_bucket: bool = True) -> Clients:
    """Check credentials, region, role and bucket (ONE message naming everything missing),
    then make the clients. Secrets are never printed."""
    missing = []
    try:
        import boto3
    except ImportError:
        raise ConfigError("boto3 is not installed: pip install boto3") from None
    session = boto3.Session(region_name=cfg.region) if cfg.region else boto3.Session()
    if session.get_credentials() is None:
        missing.append(
            "AWS credentials (none found: set AWS_PROFILE, run `aws configure`, or use an "
            "instance role)"
        )
    if not session.region_name:
        missing.append("the region (configs/sagemaker.yaml region, or AWS_DEFAULT_REGION)")
    if need_role and not cfg.role_arn:
        missing.append(
            "the execution role (configs/sagemaker.yaml role_arn, or HEYJOE_SAGEMAKER_ROLE)"
        )
    if need_bucket and not cfg.bucket:
        missing.append("the S3 bucket (configs/sagemaker.yaml bucket, or HEYJOE_SAGEMAKER_BUCKET)")
    if missing:
        raise ConfigError("cannot use SageMaker, missing: " + "; ".join(missing))
    return Clients(
        sagemaker=session.client("sagemaker"), s3=session.client("s3"), logs=session.client("logs")
    )


def check_settings(cfg: SageMakerConfig) -> None:
    """Region, role and bucket present and well-formed (no AWS call)."""
    missing = [k for k in ("region", "role_arn", "bucket") if not getattr(cfg, k)]
    if missing:
        raise ConfigError(
            "cannot use SageMaker, missing: "
            + ", ".join(missing)
            + " (configs/sagemaker.yaml, or AWS_DEFAULT_REGION / HEYJOE_SAGEMAKER_ROLE / "
            "HEYJOE_SAGEMAKER_BUCKET)"
        )


# ---------------------------------------------------------------------------- staging


def code_tarball(root: Path | None = None) -> bytes:
    """A gzipped tar of the git-tracked files of ``root`` (default: the project)."""
    root = Path(root or paths.PROJ_ROOT)
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise HeyJoeError(f"cannot list the git-tracked files of {root}: {exc}") from None
    names = sorted(n for n in out.decode().split("\0") if n)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in names:
            path = root / name
            if path.is_file():  # tracked but deleted in the working tree: skip
                tar.add(path, arcname=name, recursive=False)
    return buf.getvalue()


def _existing_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            sizes[obj["Key"]] = obj["Size"]
    return sizes


def upload_folder(s3: Any, folder: Path, bucket: str, prefix: str) -> int:
    """Upload ``folder`` below ``prefix``, skipping files already there with the same size;
    returns the number of files uploaded."""
    if not folder.is_dir():
        raise ConfigError(
            f"data folder {folder} does not exist (configs/sagemaker.yaml data_folders)"
        )
    existing = _existing_sizes(s3, bucket, prefix.rstrip("/") + "/")
    sent = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
        if existing.get(key) == path.stat().st_size:
            continue
        s3.upload_file(str(path), bucket, key)
        sent += 1
    return sent


def stage(
    clients: Clients,
    cfg: SageMakerConfig,
    name: str,
    data_folders: list[str],
    code_root: Path | None = None,
) -> dict[str, Any]:
    """Code tarball to ``<prefix>/jobs/<name>/code/``, data folders to ``<prefix>/data/``."""
    bucket = cfg.bucket or ""
    absent = [f for f in data_folders if not (paths.data_dir() / f).is_dir()]
    if absent:  # before anything is uploaded
        raise ConfigError(
            f"data folder(s) {', '.join(absent)} not found under {paths.data_dir()} "
            "(configs/sagemaker.yaml data_folders)"
        )
    code_key = f"{cfg.prefix}/jobs/{name}/code/code.tar.gz"
    clients.s3.put_object(Bucket=bucket, Key=code_key, Body=code_tarball(code_root))
    uploaded = {}
    for folder in data_folders:
        uploaded[folder] = upload_folder(
            clients.s3, paths.data_dir() / folder, bucket, f"{cfg.prefix}/data/{folder}"
        )
    log.info("staged code s3://%s/%s and data %s", bucket, code_key, uploaded)
    return {"code": f"s3://{bucket}/{code_key}", "data_files_uploaded": uploaded}


# ---------------------------------------------------------------------------- commands


@dataclass
class Submission:
    """What :func:`submit` did (or would do, with ``dry_run``)."""

    request: dict[str, Any]
    estimate: dict[str, Any]
    dry_run: bool
    staged: dict[str, Any] | None = None
    job_arn: str | None = None


def prepare(
    notebook: str,
    params: dict[str, Any] | None = None,
    *,
    profile: str = "full",
    instance_type: str,
    instance_count: int = 1,
    spot: bool | None = None,
    max_hours: float | None = None,
    settings: SageMakerConfig | None = None,
    name: str | None = None,
    region: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate everything that can be checked offline; returns (request, cost estimate).

    Notebook and parameters: the same checks as a local run (:func:`lib.runs.check_parameters`,
    :func:`lib.runs.resolve_configs`). Then the request against SageMaker's service model.
    """
    params = dict(params or {})
    config.check_profile(profile)
    path = runs.resolve_notebook(notebook)
    runs.check_parameters(path, {**params, "profile": profile})
    runs.resolve_configs(path.stem, profile, params)
    cfg = settings or load_settings(profile)
    check_settings(cfg)
    if instance_count < 1:
        raise ConfigError(f"--instance-count must be at least 1, got {instance_count}")
    hours = cfg.max_hours if max_hours is None else max_hours
    if not hours > 0:
        raise ConfigError(f"--max-hours must be positive, got {hours}")
    use_spot = cfg.spot if spot is None else spot
    request = build_request(
        cfg, name=name or job_name(path.stem), region=region or cfg.region or "us-east-1",
        notebook=path.stem, params=params, profile=profile, instance_type=instance_type,
        instance_count=instance_count, spot=use_spot, max_hours=hours,
    )  # fmt: skip
    check_request("CreateTrainingJob", request)
    return request, estimate_cost(cfg, instance_type, instance_count, hours, use_spot)


def submit(
    notebook: str,
    params: dict[str, Any] | None = None,
    *,
    profile: str = "full",
    instance_type: str,
    instance_count: int = 1,
    spot: bool | None = None,
    max_hours: float | None = None,
    dry_run: bool = False,
    settings: SageMakerConfig | None = None,
    clients: Clients | None = None,
    name: str | None = None,
    code_root: Path | None = None,
    confirm: Any = None,
) -> Submission:
    """Check, estimate, stage and create the training job (nothing is uploaded on dry run).

    ``confirm``: called with the cost text before anything is uploaded (the CLI prints it).
    """
    cfg = settings or load_settings(profile)
    request, est = prepare(
        notebook, params, profile=profile, instance_type=instance_type,
        instance_count=instance_count, spot=spot, max_hours=max_hours, settings=cfg, name=name,
    )  # fmt: skip
    if confirm is not None:
        confirm(cost_text(est))
    if dry_run:
        return Submission(request=request, estimate=est, dry_run=True)
    clients = clients or aws_clients(cfg)  # credentials checked before anything is uploaded
    folders = json.loads(request["Environment"]["HEYJOE_DATA_CHANNELS"]).values()
    staged = stage(clients, cfg, request["TrainingJobName"], list(folders), code_root)
    try:
        resp = clients.sagemaker.create_training_job(**request)
    except Exception as exc:  # botocore ClientError and friends
        raise SageMakerError(f"CreateTrainingJob failed: {exc}") from None
    return Submission(request, est, False, staged, resp.get("TrainingJobArn"))


def _describe(clients: Clients, job: str) -> dict[str, Any]:
    check_request("DescribeTrainingJob", {"TrainingJobName": job})
    try:
        return clients.sagemaker.describe_training_job(TrainingJobName=job)
    except Exception as exc:
        raise SageMakerError(f"cannot describe training job {job!r}: {exc}") from None


def status(clients: Clients, job: str) -> dict[str, Any]:
    """State, secondary state, times and, once finished, the billable seconds."""
    d = _describe(clients, job)
    out = {
        "job": d["TrainingJobName"],
        "status": d["TrainingJobStatus"],
        "secondary_status": d.get("SecondaryStatus"),
        "instance_type": d.get("ResourceConfig", {}).get("InstanceType"),
        "instance_count": d.get("ResourceConfig", {}).get("InstanceCount"),
        "spot": d.get("EnableManagedSpotTraining", False),
        "training_seconds": d.get("TrainingTimeInSeconds"),
        "billable_seconds": d.get("BillableTimeInSeconds"),
        "failure_reason": d.get("FailureReason"),
        "model_artifact": d.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
    }
    if out["training_seconds"] and out["billable_seconds"] is not None:
        out["spot_saving"] = round(1 - out["billable_seconds"] / out["training_seconds"], 3)
    return out


def logs(clients: Clients, job: str, limit: int = 10000) -> list[str]:
    """The job's CloudWatch log lines (every stream: one per instance), oldest first."""
    try:
        streams = clients.logs.describe_log_streams(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/"
        ).get("logStreams", [])
    except Exception as exc:
        raise SageMakerError(f"cannot read the log streams of {job!r}: {exc}") from None
    lines: list[str] = []
    for stream in streams:
        name = stream["logStreamName"]
        events = clients.logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=name, startFromHead=True, limit=limit
        ).get("events", [])
        prefix = f"[{name.split('/', 1)[-1]}] " if len(streams) > 1 else ""
        lines += [prefix + e["message"] for e in events]
    return lines


def stop(clients: Clients, job: str) -> None:
    check_request("StopTrainingJob", {"TrainingJobName": job})
    try:
        clients.sagemaker.stop_training_job(TrainingJobName=job)
    except Exception as exc:
        raise SageMakerError(f"cannot stop training job {job!r}: {exc}") from None


def _split_s3(uri: str) -> tuple[str, str]:
    m = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if not m:
        raise SageMakerError(f"not an S3 URI: {uri!r}")
    return m.group(1), m.group(2)


def extract_artifact(archive: bytes, runs_dest: Path, models_dest: Path) -> list[Path]:
    """Unpack ``runs/…`` of a job's model.tar.gz into ``runs_dest`` and ``checkpoints/…``
    into ``models_dest``; returns the run directories. Nothing outside them is written."""
    made: set[Path] = set()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 2 or ".." in parts or Path(member.name).is_absolute():
                continue
            if not (member.isfile() or member.isdir()):
                continue
            dest = {"runs": runs_dest, "checkpoints": models_dest}.get(parts[0])
            if dest is None:
                continue
            target = dest.joinpath(*parts[1:])
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is not None:
                target.write_bytes(src.read())
            if parts[0] == "runs":
                made.add(runs_dest / parts[1])
    return sorted(made)


def fetch(clients: Clients, job: str) -> list[Path]:
    """Download the job's model artifact; its run directories go into ``runs/``."""
    d = _describe(clients, job)
    uri = d.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if not uri:
        raise SageMakerError(
            f"training job {job!r} has no model artifact yet (status {d['TrainingJobStatus']})"
        )
    bucket, key = _split_s3(uri)
    body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return extract_artifact(body, paths.runs_dir(), paths.checkpoints_dir())
