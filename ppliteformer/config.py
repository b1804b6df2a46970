"""Strategy YAML -> frozen dataclasses, strictly.

An unknown section or key, a wrong type or an out-of-range value is a ``ConfigError``
that names the file, the section, the key and what is allowed. Nothing is dropped silently.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class DataConfig:
    source: str = "builtin"            # "builtin" or a local .tsv / .jsonl file
    split: typing.Tuple[float, ...] = (0.8, 0.1, 0.1)  # train, dev, test fractions
    seed: int = 42
    max_seq_len: int = 128

    def __post_init__(self):
        _check(len(self.split) == 3 and all(0 < f < 1 for f in self.split) and abs(sum(self.split) - 1) < 1e-6,
               "split must be three fractions in (0, 1) for train, dev, test that sum to 1, e.g. [0.8, 0.1, 0.1]")
        _check(8 <= self.max_seq_len <= 2048, "max_seq_len must be between 8 and 2048")


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser settings shared by every section that trains."""
    epochs: float = 1.25     # passes over the train split; a fraction such as 1.5 is allowed
    evals_per_epoch: int = 2  # dev accuracy checks per epoch; the best checkpoint is kept
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42

    def __post_init__(self):
        _check(0 < self.epochs <= 1000, "epochs must be a number in (0, 1000], e.g. 2 or 1.5")
        _check(1 <= self.evals_per_epoch <= 100, "evals_per_epoch must be between 1 and 100")
        _check(1 <= self.batch_size <= 4096, "batch_size must be between 1 and 4096")
        _check(0 < self.learning_rate < 1, "learning_rate must be in (0, 1), e.g. 1.0e-3")
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)")
        _check(0 <= self.weight_decay < 1, "weight_decay must be in [0, 1)")


@dataclass(frozen=True)
class TeacherConfig(TrainingConfig):
    source: str = "preset"   # "preset", a PaddleNLP pretrained name, or a local model folder
    preset: str = "ernie-4l-256h-ffn512"
    vocab_min_freq: int = 1  # preset only: characters seen fewer times become [UNK]
    train: bool = True       # false: use a loaded model as it is (its head must fit the labels)

    def __post_init__(self):
        super().__post_init__()
        _check(self.vocab_min_freq >= 1, "vocab_min_freq must be at least 1")


@dataclass(frozen=True)
class DistilledTrainingConfig(TrainingConfig):
    """Training against the teacher: alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher || student)."""
    alpha: float = 0.2
    temperature: float = 2.0

    def __post_init__(self):
        super().__post_init__()
        _check(0 <= self.alpha <= 1, "alpha (weight of the hard-label loss) must be in [0, 1]")
        _check(0 < self.temperature <= 100, "temperature must be in (0, 100]")


@dataclass(frozen=True)
class DistillConfig(DistilledTrainingConfig):
    layers: int = 2
    hidden_size: int = 64
    heads: int = 2
    ffn_size: int = 256
    init_from_teacher: bool = False  # copy embeddings and evenly spaced layers (needs the teacher's widths)
    hidden_loss_weight: float = 0.0  # > 0 adds hidden-state distillation (learned projection per layer)
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 2e-3

    def __post_init__(self):
        super().__post_init__()
        _check(1 <= self.layers <= 48, "layers must be between 1 and 48")
        _check(8 <= self.hidden_size <= 4096, "hidden_size must be between 8 and 4096")
        _check(self.heads >= 1 and self.hidden_size % self.heads == 0,
               "heads must be at least 1 and divide hidden_size")
        _check(1 <= self.ffn_size <= 16384, "ffn_size must be between 1 and 16384")
        _check(self.hidden_loss_weight >= 0, "hidden_loss_weight must be 0 or more")


