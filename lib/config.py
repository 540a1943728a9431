"""YAML configuration → dataclasses.

Each stage has one YAML file in ``configs/`` (flat keys, each with a comment) and one
dataclass in the module that owns the stage. Loading goes: file defaults → the chosen
profile's overrides (the ``profiles:`` block at the bottom of the file) → the caller's
overrides. Files are never edited; the resolved copy is written into the run directory.

A profile only changes sizes (``quick`` shrinks them); it is never a separate code path.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from lib import paths
from lib.errors import ConfigError

#: stage name → "module:DataclassName". The module owns the stage; this is only a map.
STAGES: dict[str, str] = {
    "corpus": "lib.corpus:CorpusConfig",
    "synthesis": "lib.synth:SynthesisConfig",
    "speaker": "lib.speaker.settings:SpeakerConfig",
    "trigger": "lib.trigger.train:TriggerConfig",
    "evaluate": "lib.evaluate:EvaluateConfig",
    "hand_label": "lib.handlabel:HandLabelConfig",
    "live": "lib.live.assistant:LiveConfig",
    "sagemaker": "lib.sagemaker:SageMakerConfig",
}

PROFILES = ("full", "quick")


def stage_class(stage: str) -> type:
    """The dataclass that holds a stage's settings."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; stages are: {', '.join(sorted(STAGES))}")
    module_name, class_name = STAGES[stage].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def config_path(stage: str, configs_dir: Path | None = None) -> Path:
    return (configs_dir or paths.CONFIGS_DIR) / f"{stage}.yaml"


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; errors name the file and line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys to values, not {type(data).__name__}"
        )
    return data


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any, name: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert only where no information is lost."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = ConfigError(
        f"{where}: parameter {name!r} must be {_type_name(tp)}, "
        f"got {value!r} ({type(value).__name__})"
    )
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name, where)
            except ConfigError:
                continue
        raise bad
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, args[0], f"{name}[{i}]", where) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{name}[{i}]", where) for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad
        return tuple(
            _coerce(v, a, f"{name}[{i}]", where)
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {
            _coerce(k, args[0], name, where): _coerce(v, args[1], f"{name}[{k!r}]", where)
            for k, v in value.items()
        }
    if typing.get_origin(tp) is typing.Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{where}: parameter {name!r} must be one of {', '.join(map(repr, args))}, "
            f"got {value!r}"
        )
    raise bad


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``values``: all fields present, none unknown, types checked."""
    types_ = _field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(
            f"{where}: unknown parameter(s) {', '.join(unknown)}; valid parameters are: "
            f"{', '.join(sorted(types_))}"
        )
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(values))
    if missing:
        raise ConfigError(f"{where}: missing parameter(s) {', '.join(missing)}")
    kwargs = {k: _coerce(v, types_[k], k, where) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_profile(profile: str) -> None:
    """Refuse a profile name that no config knows."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; profiles are: {', '.join(PROFILES)}")


def stage_defaults(
    stage: str, profile: str = "full", configs_dir: Path | None = None
) -> dict[str, Any]:
    """A stage's YAML values with the profile applied (plain dict, not yet type-checked)."""
    check_profile(profile)
    path = config_path(stage, configs_dir)
    data = read_yaml(path)
    profiles = data.pop("profiles", {}) or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must map profile names to overrides")
    unknown_profiles = sorted(set(profiles) - set(PROFILES))
    if unknown_profiles:
        raise ConfigError(
            f"{path}: unknown profile(s) {', '.join(unknown_profiles)}; "
            f"profiles are: {', '.join(PROFILES)}"
        )
    overrides = profiles.get(profile) or {}
    unknown = sorted(set(overrides) - set(data))
    if unknown:
        raise ConfigError(
            f"{path}: profile {profile!r} sets key(s) {', '.join(unknown)} "
            "that the file itself does not define"
        )
    data.update(overrides)
    return data


def load_config(
    stage: str,
    profile: str = "full",
    overrides: dict[str, Any] | None = None,
    configs_dir: Path | None = None,
) -> Any:
    """Load one stage's settings: file → profile → overrides, as its dataclass."""
    values = stage_defaults(stage, profile, configs_dir)
    cls = stage_class(stage)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for stage {stage!r}; valid parameters "
            f"are: {', '.join(sorted(valid))}"
        )
    values.update(overrides)
    return build(cls, values, where=str(config_path(stage, configs_dir)))


def load_stages(
    stages: list[str],
    profile: str = "full",
    overrides: dict[str, Any] | None = None,
    configs_dir: Path | None = None,
) -> dict[str, Any]:
    """Load several stages at once; each override key goes to the one stage that has it."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    owner: dict[str, str] = {}
    for stage in stages:
        for f in dataclasses.fields(stage_class(stage)):
            owner.setdefault(f.name, stage)
    unknown = sorted(set(overrides) - set(owner))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)}; valid parameters are: "
            f"{', '.join(sorted(owner))}"
        )
    per_stage: dict[str, dict[str, Any]] = {s: {} for s in stages}
    for key, value in overrides.items():
        per_stage[owner[key]][key] = value
    return {s: load_config(s, profile, per_stage[s], configs_dir) for s in stages}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as plain YAML-safe values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
