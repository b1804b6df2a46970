from pathlib import Path

import pytest

from ppliteformer.config.strategy import Strategy, load_strategy
from ppliteformer.errors import ConfigError

from .conftest import REPO

pytestmark = pytest.mark.unit

SEARCHES = sorted(p for p in (REPO / "strategies").glob("*.yaml") if "\nsearch:" in p.read_text(encoding="utf-8"))
STRATEGIES = sorted(set((REPO / "strategies").glob("*.yaml")) - set(SEARCHES))


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.name)
def test_every_shipped_strategy_loads(path):
    from ppliteformer.pipeline.preflight import check_strategy_inputs
    from ppliteformer.pipeline.workflow import stage_names

    strategy = load_strategy(path)
    assert isinstance(strategy, Strategy)
    assert strategy.name == path.stem
    check_strategy_inputs(strategy)
    names = stage_names(strategy)
    assert names[:4] == ["data", "baselines", "teacher", "export"]
    for step in strategy.chain:  # each step is followed by the stages that check its artifact
        assert step in names and f"{step}_convert" in names and f"{step}_evaluate" in names


@pytest.mark.parametrize("path", SEARCHES, ids=lambda p: p.name)
def test_every_shipped_search_validates_each_candidate(path):
    from ppliteformer.search.driver import Search

    from .test_arm import MISSING
    if MISSING:
        pytest.skip(f"a search measures on the ARM kernels; no ARM toolchain here: {'; '.join(MISSING)}")
    search = Search(path)  # every candidate's strategy at every rung, validated
    assert len(search.candidates) >= 2 and search.name == path.stem


def test_strategies_cover_every_compression_step():
    chains = {load_strategy(p).name: load_strategy(p).chain for p in STRATEGIES}
    assert {"baseline", "distill", "prune", "qat", "ptq", "full_mobile"} <= set(chains)
    assert {step for chain in chains.values() for step in chain} == \
        {"distill", "prune", "trim_vocab", "embedding_int8", "qat", "ptq"}


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
    ("convert: {targets: [arm, gpu]}\n", ["targets must be a list drawn from arm, x86 and arm_fp16"]),
    ("teacher: {train: yes please}\n", ["expected true or false"]),
    ("data: [1, 2]\n", ["section 'data'", "expected a mapping"]),
    ("- just\n- a list\n", ["must be a YAML mapping"]),
    ("teacher: {epochs: 3\n", ["not valid YAML"]),
    ("chain: [distill, quantise]\n", ["chain", "unknown step 'quantise'", "Steps: distill, prune"]),
    ("chain: [qat, prune]\n", ["steps out of order (qat -> prune)", "qat or ptq is last"]),
    ("chain: [qat, ptq]\n", ["qat and ptq are alternatives"]),
    ("chain: [distill, distill]\n", ["a step appears twice"]),
    ("chain: [distill]\nprune: {epochs: 1}\n", ["section 'prune' is set but 'prune' is not in chain",
                                                 "chain: [distill, prune]"]),
    ("chain: [distill]\ndistill: {heads: 3}\n", ["section 'distill'", "heads must be at least 1 and divide"]),
    ("chain: [distill]\ndistill: {temprature: 3}\n", ["unknown key 'temprature'", "temperature"]),
    ("chain: [distill]\ndistill: {activation: swish}\n", ["section 'distill'", "activation must be one of",
                                                          "'relu'"]),
    ("chain: [ptq]\nptq: {algo: percentile}\n", ["algo must be one of hist, avg, mse, KL"]),
    ("chain: [prune]\nprune: {head_keep_ratio: 0}\n", ["head_keep_ratio must be in (0, 1]"]),
    ("teacher:\n  epochs: 1\ndata: {seed: 3}\nteacher:\n  epochs: 2\n",
     ["'teacher' is written twice", "on line 1 and line 4", "drop the other silently"]),
    ("teacher:\n  epochs: 1\n  batch_size: 8\n  epochs: 2\n", ["'epochs' is written twice", "on line 2 and line 4"]),
    ("chain: [distill]\ndistill: {layers: 1, layers: 2}\n", ["'layers' is written twice", "line 2, columns 11 and 22"]),
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