@dataclass(frozen=True)
class PruneConfig(DistilledTrainingConfig):
    """DynaBERT-style width pruning, then fine-tuning against the teacher."""
    head_keep_ratio: float = 0.5     # of each layer's attention heads (at least one is kept)
    ffn_keep_ratio: float = 0.5      # of each layer's FFN neurons
    importance_batches: int = 32     # batches used to score heads and neurons (|weight x gradient|)
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 1e-3

    def __post_init__(self):
        super().__post_init__()
        _check(0 < self.head_keep_ratio <= 1, "head_keep_ratio must be in (0, 1]")
        _check(0 < self.ffn_keep_ratio <= 1, "ffn_keep_ratio must be in (0, 1]")
        _check(1 <= self.importance_batches <= 10000, "importance_batches must be between 1 and 10000")


@dataclass(frozen=True)
class TrimVocabConfig:
    min_count: int = 1  # tokens produced fewer times on the train split are dropped (become [UNK])

    def __post_init__(self):
        _check(self.min_count >= 1, "min_count must be at least 1")


@dataclass(frozen=True)
class EmbeddingInt8Config:
    per_row_scale: bool = True  # one scale per token row (false: one for the whole table)


@dataclass(frozen=True)
class QATConfig(DistilledTrainingConfig):
    """Quantization-aware training of every Linear (weights per channel, activations moving average)."""
    weight_bits: int = 8
    activation_bits: int = 8
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-4

    def __post_init__(self):
        super().__post_init__()
        _check(self.weight_bits == 8 and self.activation_bits == 8,
               "weight_bits and activation_bits must be 8 (Paddle Lite runs int8)")


PTQ_ALGOS = ("hist", "avg", "mse", "KL", "abs_max", "min_max")


@dataclass(frozen=True)
class PTQConfig:
    """Post-training quantization (PaddleSlim quant_post_static, the engine of ACT QuantPost)."""
    algo: str = "hist"
    calibration_size: int = 256  # train texts used to calibrate activation ranges
    batch_size: int = 16
    seed: int = 42

    def __post_init__(self):
        _check(self.algo in PTQ_ALGOS, f"algo must be one of {', '.join(PTQ_ALGOS)}")
        _check(1 <= self.calibration_size <= 100000, "calibration_size must be between 1 and 100000")
        _check(1 <= self.batch_size <= 1024, "batch_size must be between 1 and 1024")


@dataclass(frozen=True)
class ConvertConfig:
    targets: typing.Tuple[str, ...] = ("arm", "x86")

    def __post_init__(self):
        _check(len(self.targets) > 0 and set(self.targets) <= {"arm", "x86"} and
               len(set(self.targets)) == len(self.targets),
               "targets must be a list drawn from arm and x86, each at most once")


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
    count_runs: int = 5       # instruction count: (count of this many runs - count of 1 run) / (runs - 1)

    def __post_init__(self):
        _check(self.cpu in ("auto", "emulator", "a55"), "cpu must be auto, emulator or a55")
        _check(self.time_budget_s > 0, "time_budget_s must be positive")
        _check(self.min_texts >= 1, "min_texts must be at least 1")
        _check(self.final_texts >= 0, "final_texts must be 0 (the whole test split) or a positive count")
        _check(0 < self.int8_min_label_agreement <= 1, "int8_min_label_agreement must be in (0, 1]")
        _check(2 <= self.count_runs <= 100, "count_runs must be between 2 and 100")

    @property
    def lite_setting(self) -> str:
        return "" if self.lite_dir == "-" else self.lite_dir


@dataclass(frozen=True)
class Strategy:
    name: str
    workdir: str
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    arm: ArmConfig = field(default_factory=ArmConfig)
    chain: typing.Tuple[str, ...] = ()  # compression steps after the teacher, in order
    steps: dict = field(default_factory=dict)  # chain step -> its config section
    source_file: str = ""  # where the strategy was read from, for messages

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("source_file")
        return out


_SECTION_TYPES = {"data": DataConfig, "teacher": TeacherConfig, "convert": ConvertConfig,
                  "evaluate": EvaluateConfig, "bench": BenchConfig,
                  "arm": ArmConfig}

