"""Strategy YAML -> frozen dataclasses, strictly.

An unknown section or key, a wrong type or an out-of-range value is a ``ConfigError``
that names the file, the section, the key and what is allowed. Nothing is dropped silently.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..steps.settings import TrainingConfig, check as _check
from .act import is_act_config, translate as translate_act_config
from ..errors import ConfigError
from ..tasks import DEFAULT_TASK, get_task
from ..steps import INT8_PROGRAM, all_steps, get_step, step_names


@dataclass(frozen=True)
class DataConfig:
    source: str = "builtin"  # "builtin" (the task's own corpus), "builtin_pairs" (seq_cls) or a local data file
    split: typing.Tuple[float, ...] = (0.8, 0.1, 0.1)  # train, dev, test fractions
    seed: int = 42
    max_seq_len: int = 128

    def __post_init__(self):
        _check(len(self.split) == 3 and all(0 < f < 1 for f in self.split) and abs(sum(self.split) - 1) < 1e-6,
               "split must be three fractions in (0, 1) for train, dev, test that sum to 1, e.g. [0.8, 0.1, 0.1]")
        _check(8 <= self.max_seq_len <= 2048, "max_seq_len must be between 8 and 2048")


@dataclass(frozen=True)
class TeacherConfig(TrainingConfig):
    source: str = "preset"   # "preset", a PaddleNLP pretrained name, or a local model folder
    preset: str = "ernie-4l-256h-ffn512"
    vocab_min_freq: int = 1  # preset only: characters seen fewer times become [UNK]
    train: bool = True       # false: use a loaded model as it is (its head must fit the labels)
    expected_dev_accuracy: float = 0.0     # > 0: stop unless the teacher's dev accuracy is this, give or take ...
    expected_accuracy_tolerance: float = 0.05  # ... this much (ACT's origin_metric check)
    model_filename: str = ""   # an exported inference model folder with several programs: the .pdmodel to use
    params_filename: str = ""  # ... and its .pdiparams (default: the .pdmodel's name with .pdiparams)

    def __post_init__(self):
        super().__post_init__()
        _check(self.vocab_min_freq >= 1, "vocab_min_freq must be at least 1")
        _check(0 <= self.expected_dev_accuracy <= 1, "expected_dev_accuracy must be in [0, 1] (0: no check)")
        _check(0 < self.expected_accuracy_tolerance <= 1, "expected_accuracy_tolerance must be in (0, 1]")


@dataclass(frozen=True)
class PretrainConfig(TrainingConfig):
    """Masked-LM pre-training of the preset teacher's encoder before fine-tuning (section present: on)."""
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 1e-3
    mask_prob: float = 0.15
    text_file: str = "-"   # unlabelled texts, one per line (UTF-8); "-": the train split's texts

    def __post_init__(self):
        super().__post_init__()
        _check(0 < self.mask_prob < 1, "mask_prob must be in (0, 1), e.g. 0.15")


@dataclass(frozen=True)
class ConvertConfig:
    """The targets opt converts each artifact for. ``arm_fp16``: an arm `.nb` with opt's --enable_fp16 for
    ARMv8.2-A cores with FP16 arithmetic (float artifacts only; run on the fp16 Lite build, arm.lite_dir_fp16)."""
    targets: typing.Tuple[str, ...] = ("arm", "x86")

    def __post_init__(self):
        _check(len(self.targets) > 0 and set(self.targets) <= {"arm", "x86", "arm_fp16"} and
               len(set(self.targets)) == len(self.targets),
               "targets must be a list drawn from arm, x86 and arm_fp16, each at most once")


@dataclass(frozen=True)
class ExportConfig:
    """The exported program's id inputs (input_ids, token_type_ids, position_ids): int64 as PaddleNLP exports
    by default, or int32 as ERNIE 3.0 Tiny deploys on phones; the predictor feeds what the model declares."""
    input_dtype: str = "int64"

    def __post_init__(self):
        _check(self.input_dtype in ("int64", "int32"), "input_dtype must be int64 or int32")


