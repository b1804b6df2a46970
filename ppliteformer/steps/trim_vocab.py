"""trim_vocab: drop the tokens the train split never produces from the vocabulary and the embedding."""
from __future__ import annotations

from dataclasses import dataclass

from .settings import check
from ..records import StepResult
from . import CHECKPOINT, READS_CHECKPOINT, Step


@dataclass(frozen=True)
class TrimVocabConfig:
    min_count: int = 1  # tokens produced fewer times on the train split are dropped (become [UNK])

    def __post_init__(self):
        check(self.min_count >= 1, "min_count must be at least 1")


def run(inputs, cfg: TrimVocabConfig) -> StepResult:
    from ..models.modeling import count_parameters, load_tokenizer
    from ..models.structure import load_checkpoint, read_task, save_checkpoint
    from ..compression.vocab_trim import tokens_to_keep, trim_vocabulary
    from ._common import StepData, log

    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    model = load_checkpoint(inputs.checkpoint)
    before_acc = data.dev_accuracy(model)
    keep = tokens_to_keep(tokenizer, data.train_ids, cfg.min_count)
    new_tokenizer = trim_vocabulary(model, tokenizer, keep, inputs.out_dir)
    save_checkpoint(model, new_tokenizer, read_task(inputs.checkpoint), inputs.out_dir)
    after_acc = StepData(inputs.data_dir, new_tokenizer, inputs.max_seq_len).dev_accuracy(model)
    log.info("trim_vocab: %d -> %d tokens; dev %s %.4f -> %.4f", len(tokenizer.vocab), len(keep),
             data.task.metric, before_acc, after_acc)
    return StepResult(dev_accuracy_before=before_acc, dev_accuracy_after=after_acc,
                      parameters=count_parameters(model),
                      details={"vocab_before": len(tokenizer.vocab), "vocab_after": len(keep)})


STEP = Step(
    name="trim_vocab", config=TrimVocabConfig, position=30, run=run, output=CHECKPOINT, reads=(READS_CHECKPOINT,),
    order_reason="trim_vocab comes after the training steps that may still use any token and before "
                 "embedding_int8, which quantizes the trimmed table",
    summary="a vocabulary (and embedding table) cut to the tokens the train split uses")