# Compression steps in the only order they can be chained; each is also a YAML section.
STEP_TYPES = {"distill": DistillConfig, "prune": PruneConfig, "trim_vocab": TrimVocabConfig,
              "embedding_int8": EmbeddingInt8Config, "qat": QATConfig, "ptq": PTQConfig}
QUANT_STEPS = ("qat", "ptq")
_ORDER_REASONS = (
    "distill comes first: it makes the student that the later steps shrink",
    "prune comes before trim_vocab and quantization: it fine-tunes in float, and Lite's int8 kernels "
    "need the final shapes",
    "embedding_int8 comes after trim_vocab (trimming slices the float table) and before qat/ptq "
    "(quantization then trains or calibrates around the int8 table)",
    "qat or ptq is last: an int8 program is what Lite converts, no later step can train or reshape it",
)


def check_chain(chain, where: str) -> None:
    """An order ACT-style tools can run, explained before any training starts."""
    unknown = [s for s in chain if s not in STEP_TYPES]
    if unknown:
        raise ConfigError(f"{where}: unknown step '{unknown[0]}'. Steps: {', '.join(STEP_TYPES)}.")
    if len(set(chain)) != len(chain):
        raise ConfigError(f"{where}: a step appears twice. List each step at most once.")
    if all(s in chain for s in QUANT_STEPS):
        raise ConfigError(f"{where}: qat and ptq are alternatives (both make the final int8 program, and ACT "
                          "cannot quantize a quantized model). Keep one of them.")
    order = list(STEP_TYPES)
    if [order.index(s) for s in chain] != sorted(order.index(s) for s in chain):
        raise ConfigError(f"{where}: steps out of order ({' -> '.join(chain)}). The order is "
                          f"{' -> '.join(order[:4])} -> qat|ptq, because " + "; ".join(_ORDER_REASONS) + ".")


def _coerce(value, annotation: str, where: str):
    """Check one YAML value against a field's declared type (annotations are strings here)."""
    def fail(expected):
        raise ConfigError(f"{where}: expected {expected}, got {value!r} ({type(value).__name__}).")

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


def load_strategy(path, workdir: str | None = None) -> Strategy:
    """Read and validate a strategy YAML; ``workdir`` overrides the file's own."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: strategy file not found. Give the path of a YAML file such as "
                          "strategies/baseline.yaml.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}). Check indentation "
                          "and quoting near the line it names.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file. Save the strategy as UTF-8 YAML.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a strategy must be a YAML mapping with sections "
                          f"({', '.join(_SECTION_TYPES)}), got {type(raw).__name__}.")
    top = {"name", "workdir", "chain", *_SECTION_TYPES, *STEP_TYPES}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"{path}: unknown section '{unknown[0]}'. Allowed top-level keys: "
                          f"{', '.join(sorted(top))}. Fix the spelling or remove it.")
    name = _coerce(raw.get("name", path.stem), "str", f"{path}: name")
    sections = {key: _build_section(cls, raw.get(key), f"{path}: section '{key}'")
                for key, cls in _SECTION_TYPES.items()}
    chosen_workdir = workdir or _coerce(raw.get("workdir", f"work/{name}"), "str", f"{path}: workdir")
    chain = _coerce(raw.get("chain", []), "typing.Tuple[str, ...]", f"{path}: chain")
    check_chain(chain, f"{path}: chain")
    idle = [s for s in STEP_TYPES if s in raw and s not in chain]
    if idle:
        raise ConfigError(f"{path}: section '{idle[0]}' is set but '{idle[0]}' is not in chain, so it would "
                          f"never run. Add it to chain (e.g. chain: [{', '.join([*chain, idle[0]])}]) "
                          "or remove the section.")
    steps = {s: _build_section(STEP_TYPES[s], raw.get(s), f"{path}: section '{s}'") for s in chain}
    return Strategy(name=name, workdir=chosen_workdir, source_file=str(path), chain=chain, steps=steps,
                    **sections)