@dataclass(frozen=True)
class EvaluateConfig:
    logits_atol: float = 1e-4          # Lite vs Paddle Inference, largest allowed |difference|
    min_label_agreement: float = 0.999

    def __post_init__(self):
        _check(self.logits_atol > 0, "logits_atol must be positive")
        _check(0 < self.min_label_agreement <= 1, "min_label_agreement must be in (0, 1]")


@dataclass(frozen=True)
class BenchConfig:
    batch_size: int = 1
    seq_len: int = 128
    warmup: int = 5
    repeats: int = 30

    def __post_init__(self):
        _check(1 <= self.batch_size <= 256, "batch_size must be between 1 and 256")
        _check(1 <= self.seq_len <= 2048, "seq_len must be between 1 and 2048")
        _check(self.warmup >= 0, "warmup must be 0 or more")
        _check(self.repeats >= 1, "repeats must be at least 1")


@dataclass(frozen=True)
class BaselinesConfig:
    """Classical references trained on the run's own splits (each task's, e.g. tasks/seq_baseline.py)."""
    tfidf_logreg: bool = True  # char 1-2-gram TF-IDF + logistic regression
    tfidf_c_grid: typing.Tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)  # C values tried, chosen on dev
    seed: int = 0

    def __post_init__(self):
        _check(len(self.tfidf_c_grid) > 0 and all(c > 0 for c in self.tfidf_c_grid),
               "tfidf_c_grid must list positive numbers, e.g. [0.25, 1, 4, 16]")


@dataclass(frozen=True)
class ArmConfig:
    """Every arm `.nb` run on Paddle Lite's ARM kernels under qemu-aarch64 (ppliteformer/arm/)."""
    enabled: bool = True      # run when the ARM toolchain is found; otherwise say what is missing and go on
    required: bool = False    # a missing ARM toolchain is an error instead
    lite_dir: str = "-"       # a Paddle Lite ARM build; "-": $PPLITEFORMER_LITE_ARM, then ../shared/lite-armv8
    cpu: str = "auto"         # CPU identity Lite sees: a55 (a board's kernels; needs root), emulator (generic), auto
    time_budget_s: float = 60.0  # per artifact other than the final: test texts run within this time ...
    min_texts: int = 64          # ... but never fewer than this many
    final_texts: int = 0      # test texts for the final artifact; 0: the whole test split
    int8_min_label_agreement: float = 0.99  # ARM int8 labels vs the simulated int8 program
    # A Paddle Lite build with ARMv8.2 FP16 kernels for arm_fp16 .nb files; "-": $PPLITEFORMER_LITE_ARM_FP16, then
    # ../shared/lite-armv8-fp16
    lite_dir_fp16: str = "-"
    # An arm_fp16 .nb vs the float program: fp16 keeps 11 significant bits, a relative rounding of 2**-11 = 4.9e-4
    # per operation, and a logit passes through a few dozen such roundings in series: its error stays within ~1%
    # of the largest logit (measured: 0.2% on the slu recipe's student), far below any label-flipping margin.
    fp16_logits_rtol: float = 0.01
    fp16_min_label_agreement: float = 0.995
    # The final model is an fp16 .nb only when it takes fewer ARM instructions than the fp32 / int8 choice and its
    # metric on the ARM kernels is at most this far below the float program's on the same texts
    fp16_max_drop: float = 0.005
    count_runs: int = 5       # instruction count: the average of runs 2..count_runs (arm/emulator.py)

    def __post_init__(self):
        _check(self.cpu in ("auto", "emulator", "a55"), "cpu must be auto, emulator or a55")
        _check(self.time_budget_s > 0, "time_budget_s must be positive")
        _check(self.min_texts >= 1, "min_texts must be at least 1")
        _check(self.final_texts >= 0, "final_texts must be 0 (the whole test split) or a positive count")
        _check(0 < self.int8_min_label_agreement <= 1, "int8_min_label_agreement must be in (0, 1]")
        _check(3 <= self.count_runs <= 100, "count_runs must be between 3 and 100")
        _check(0 < self.fp16_logits_rtol < 1, "fp16_logits_rtol must be in (0, 1), e.g. 0.01")
        _check(0 < self.fp16_min_label_agreement <= 1, "fp16_min_label_agreement must be in (0, 1]")
        _check(0 <= self.fp16_max_drop < 1, "fp16_max_drop must be in [0, 1), e.g. 0.005 (half a point)")

    @property
    def lite_setting(self) -> str:
        return "" if self.lite_dir == "-" else self.lite_dir

    @property
    def lite_fp16_setting(self) -> str:
        return "" if self.lite_dir_fp16 == "-" else self.lite_dir_fp16


