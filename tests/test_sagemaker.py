"""SageMaker jobs, all offline: requests checked against botocore's service model (Stubber,
parameter validation, name/ARN patterns), S3 staging against moto, settings and credential
errors, cost estimate, TF_CONFIG, and a simulated spot interruption of the trigger trainer
resuming from the job's checkpoint directory."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import boto3
import keras
import numpy as np
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from moto import mock_aws

from lib import cli, config, paths
from lib import sagemaker as sm
from lib import sagemaker_entry as entry
from lib.errors import ConfigError

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/HeyJoeSageMaker"
BUCKET = "heyjoe-test-bucket"
JOB = "heyjoe-test-job-1"
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials only (moto and Stubber never reach AWS); no real config files."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "HEYJOE_SAGEMAKER_ROLE",
                "HEYJOE_SAGEMAKER_BUCKET", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_ROLE_ARN", "HEYJOE_TRAINING_DIR"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def _settings(**changes) -> sm.SageMakerConfig:
    cfg = config.load_config("sagemaker", "full")
    base = {"region": REGION, "role_arn": ROLE, "bucket": BUCKET, "data_folders": []}
    return dataclasses.replace(cfg, **{**base, **changes})


def _clients(s3=None) -> sm.Clients:
    session = boto3.Session(region_name=REGION)
    return sm.Clients(
        sagemaker=session.client("sagemaker"),
        s3=s3 or session.client("s3"),
        logs=session.client("logs"),
    )


def _git_repo(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "a.py").write_text("x = 1\n")
    (root / "pyproject.toml").write_text("[project]\nname='t'\n")
    (root / "untracked.txt").write_text("not staged\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "lib/a.py", "pyproject.toml"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


# ---------------------------------------------------------------------------- settings


def test_settings_both_profiles_and_bad_values() -> None:
    full = config.load_config("sagemaker", "full")
    quick = config.load_config("sagemaker", "quick")
    assert quick.max_hours <= full.max_hours and full.instance_prices["ml.p2.xlarge"] == 1.26
    assert full.storage_price_gb_month == 0.10 and full.role_arn is None and full.bucket is None
    with pytest.raises(ConfigError, match="spot_wait_hours"):
        config.load_config("sagemaker", "full", {"max_hours": 10.0, "spot_wait_hours": 2.0})
    with pytest.raises(ConfigError, match="data_folders"):
        config.load_config("sagemaker", "full", {"data_folders": ["../secrets"]})


def test_image_uri_follows_region_map_and_instance_kind() -> None:
    cfg = _settings()
    gpu = sm.image_uri(cfg, "eu-west-1", "ml.p2.xlarge")
    assert gpu == ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-training:"
                   "2.21-gpu-py312-cu129-amzn2023-sagemaker")  # fmt: skip
    assert "-cpu-" in sm.image_uri(cfg, "eu-west-1", "ml.m5.xlarge")
    assert sm.image_uri(cfg, "af-south-1", "ml.g5.xlarge").startswith("626614931356.dkr.ecr.af")
    assert sm.image_uri(cfg, "cn-north-1", "ml.m5.xlarge").split("/")[0].endswith(".com.cn")
    assert sm.image_uri(_settings(image_uri="mine:1"), "eu-west-1", "ml.p2.xlarge") == "mine:1"


def test_cost_estimate_price_times_hours_times_instances() -> None:
    est = sm.estimate_cost(_settings(), "ml.p2.xlarge", 2, 4.0, spot=True)
    assert est["max_compute_usd"] == pytest.approx(1.26 * 4 * 2)
    text = sm.cost_text(est)
    assert "$10.08" in text and "up to ~70% less, billed on actual use" in text
    unknown = sm.cost_text(sm.estimate_cost(_settings(), "ml.c7i.large", 1, 1.0, spot=False))
    assert "no price for ml.c7i.large" in unknown and "spot" not in unknown


# ---------------------------------------------------------------------------- requests


def test_job_names_match_sagemaker_pattern() -> None:
    for nb in ("01_synthesize", "03_train_trigger", "x" * 200, "__weird__name__"):
        name = sm.job_name(nb)
        assert NAME_RE.fullmatch(name) and len(name) <= 63, name


def test_request_is_valid_for_the_service_model_and_bad_names_are_caught() -> None:
    request, est = sm.prepare(
        "03_train_trigger", {"epochs": 3}, profile="quick", instance_type="ml.p2.xlarge",
        instance_count=2, spot=True, max_hours=2.0, settings=_settings(data_folders=["datasets"]),
        name=JOB,
    )  # fmt: skip
    shape = sm._service_model().operation_model("CreateTrainingJob").input_shape
    validate_parameters(request, shape)  # raises on any type/required-member error
    assert NAME_RE.fullmatch(request["TrainingJobName"]) and ROLE_RE.fullmatch(request["RoleArn"])
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"]["MaxWaitTimeInSeconds"] >= 7200
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert request["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/heyjoe/jobs/{JOB}/checkpoints/"
    args = request["AlgorithmSpecification"]["ContainerArguments"]
    assert json.loads(args[args.index("--params") + 1]) == {"epochs": 3}
    assert all(len(s) <= 256 for s in request["AlgorithmSpecification"]["ContainerEntrypoint"])
    assert json.loads(request["Environment"]["HEYJOE_DATA_CHANNELS"]) == {
        "data-datasets": "datasets"
    }
    assert est["max_compute_usd"] == pytest.approx(1.26 * 2 * 2)

    bad = {**request, "TrainingJobName": "bad_name!", "RoleArn": "arn:aws:iam::123:role/x"}
    with pytest.raises(ConfigError) as err:
        sm.check_request("CreateTrainingJob", bad)
    assert "TrainingJobName" in str(err.value) and "RoleArn" in str(err.value)
    bad = {**request, "ResourceConfig": {**request["ResourceConfig"], "InstanceType": "ml.huge"}}
    with pytest.raises(ConfigError, match="InstanceType"):
        sm.check_request("CreateTrainingJob", bad)
    with pytest.raises(ConfigError, match="RoleArn"):
        sm.check_request("CreateTrainingJob", {k: v for k, v in request.items() if k != "RoleArn"})


@pytest.mark.parametrize(
    ("notebook", "params", "fragment"),
    [
        ("99_nope", {}, "unknown notebook"),
        ("03_train_trigger", {"epoch": 3}, "unknown parameter"),
        ("03_train_trigger", {"api_key": "x"}, "looks like a secret"),
        ("03_train_trigger", {"epochs": "many"}, "'epochs' must be int"),
    ],
)
def test_notebook_and_parameter_errors_before_any_aws_call(aws_env, notebook, params, fragment):
    clients = _clients()
    with Stubber(clients.sagemaker) as sstub, Stubber(clients.s3) as s3stub:  # no responses
        with pytest.raises(ConfigError, match=fragment):
            sm.submit(notebook, params, profile="quick", instance_type="ml.p2.xlarge",
                      settings=_settings(), clients=clients)  # fmt: skip
        sstub.assert_no_pending_responses()
        s3stub.assert_no_pending_responses()


def test_missing_settings_and_credentials_one_message_before_upload(aws_env, monkeypatch):
    with pytest.raises(ConfigError) as err:
        sm.submit("03_train_trigger", {}, profile="quick", instance_type="ml.p2.xlarge",
                  settings=_settings(role_arn=None, bucket=None), clients=_clients())  # fmt: skip
    msg = str(err.value)
    assert "role_arn" in msg and "bucket" in msg and "\n" not in msg

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError) as err:
        sm.aws_clients(_settings(region=None, role_arn=None, bucket=None))
    msg = str(err.value)
    for word in ("credentials", "region", "role", "bucket"):
        assert word in msg
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEY123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-42")
    with pytest.raises(ConfigError) as err:
        sm.aws_clients(_settings(bucket=None))
    assert "bucket" in str(err.value) and "credentials" not in str(err.value)
    assert "very-secret-value-42" not in str(err.value) and "AKIATESTKEY123" not in str(err.value)


# ---------------------------------------------------------------------------- S3 and submit


@mock_aws
def test_dry_run_uploads_nothing_and_submit_stages_then_creates(aws_env, tmp_path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    toy = paths.data_dir() / "datasets" / "toy"
    (toy / "shards").mkdir(parents=True)
    (toy / "manifest.json").write_text("{}")
    (toy / "shards" / "0.npz").write_bytes(b"\0" * 100)
    settings = _settings(data_folders=["datasets/toy"])
    code = _git_repo(tmp_path / "repo")
    clients = _clients(s3)
    kwargs = dict(profile="quick", instance_type="ml.g5.xlarge", settings=settings, name=JOB,
                  code_root=code, clients=clients)  # fmt: skip

    with pytest.raises(ConfigError, match="datasets/missing"):
        sm.submit("03_train_trigger", {}, **{**kwargs, "settings": _settings(data_folders=[
            "datasets/toy", "datasets/missing"])})  # fmt: skip
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0  # nothing uploaded

    shown: list[str] = []
    dry = sm.submit("03_train_trigger", {"epochs": 2}, dry_run=True, confirm=shown.append, **kwargs)
    assert dry.dry_run and dry.job_arn is None and "cost estimate" in shown[0]
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0

    arn = f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{JOB}"
    with Stubber(clients.sagemaker) as stub:  # validates the request against the model too
        stub.add_response("create_training_job", {"TrainingJobArn": arn}, dry.request)
        sub = sm.submit("03_train_trigger", {"epochs": 2}, **kwargs)
        stub.assert_no_pending_responses()
    assert sub.job_arn == arn and sub.request == dry.request
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"heyjoe/jobs/{JOB}/code/code.tar.gz", "heyjoe/data/datasets/toy/manifest.json",
                    "heyjoe/data/datasets/toy/shards/0.npz"}  # fmt: skip
    body = s3.get_object(Bucket=BUCKET, Key=f"heyjoe/jobs/{JOB}/code/code.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["lib/a.py", "pyproject.toml"]  # git-tracked only
    assert sm.upload_folder(s3, toy, BUCKET, "heyjoe/data/datasets/toy") == 0  # unchanged: skipped


def _describe_response(**changes) -> dict:
    base = {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{JOB}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/heyjoe/output/{JOB}/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.p2.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": "2026-11-23T09:00:00Z",
        "EnableManagedSpotTraining": True,
        "TrainingTimeInSeconds": 1000,
        "BillableTimeInSeconds": 400,
    }  # fmt: skip
    return {**base, **changes}


@mock_aws
def test_status_logs_stop_and_fetch_into_runs(aws_env) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("runs/20261123T090000Z_03_train_trigger_sagemaker/run.json", b"{}"),
                           ("checkpoints/trigger/hey_joe_dev/card.json", b"{}"),
                           ("elsewhere/x.txt", b"no")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3.put_object(
        Bucket=BUCKET, Key=f"heyjoe/output/{JOB}/output/model.tar.gz", Body=buf.getvalue()
    )
    clients = _clients(s3)
    job = {"TrainingJobName": JOB}
    with Stubber(clients.sagemaker) as stub:
        stub.add_response("describe_training_job", _describe_response(), job)
        stub.add_response("stop_training_job", {}, job)
        stub.add_response("describe_training_job", _describe_response(), job)
        state = sm.status(clients, JOB)
        sm.stop(clients, JOB)
        run_dirs = sm.fetch(clients, JOB)
        stub.assert_no_pending_responses()
    assert state["billable_seconds"] == 400 and state["spot_saving"] == pytest.approx(0.6)
    assert run_dirs == [paths.runs_dir() / "20261123T090000Z_03_train_trigger_sagemaker"]
    assert (run_dirs[0] / "run.json").is_file()
    assert (paths.checkpoints_dir() / "trigger" / "hey_joe_dev" / "card.json").is_file()
    assert not (paths.runs_dir().parent / "elsewhere").exists()

    stream = f"{JOB}/algo-1-1700000000"
    with Stubber(clients.logs) as stub:
        stub.add_response(
            "describe_log_streams",
            {"logStreams": [{"logStreamName": stream}]},
            {"logGroupName": sm.LOG_GROUP, "logStreamNamePrefix": f"{JOB}/"},
        )
        stub.add_response("get_log_events", {"events": [{"timestamp": 1, "message": "epoch 1"}]},
                          {"logGroupName": sm.LOG_GROUP, "logStreamName": stream,
                           "startFromHead": True, "limit": 10000})  # fmt: skip
        assert sm.logs(clients, JOB) == ["epoch 1"]

    with Stubber(clients.sagemaker) as stub:
        running = _describe_response(TrainingJobStatus="InProgress")
        running["ModelArtifacts"] = {"S3ModelArtifacts": ""}
        stub.add_response("describe_training_job", running, job)
        with pytest.raises(sm.SageMakerError, match="no model artifact yet"):
            sm.fetch(clients, JOB)


def test_cli_dry_run_prints_request_json_and_cost(aws_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HEYJOE_SAGEMAKER_ROLE", ROLE)
    monkeypatch.setenv("HEYJOE_SAGEMAKER_BUCKET", BUCKET)
    rc = cli.main(["sagemaker", "submit", "03", "-p", "epochs", "2", "--profile", "quick",
                   "--instance-type", "ml.p2.xlarge", "--spot", "--dry-run"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0 and "cost estimate" in err and "up to ~70% less" in err
    request = json.loads(out)
    assert request["RoleArn"] == ROLE and request["EnableManagedSpotTraining"] is True
    monkeypatch.delenv("HEYJOE_SAGEMAKER_BUCKET")
    assert cli.main(["sagemaker", "submit", "03", "--instance-type", "ml.p2.xlarge",
                     "--dry-run"]) == 2  # fmt: skip
    assert "bucket" in capsys.readouterr().err


# ---------------------------------------------------------------------------- in the container


def test_tf_config_from_sagemaker_hosts(tmp_path) -> None:
    cfg = entry.tf_config(["algo-2", "algo-1", "algo-3"], "algo-2")
    assert cfg == {"cluster": {"worker": ["algo-1:2222", "algo-2:2222", "algo-3:2222"]},
                   "task": {"type": "worker", "index": 1}}  # fmt: skip
    assert entry.tf_config(["algo-1"], "algo-1") is None
    with pytest.raises(ValueError, match="not among"):
        entry.tf_config(["algo-1", "algo-2"], "algo-9")
    rc = tmp_path / "resourceconfig.json"
    rc.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    assert entry.cluster_hosts({}, rc) == (["algo-1", "algo-2"], "algo-2")
    env = {"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}
    assert entry.cluster_hosts(env, rc) == (["algo-1"], "algo-1")


def test_entry_requirements_channels_and_command(tmp_path) -> None:
    reqs = entry.pip_requirements((paths.PROJ_ROOT / "pyproject.toml").read_text())
    assert reqs and not any(r.lower().startswith(("tensorflow", "tensorboard")) for r in reqs)
    assert any(r.startswith("papermill==") for r in reqs)
    (tmp_path / "in" / "data-raw").mkdir(parents=True)
    made = entry.link_data_channels({"data-raw": "raw"}, tmp_path / "in", tmp_path / "data")
    assert made == [tmp_path / "data" / "raw"] and made[0].resolve() == tmp_path / "in" / "data-raw"
    with pytest.raises(FileNotFoundError, match="data-x"):
        entry.link_data_channels({"data-x": "x"}, tmp_path / "in", tmp_path / "data")
    cmd = entry.run_command("03_train_trigger", "quick", {"epochs": 2}, "sagemaker")
    assert cmd[1:5] == ["-m", "lib.cli", "run", "03_train_trigger"] and "epochs" in cmd
    env = entry.container_environment(Path("/opt/ml"))
    assert env["HEYJOE_RUNS_DIR"] == "/opt/ml/model/runs"
    assert env["HEYJOE_TRAINING_DIR"].startswith("/opt/ml/checkpoints/")


def test_lifecycle_script_is_valid_bash_and_backgrounds_the_pipeline() -> None:
    script = paths.PROJ_ROOT / "tools" / "sagemaker-lifecycle.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "nohup" in text and "heyjoe pipeline" in text and "&" in text


class _Interrupt(keras.callbacks.Callback):
    """A spot interruption: the instance goes away as epoch 2 begins."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_spot_interruption_resumes_from_the_job_checkpoint_dir(monkeypatch, tmp_path) -> None:
    from lib.trigger import train as tr
    from lib.trigger.testing import toy_dataset

    toy_dataset("toy_train", 8, seed=0)
    cfg = config.load_config("trigger", "quick", {
        "model_name": "spot", "datasets": {"toy_train": 1.0}, "architecture": "tiny",
        "epochs": 2, "batch_size": 4, "steps_per_epoch": 2, "verbose": 0, "tensorboard": False,
        "keep_best": False,
    })  # fmt: skip
    cfg = dataclasses.replace(cfg, parent=None, dev_dataset=None)

    def job(ml_root: Path) -> None:  # what the entry script sets up in a container
        for key, value in entry.container_environment(ml_root).items():
            if key != "HEYJOE_DATA_DIR":
                monkeypatch.setenv(key, value)

    job(tmp_path / "straight")
    straight = tr.train(cfg)
    job(tmp_path / "first")
    with pytest.raises(KeyboardInterrupt):
        tr.train(cfg, callbacks=[_Interrupt()])
    state = tmp_path / "first" / "checkpoints" / "training" / "spot" / "state.json"
    assert json.loads(state.read_text())["epochs_done"] == 1
    # SageMaker restarts the job on a new instance with /opt/ml/checkpoints restored from S3
    shutil.copytree(tmp_path / "first" / "checkpoints", tmp_path / "second" / "checkpoints")
    job(tmp_path / "second")
    resumed = tr.train(cfg)
    assert resumed.resumed_from == 1
    assert resumed.model_dir.is_relative_to(tmp_path / "second" / "checkpoints")
    a = keras.saving.load_model(next(straight.model_dir.glob("*.keras"))).get_weights()
    b = keras.saving.load_model(next(resumed.model_dir.glob("*.keras"))).get_weights()
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
