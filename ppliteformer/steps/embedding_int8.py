"""embedding_int8: the word-embedding table stored as uint8 per row (see ppliteformer/models/int8_embedding.py)."""
from __future__ import annotations

from dataclasses import dataclass

from ..records import StepResult
from . import CHECKPOINT, READS_CHECKPOINT, Step

LAYOUT = "lookup_table_dequant_rows"  # models/int8_embedding.py's storage; part of the stage's key: a new layout redoes it


@dataclass(frozen=True)
class EmbeddingInt8Config:
    per_row_scale: bool = True  # one scale per token row (false: one for the whole table)


def run(inputs, cfg: EmbeddingInt8Config) -> StepResult:
    from ..models.modeling import count_parameters, load_tokenizer
    from ..models.structure import load_checkpoint, read_task, save_checkpoint, use_int8_embedding
    from ._common import StepData, log

    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    model = load_checkpoint(inputs.checkpoint)
    before_acc = data.dev_accuracy(model)
    use_int8_embedding(model, cfg.per_row_scale)
    after_acc = data.dev_accuracy(model)
    save_checkpoint(model, tokenizer, read_task(inputs.checkpoint), inputs.out_dir)
    log.info("embedding_int8: word embeddings stored as int8; dev %s %.4f -> %.4f", data.task.metric, before_acc,
             after_acc)
    return StepResult(dev_accuracy_before=before_acc, dev_accuracy_after=after_acc,
                      parameters=count_parameters(model))


STEP = Step(
    name="embedding_int8", config=EmbeddingInt8Config, position=40, run=run, output=CHECKPOINT,
    reads=(READS_CHECKPOINT,), all_float=False, key_extras={"layout": LAYOUT},
    order_reason="embedding_int8 comes after trim_vocab (trimming slices the float table) and before qat/ptq "
                 "(quantization then trains or calibrates around the int8 table)",
    summary="the word-embedding table stored as uint8 codes with a min and max per row")
