"""The stages of one compression step (ppliteformer/steps): the step itself and, when its section
sets ``control: true``, its control; their inputs, reuse keys and runs."""
from __future__ import annotations

import dataclasses

from ...layout import DATA_STAGE, TEACHER
from ..runner import Stage
from ...steps.settings import TrainingConfig
from ...steps import (READS_CHECKPOINT, READS_EXPORT, READS_TEACHER, READS_TEACHER_LOGITS, StepInputs,
                     get_step)

_ORDER = (READS_TEACHER, READS_TEACHER_LOGITS, READS_CHECKPOINT, READS_EXPORT)


def _reads(step, previous: str, previous_export: str) -> dict:
    """What the step reads -> the stage whose folder holds it."""
    folders = {READS_CHECKPOINT: previous, READS_EXPORT: previous_export, READS_TEACHER: TEACHER,
               READS_TEACHER_LOGITS: "teacher_logits"}
    return {what: folders[what] for what in _ORDER if what in step.reads}


def _key_config(step, cfg):
    """What decides reuse of the step's stage: its section without ``control`` (which adds a stage of its
    own and does not change the step's output), plus the step's own extras."""
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "control"}
    return {"config": values, **step.key_extras} if step.key_extras else values


def _stage(name: str, run, config, reads: dict, max_seq_len: int, extra_inputs: tuple = (),
           trains: bool = False) -> Stage:
    """``trains``: a step with a training section, run data-parallel under paddle.distributed.launch."""
    def run_stage(ctx):
        inputs = StepInputs(out_dir=ctx.out_dir, data_dir=ctx.input(DATA_STAGE), max_seq_len=max_seq_len,
                            **{what: ctx.input(folder) for what, folder in reads.items()},
                            **{"made": ctx.input(f) for f in extra_inputs})
        return run(inputs).to_json()
    return Stage(name, run_stage, config, inputs=(DATA_STAGE, *reads.values(), *extra_inputs),
                 data_parallel=trains)


def stage(name: str, cfg, previous: str, previous_export: str, max_seq_len: int) -> Stage:
    """Stage ``name`` of the chain; ``previous`` made the checkpoint it starts from and
    ``previous_export`` that checkpoint's inference model."""
    step = get_step(name)
    return _stage(name, lambda inputs: step.run(inputs, cfg), _key_config(step, cfg),
                  _reads(step, previous, previous_export), max_seq_len, trains=isinstance(cfg, TrainingConfig))


def control_stage(name: str, cfg, previous: str, previous_export: str, max_seq_len: int):
    """``<step>_control``: the step's architecture trained on the labels alone with its budget, or None
    when the section does not ask for it (or the step has no control)."""
    step = get_step(name)
    if not (step.control and getattr(cfg, "control", False)):
        return None
    return _stage(f"{name}_control", lambda inputs: step.control(inputs, cfg), cfg,
                  _reads(step, previous, previous_export), max_seq_len, extra_inputs=(name,),
                  trains=isinstance(cfg, TrainingConfig))
