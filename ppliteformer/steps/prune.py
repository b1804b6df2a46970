"""prune: DynaBERT-style width pruning of heads and FFN neurons, then fine-tuning against the teacher."""
from __future__ import annotations

from dataclasses import dataclass

from .settings import DistilledTrainingConfig, check
from ..records import StepResult
from . import CHECKPOINT, READS_CHECKPOINT, READS_TEACHER, READS_TEACHER_LOGITS, Step


@dataclass(frozen=True)
class PruneConfig(DistilledTrainingConfig):
    """DynaBERT-style width pruning, then fine-tuning against the teacher."""
    head_keep_ratio: float = 0.5     # of each layer's attention heads (at least one is kept)
    ffn_keep_ratio: float = 0.5      # of each layer's FFN neurons
    importance_batches: int = 32     # batches used to score heads and neurons (|weight x gradient|)
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 1e-3
    control: bool = False  # also train the pruned architecture from scratch on the labels alone, same budget

    def __post_init__(self):
        super().__post_init__()
        check(0 < self.head_keep_ratio <= 1, "head_keep_ratio must be in (0, 1]")
        check(0 < self.ffn_keep_ratio <= 1, "ffn_keep_ratio must be in (0, 1]")
        check(1 <= self.importance_batches <= 10000, "importance_batches must be between 1 and 10000")


def run(inputs, cfg: PruneConfig) -> StepResult:
    from ..compression.distillation import DistillationLoss
    from ..models.modeling import count_parameters, load_tokenizer
    from ..compression.pruning import prune_widths, unit_importance
    from ..models.structure import layer_widths, load_checkpoint
    from ._common import StepData, checkpoint_saver, log, teacher_logits, train_against_teacher

    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    model = load_checkpoint(inputs.checkpoint)
    before = {**layer_widths(model), "parameters": count_parameters(model)}
    before_acc = data.dev_accuracy(model)
    loss = DistillationLoss(teacher_logits(inputs), cfg.alpha, cfg.temperature, data.task)
    scores = unit_importance(model, loss, data.train_ids, data.batch_targets, data.pad_id,
                             cfg.importance_batches, cfg.batch_size, cfg.seed)
    kept = prune_widths(model, scores, cfg.head_keep_ratio, cfg.ffn_keep_ratio)
    pruned_acc = data.dev_accuracy(model)
    training = train_against_teacher(inputs, model, data, cfg, checkpoint_saver(inputs, tokenizer))
    log.info("prune: heads %s -> %s, FFN %s -> %s; dev %s %.4f before, %.4f right after pruning, "
             "%.4f after fine-tuning", before["heads"], kept["heads"], before["ffn"], kept["ffn"], data.task.metric,
             before_acc,
             pruned_acc, training["best_dev_accuracy"])
    return StepResult(dev_accuracy_before=before_acc, dev_accuracy_after=training["best_dev_accuracy"],
                      parameters=count_parameters(model), training=training,
                      details={"before": before, "after": kept, "dev_accuracy_right_after_pruning": pruned_acc})


def control(inputs, cfg: PruneConfig):
    """The pruned architecture (widths as pruning left them), freshly initialised, trained on the labels alone."""
    import paddle

    from ..models.modeling import load_tokenizer
    from ..models.structure import load_checkpoint
    from ._common import StepData, train_control

    tokenizer = load_tokenizer(str(inputs.made))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    paddle.seed(cfg.seed)
    return train_control(inputs, load_checkpoint(inputs.made, weights=False), data, cfg, tokenizer)


STEP = Step(
    name="prune", config=PruneConfig, position=20, run=run, control=control, output=CHECKPOINT,
    reads=(READS_CHECKPOINT, READS_TEACHER, READS_TEACHER_LOGITS),
    order_reason="prune comes before trim_vocab and quantization: it fine-tunes in float, and Lite's int8 "
                 "kernels need the final shapes",
    summary="fewer attention heads and FFN neurons, fine-tuned against the teacher")
