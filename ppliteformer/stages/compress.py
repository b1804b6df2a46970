"""The stage of one compression step (ppliteformer/steps): its inputs, its reuse key and its run."""
from __future__ import annotations

from ..layout import TEACHER
from ..pipeline import Stage
from ..steps import (READS_CHECKPOINT, READS_EXPORT, READS_TEACHER, READS_TEACHER_LOGITS, StepInputs,
                     get_step)


def stage(name: str, cfg, previous: str, previous_export: str, max_seq_len: int) -> Stage:
    """Stage ``name`` of the chain; ``previous`` made the checkpoint it starts from and
    ``previous_export`` that checkpoint's inference model."""
    step = get_step(name)
    folders = {READS_CHECKPOINT: previous, READS_EXPORT: previous_export, READS_TEACHER: TEACHER,
               READS_TEACHER_LOGITS: "teacher_logits"}
    reads = {what: folders[what] for what in step.reads}

    def run(ctx):
        inputs = StepInputs(out_dir=ctx.out_dir, data_dir=ctx.input("data"), max_seq_len=max_seq_len,
                            **{what: ctx.input(folder) for what, folder in reads.items()})
        return step.run(inputs, cfg).to_json()

    config = {"config": cfg, **step.key_extras} if step.key_extras else cfg
    ordered = [folders[w] for w in (READS_TEACHER, READS_TEACHER_LOGITS, READS_CHECKPOINT, READS_EXPORT) if w in reads]
    return Stage(name, run, config, inputs=("data", *ordered))
