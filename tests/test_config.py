from pathlib import Path

import pytest

from ppliteformer.config import Strategy, load_strategy
from ppliteformer.errors import ConfigError

from .conftest import REPO

STRATEGIES = sorted((REPO / "strategies").glob("*.yaml"))


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.name)
def test_every_shipped_strategy_loads(path):
    strategy = load_strategy(path)
    assert isinstance(strategy, Strategy)
    assert strategy.name == path.stem


def test_baseline_defaults_are_the_documented_ones():
    s = load_strategy(REPO / "strategies" / "baseline.yaml")
    assert s.data.source == "builtin" and s.data.max_seq_len == 128
    assert s.teacher.preset == "ernie-4l-256h-ffn512" and s.convert.targets == ("arm", "x86")
    assert (s.bench.batch_size, s.bench.seq_len) == (1, 128)


def _write(tmp_path, text) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, expected", [
    ("teacher: {epoch: 3}\n", ["section 'teacher'", "unknown key 'epoch'", "Allowed keys", "epochs"]),
    ("distil: {}\n", ["unknown section 'distil'", "Allowed top-level keys"]),
    ("teacher: {epochs: two}\n", ["teacher'.epochs", "expected a number"]),
    ("teacher: {epochs: 0}\n", ["epochs must be a number in (0, 1000]"]),
    ("data: {split: [0.5, 0.5, 0.5]}\n", ["split must be three fractions"]),
    ("convert: {targets: [arm, gpu]}\n", ["targets must be a list drawn from arm and x86"]),
    ("teacher: {train: yes please}\n", ["expected true or false"]),
    ("data: [1, 2]\n", ["section 'data'", "expected a mapping"]),
    ("- just\n- a list\n", ["must be a YAML mapping"]),
    ("teacher: {epochs: 3\n", ["not valid YAML"]),
])
def test_bad_strategy_is_a_config_error_naming_file_and_key(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_strategy(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_yaml_exponent_without_dot_is_read_as_a_number(tmp_path):
    assert load_strategy(_write(tmp_path, "teacher: {learning_rate: 1e-3}\n")).teacher.learning_rate == 1e-3


def test_missing_strategy_file(tmp_path):
    with pytest.raises(ConfigError, match="strategy file not found"):
        load_strategy(tmp_path / "nope.yaml")