@dataclass(frozen=True)
class Strategy:
    name: str
    workdir: str
    task: str = "seq_cls"  # a module of ppliteformer/tasks: seq_cls, token_cls
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    pretrain: typing.Optional[PretrainConfig] = None  # None: the teacher starts from random weights
    export: ExportConfig = field(default_factory=ExportConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    arm: ArmConfig = field(default_factory=ArmConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    chain: typing.Tuple[str, ...] = ()  # compression steps after the teacher, in order
    steps: dict = field(default_factory=dict)  # chain step -> its config section
    source_file: str = ""  # where the strategy was read from, for messages
    act_translation: typing.Tuple[str, ...] = ()  # read from a PaddleSlim ACT config: how each key was mapped

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("source_file")
        out.pop("act_translation")
        return out


_SECTION_TYPES = {"data": DataConfig, "teacher": TeacherConfig, "export": ExportConfig, "convert": ConvertConfig,
                  "evaluate": EvaluateConfig, "bench": BenchConfig,
                  "arm": ArmConfig, "baselines": BaselinesConfig}

def check_chain(chain, where: str) -> None:
    """An order ACT-style tools can run, explained before any training starts (read from ppliteformer/steps)."""
    names = step_names()
    unknown = [s for s in chain if s not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown step '{unknown[0]}'. Steps: {', '.join(names)}.")
    if len(set(chain)) != len(chain):
        raise ConfigError(f"{where}: a step appears twice. List each step at most once.")
    int8 = [s for s in chain if get_step(s).output == INT8_PROGRAM]
    if len(int8) > 1:
        raise ConfigError(f"{where}: {' and '.join(int8)} are alternatives (each makes the final int8 program, and "
                          "ACT cannot quantize a quantized model). Keep one of them.")
    if [names.index(s) for s in chain] != sorted(names.index(s) for s in chain) or (int8 and chain[-1] != int8[0]):
        raise ConfigError(f"{where}: steps out of order ({' -> '.join(chain)}). The order is "
                          f"{_order_text()}, because " + "; ".join(_order_reasons()) + ".")


def _order_text() -> str:
    """distill -> prune -> ... -> qat|ptq: the int8-program steps are alternatives at the end."""
    steps = all_steps()
    int8 = "|".join(s.name for s in steps if s.output == INT8_PROGRAM)
    return " -> ".join([s.name for s in steps if s.output != INT8_PROGRAM] + ([int8] if int8 else []))


def _order_reasons() -> list:
    return list(dict.fromkeys(s.order_reason for s in all_steps()))


def short_repr(value) -> str:
    """A value for an error message: at most about 60 characters, however large or deeply shared it is
    (a YAML alias bomb expands to billions of items)."""
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring, shortener.maxother, shortener.maxlevel = 60, 60, 3
    return shortener.repr(value)


def _coerce(value, annotation: str, where: str):
    """Check one YAML value against a field's declared type (annotations are strings here)."""
    def fail(expected):
        raise ConfigError(f"{where}: expected {expected}, got {short_repr(value)} ({type(value).__name__}).")

    if annotation == "bool":
        return value if isinstance(value, bool) else fail("true or false")
    if annotation == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else fail("an integer")
    if annotation == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        return fail("a number")
    if annotation == "str":
        return value if isinstance(value, str) and value else fail("a non-empty string")
    if annotation.startswith("typing.Tuple"):
        item = "float" if "float" in annotation else "str"
        if not isinstance(value, (list, tuple)):
            fail(f"a list of {item}s")
        return tuple(_coerce(v, item, where) for v in value)
    raise AssertionError(f"unsupported annotation {annotation}")  # a bug in this module


def _build_section(cls, raw, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'. Allowed keys: {', '.join(fields)}. "
                          "Fix the spelling or remove it.")
    values = {k: _coerce(v, str(fields[k].type), f"{where}.{k}") for k, v in raw.items()}
    try:
        return cls(**values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}.") from None


class _DuplicateKey(Exception):
    pass


class _TooLarge(Exception):
    pass


MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000  # after aliases are expanded


def _expanded_size(node, depth: int = 0, memo=None) -> int:
    """Nodes in the document once every alias is expanded (an alias is the same node object again),
    counted without expanding anything; refuses nesting deeper than MAX_YAML_DEPTH."""
    memo = {} if memo is None else memo
    if depth > MAX_YAML_DEPTH:
        raise _TooLarge(f"nested deeper than {MAX_YAML_DEPTH} levels")
    if id(node) not in memo:
        children = node.value if isinstance(node.value, list) else []
        items = [part for child in children for part in (child if isinstance(child, tuple) else (child,))]
        memo[id(node)] = 1 + sum(_expanded_size(item, depth + 1, memo) for item in items)
        if memo[id(node)] > MAX_YAML_NODES:
            raise _TooLarge(f"more than {MAX_YAML_NODES:,} values once its aliases (*name) are expanded")
    return memo[id(node)]


def _strict_yaml(text: str):
    """``yaml.safe_load`` that refuses a key (or section) written twice in one mapping, naming both lines,
    and a document too deep or too large once its aliases are expanded (_TooLarge)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            self._depth = getattr(self, "_depth", 0) + 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise _TooLarge(f"nested deeper than {MAX_YAML_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def get_single_node(self):
            node = super().get_single_node()
            if node is not None:
                _expanded_size(node)
            return node

        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                here = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in seen:
                    (line, column), (again, column_again) = seen[key], here
                    where = (f"on line {line} and line {again}" if line != again else
                             f"on line {line}, columns {column} and {column_again}")
                    raise _DuplicateKey(f"'{key}' is written twice in the same mapping, {where}.")
                seen[key] = here
            return super().construct_mapping(node, deep)

    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def read_strategy_yaml(path) -> dict:
    """A strategy file's YAML mapping, read strictly (size, depth, duplicate keys, UTF-8), not yet validated."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: strategy file not found. Give the path of a YAML file such as "
                          "strategies/baseline.yaml.")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a strategy is at most {MAX_YAML_BYTES:,}. Is this "
                          "the strategy YAML?")
    try:
        raw = _strict_yaml(path.read_bytes().decode("utf-8-sig"))
    except _TooLarge as exc:
        raise ConfigError(f"{path}: the YAML is {exc}; a strategy is a few flat sections. Remove the nesting or "
                          "the aliases.") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: {exc} YAML would keep only the last copy and drop the other silently. "
                          "Keep one (merge the two if both hold settings you want).") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" near line {where.line + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line} ({str(getattr(exc, 'problem', None) or exc)[:120]}). "
                          "Check indentation and quoting there.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file. Save the strategy as UTF-8 YAML.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a strategy must be a YAML mapping with sections "
                          f"({', '.join(_SECTION_TYPES)}), got {type(raw).__name__}.")
    return raw


