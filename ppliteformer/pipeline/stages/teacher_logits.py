"""Stage `teacher_logits`: the teacher's logits on the train split, once for every step that distils from it
(as the task stacks them: [texts, classes], or a token task's [sentences, pieces, tags] zero-padded to the
longest)."""
from __future__ import annotations

import numpy as np

from ...layout import DATA_STAGE, TEACHER_LOGITS_FILE
from ..runner import Stage


def compute_teacher_logits(data_dir, export_dir, out_dir, max_seq_len: int) -> dict:
    """Computed by Paddle Inference on the exported teacher (no dropout, all cores): the same
    numbers as the dygraph teacher in eval mode, a few times faster."""
    from ...models.modeling import load_tokenizer
    from ...runtimes.host import PaddleInferenceModel, outputs_over
    from ...steps._common import StepData

    data = StepData(data_dir, load_tokenizer(str(export_dir)), max_seq_len)
    logits = data.task.stack_outputs(outputs_over(PaddleInferenceModel(export_dir), data.train_ids, data.pad_id,
                                                  batch_size=64))
    np.save(out_dir / TEACHER_LOGITS_FILE, logits)
    return {"train_texts": len(logits)}


def stage(max_seq_len: int) -> Stage:
    return Stage("teacher_logits",
                 lambda ctx: compute_teacher_logits(ctx.input(DATA_STAGE), ctx.input("export"), ctx.out_dir, max_seq_len),
                 {"max_seq_len": max_seq_len}, inputs=(DATA_STAGE, "export"))
