"""The compression steps a chain can hold, one module each, found through this registry.

Each module in this folder defines ``STEP = Step(...)``: the step's name (also its YAML
section), its config dataclass, its position in a chain and why, what it makes (a float
checkpoint or an int8 program), what it reads, and ``run(inputs, config) -> StepResult``.
config.py, the workflow, the report and the bundle read what they need from here, so a new
step is one new module. A step defined elsewhere (a plug-in, a test) joins with ``register``.

Importing this package stays light: step modules import Paddle inside ``run``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..layout import TEACHER, artifact_stage_name
from ..registry import Registry

CHECKPOINT = "checkpoint"      # a dygraph checkpoint folder, exported by a stage of its own
INT8_PROGRAM = "int8_program"  # an int8 inference model, written by the step itself: nothing can follow it

# What a step may read, besides the data splits (the stage inputs it gets):
READS_CHECKPOINT = "checkpoint"        # the previous artifact's checkpoint
READS_EXPORT = "export"                # the previous artifact's inference model
READS_TEACHER = "teacher"              # the teacher's checkpoint
READS_TEACHER_LOGITS = "teacher_logits"  # the teacher's logits on the train split


@dataclass(frozen=True)
class StepInputs:
    """The folders a step reads and the one it writes into."""
    out_dir: Path
    data_dir: Path
    max_seq_len: int
    checkpoint: Optional[Path] = None      # the previous artifact's checkpoint
    export: Optional[Path] = None          # the previous artifact's inference model
    teacher: Optional[Path] = None
    teacher_logits: Optional[Path] = None
    made: Optional[Path] = None            # a control's: the output of the step it is the control of


@dataclass(frozen=True)
class Step:
    name: str
    config: type                 # the dataclass of its YAML section
    position: int                # steps run in increasing position; the INT8_PROGRAM steps (qat, ptq) are
    #   alternatives at the end, whatever their positions: a chain holds at most one of them
    order_reason: str            # why it sits where it does, shown when a chain is out of order
    output: str                  # CHECKPOINT or INT8_PROGRAM
    reads: tuple                 # READS_* of what it needs besides the data
    run: Callable                # run(inputs: StepInputs, config) -> StepResult
    all_float: bool = True       # False: a checkpoint holding int8 weights (not a "final fp32" model)
    summary: str = ""            # one line for `ppliteformer run --help`
    key_extras: dict = field(default_factory=dict)  # more values that decide reuse of its stage
    control: Optional[Callable] = None  # control(inputs, config) -> StepResult: the same architecture
    #   trained on the labels alone with the step's budget, run when the section sets control: true
    tasks: Optional[tuple] = None  # the tasks (ppliteformer/tasks) it serves; None: every task, through the
    #   Task interface (encode, loss, soft_loss, score, compare), as the built-in steps do

    @property
    def int8(self) -> bool:
        return self.output == INT8_PROGRAM

    @property
    def needs_teacher_logits(self) -> bool:
        return READS_TEACHER_LOGITS in self.reads


_STEPS = Registry(__name__, __path__, "STEP", "compression step")


def register(step: Step) -> Step:
    """Add a step defined outside this folder (a plug-in or a test); its name must be new."""
    return _STEPS.register(step)


def unregister(name: str) -> None:
    _STEPS.unregister(name)


def all_steps() -> list:
    """Every registered step, in chain order."""
    return sorted(_STEPS.members().values(), key=lambda s: (s.position, s.name))


def get_step(name: str) -> Step:
    return _STEPS.members()[name]


def step_names() -> list:
    return [s.name for s in all_steps()]


def model_stage_name(artifact: str) -> str:
    """The stage whose folder holds an artifact's inference model: a step that makes an int8
    program writes it itself, every other artifact has an export stage."""
    if artifact != TEACHER and get_step(artifact).output == INT8_PROGRAM:
        return artifact
    return artifact_stage_name(artifact, "export")


def model_folder(workdir, artifact: str) -> Path:
    """The inference model folder of an artifact."""
    return Path(workdir) / model_stage_name(artifact)