def load_strategy(path, workdir: str | None = None) -> Strategy:
    """Read and validate a strategy YAML; ``workdir`` overrides the file's own."""
    path = Path(path)
    return strategy_from_mapping(read_strategy_yaml(path), path, workdir)


def strategy_from_mapping(raw: dict, path: Path, workdir: str | None = None) -> Strategy:
    """Validate a strategy's mapping (ACT configs translated first); ``path`` names it in messages."""
    if "search" in raw:
        raise ConfigError(f"{path}: a SEARCH.yaml (it has a 'search' section): run it with `ppliteformer search "
                          f"{path}`, which makes and runs one strategy per candidate.")
    translation = ()
    if is_act_config(raw):
        raw, translation = translate_act_config(raw, path)
    top = {"name", "workdir", "task", "chain", "pretrain", *_SECTION_TYPES, *step_names()}
    unknown = sorted((k for k in raw if k not in top), key=str)
    if unknown:
        lower = f" Keys are lower case: '{unknown[0].lower()}'." if str(unknown[0]).lower() in top else ""
        raise ConfigError(f"{path}: unknown section {short_repr(unknown[0])}.{lower} Allowed top-level keys: "
                          f"{', '.join(sorted(top))}. Fix the spelling or remove it.")
    name = _coerce(raw.get("name", path.stem), "str", f"{path}: name")
    sections = {key: _build_section(cls, raw.get(key), f"{path}: section '{key}'")
                for key, cls in _SECTION_TYPES.items()}
    chosen_workdir = workdir or _coerce(raw.get("workdir", f"work/{name}"), "str", f"{path}: workdir")
    chain = _coerce(raw.get("chain", []), "typing.Tuple[str, ...]", f"{path}: chain")
    check_chain(chain, f"{path}: chain")
    task = get_task(_coerce(raw.get("task", DEFAULT_TASK), "str", f"{path}: task"), f"{path}: task")
    unserved = [s for s in chain if get_step(s).tasks is not None and task.name not in get_step(s).tasks]
    if unserved:
        served = [s for s in step_names() if get_step(s).tasks is None or task.name in get_step(s).tasks]
        raise ConfigError(f"{path}: chain step '{unserved[0]}' does not serve task '{task.name}' yet (steps that "
                          f"do: {', '.join(served) or 'none so far'}; '{unserved[0]}' serves "
                          f"{', '.join(get_step(unserved[0]).tasks)}). Remove it from chain.")
    idle = [s for s in step_names() if s in raw and s not in chain]
    if idle:
        raise ConfigError(f"{path}: section '{idle[0]}' is set but '{idle[0]}' is not in chain, so it would "
                          f"never run. Add it to chain (e.g. chain: [{', '.join([*chain, idle[0]])}]) "
                          "or remove the section.")
    steps = {s: _build_section(get_step(s).config, raw.get(s), f"{path}: section '{s}'") for s in chain}
    if sections["bench"].seq_len > sections["data"].max_seq_len:
        raise ConfigError(f"{path}: bench.seq_len {sections['bench'].seq_len} is longer than data.max_seq_len "
                          f"{sections['data'].max_seq_len}: the model has no positions past max_seq_len. Set "
                          f"bench.seq_len to {sections['data'].max_seq_len} or less.")
    pretrain = None
    if "pretrain" in raw:
        pretrain = _build_section(PretrainConfig, raw["pretrain"], f"{path}: section 'pretrain'")
        if sections["teacher"].source != "preset":
            raise ConfigError(f"{path}: section 'pretrain' pre-trains the preset teacher's encoder, but "
                              f"teacher.source is '{sections['teacher'].source}', which is pretrained already. "
                              "Remove the section, or set teacher.source: preset.")
    return Strategy(name=name, workdir=chosen_workdir, task=task.name, source_file=str(path), chain=chain, steps=steps,
                    act_translation=tuple(translation), pretrain=pretrain, **sections)
