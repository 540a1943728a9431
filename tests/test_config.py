from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from lib import config
from lib.errors import ConfigError


@dataclasses.dataclass
class ToyConfig:
    n_examples: int
    rate: float
    name: str
    flag: bool
    span: tuple[float, float]
    voices: list[str]
    kind: Literal["a", "b"] = "a"
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.n_examples < 1:
            raise ConfigError(f"n_examples must be at least 1, got {self.n_examples}")


TOY_YAML = """\
n_examples: 10      # examples to make
rate: 0.5           # a rate, per second
name: toy           # a name
flag: true          # a switch
span: [1.0, 2.5]    # a range, seconds
voices: [a, b]      # voices
kind: a             # which kind
limit: null         # optional limit
profiles:
  quick:
    n_examples: 2
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "toy.yaml").write_text(TOY_YAML)
    monkeypatch.setitem(config.STAGES, "toy", f"{__name__}:ToyConfig")
    return tmp_path


def test_file_profile_and_overrides_apply_in_order(toy: Path) -> None:
    full = config.load_config("toy", "full", configs_dir=toy)
    quick = config.load_config("toy", "quick", configs_dir=toy)
    over = config.load_config("toy", "quick", {"n_examples": 5, "rate": 2}, configs_dir=toy)
    assert (full.n_examples, quick.n_examples, over.n_examples) == (10, 2, 5)
    assert over.rate == 2.0 and isinstance(over.rate, float)
    assert full.span == (1.0, 2.5) and full.voices == ["a", "b"] and full.limit is None


def test_unknown_override_lists_valid_parameters(toy: Path) -> None:
    with pytest.raises(ConfigError) as err:
        config.load_config("toy", "full", {"n_exampels": 3}, configs_dir=toy)
    assert "n_exampels" in str(err.value) and "n_examples" in str(err.value)


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("n_examples", "ten", "must be int"),
        ("n_examples", 2.5, "must be int"),
        ("flag", "yes", "must be bool"),
        ("span", [1.0], "span"),
        ("voices", "a", "voices"),
        ("kind", "c", "one of"),
        ("n_examples", 0, "at least 1"),
    ],
)
def test_bad_values_name_the_parameter(toy: Path, key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load_config("toy", "full", {key: value}, configs_dir=toy)
    assert fragment in str(err.value)
    assert "toy.yaml" in str(err.value)


def test_unknown_profile_and_bad_yaml(toy: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        config.load_config("toy", "fast", configs_dir=toy)
    (toy / "toy.yaml").write_text("n_examples: [1,\n")
    with pytest.raises(ConfigError, match="toy.yaml is not valid YAML"):
        config.load_config("toy", "full", configs_dir=toy)


def test_file_with_unknown_or_missing_keys(toy: Path) -> None:
    (toy / "toy.yaml").write_text(TOY_YAML.replace("rate: 0.5", "rat: 0.5"))
    with pytest.raises(ConfigError) as err:
        config.load_config("toy", "full", configs_dir=toy)
    assert "unknown parameter(s) rat" in str(err.value)


def test_profile_may_only_set_existing_keys(toy: Path) -> None:
    (toy / "toy.yaml").write_text(TOY_YAML + "    extra: 1\n")
    with pytest.raises(ConfigError, match="extra"):
        config.load_config("toy", "quick", configs_dir=toy)


def test_load_stages_routes_each_override_to_its_stage(toy: Path) -> None:
    cfgs = config.load_stages(["toy"], "quick", {"rate": 3.0}, configs_dir=toy)
    assert cfgs["toy"].rate == 3.0
    with pytest.raises(ConfigError, match="valid parameters are"):
        config.load_stages(["toy"], "quick", {"nope": 1}, configs_dir=toy)


def test_to_dict_is_plain_yaml(toy: Path) -> None:
    d = config.to_dict(config.load_config("toy", "full", configs_dir=toy))
    assert d["span"] == [1.0, 2.5] and d["n_examples"] == 10


def test_every_shipped_config_key_has_a_comment() -> None:
    for path in sorted(config.paths.CONFIGS_DIR.glob("*.yaml")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            # top-level keys are the settings; indented lines are list items or profile overrides
            if not line.strip() or line[0] in " #-" or line.startswith("profiles:"):
                continue
            assert "#" in line, f"{path.name}:{lineno}: key without a comment: {line}"


def test_every_shipped_config_loads_in_both_profiles() -> None:
    for stage in config.STAGES:
        full = config.load_config(stage, "full")
        quick = config.load_config(stage, "quick")
        assert type(full) is type(quick)
