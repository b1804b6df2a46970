"""distill: train a smaller student on the teacher's logits (and, optionally, its hidden states)."""
from __future__ import annotations

from dataclasses import dataclass

from .settings import DistilledTrainingConfig, check
from ..records import StepResult
from . import CHECKPOINT, READS_CHECKPOINT, READS_TEACHER, READS_TEACHER_LOGITS, Step


ACTIVATIONS = ("teacher", "gelu", "relu")


@dataclass(frozen=True)
class DistillConfig(DistilledTrainingConfig):
    """The student's shape (a fresh ERNIE, or the teacher's evenly spaced layers) and its training."""
    layers: int = 2
    hidden_size: int = 64
    heads: int = 2
    ffn_size: int = 256
    activation: str = "teacher"  # the FFN's: the teacher's, "gelu" or "relu" (fused into fc on ARM: costs ~0)
    init_from_teacher: bool = False  # copy embeddings and evenly spaced layers (needs the teacher's widths)
    hidden_loss_weight: float = 0.0  # > 0 adds hidden-state distillation (learned projection per layer)
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 2e-3
    control: bool = False  # also train the student's architecture on the labels alone, same budget

    def __post_init__(self):
        super().__post_init__()
        check(1 <= self.layers <= 48, "layers must be between 1 and 48")
        check(8 <= self.hidden_size <= 4096, "hidden_size must be between 8 and 4096")
        check(self.heads >= 1 and self.hidden_size % self.heads == 0,
              "heads must be at least 1 and divide hidden_size")
        check(1 <= self.ffn_size <= 16384, "ffn_size must be between 1 and 16384")
        check(self.hidden_loss_weight >= 0, "hidden_loss_weight must be 0 or more")
        check(self.activation in ACTIVATIONS,
              f"activation must be one of {', '.join(repr(a) for a in ACTIVATIONS)}")


def run(inputs, cfg: DistillConfig) -> StepResult:
    import paddle

    from ..compression.distillation import build_student
    from ..models.modeling import count_parameters, load_pretrained, load_tokenizer
    from ..models.structure import load_checkpoint
    from ._common import StepData, checkpoint_saver, log, train_against_teacher

    teacher = load_pretrained(str(inputs.checkpoint))
    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    paddle.seed(cfg.seed)
    student = build_student(teacher, cfg)
    teacher_outputs = data.dev_outputs(teacher)

    def agreement(model) -> float:  # share of dev labels (per text, or per token) model and teacher agree on
        return data.task.compare(teacher_outputs, data.dev_outputs(model))["label_agreement"]

    before = agreement(student)
    training = train_against_teacher(inputs, student, data, cfg, checkpoint_saver(inputs, tokenizer),
                                     teacher=teacher, hidden_loss_weight=cfg.hidden_loss_weight)
    best = load_checkpoint(inputs.out_dir)
    after = agreement(best)
    log.info("distill: student %s parameters (teacher %s); dev agreement with the teacher %.4f before, "
             "%.4f after", f"{count_parameters(best):,}", f"{count_parameters(teacher):,}", before, after)
    return StepResult(dev_accuracy_before=data.dev_accuracy(teacher),
                      dev_accuracy_after=training["best_dev_accuracy"], parameters=count_parameters(best),
                      training=training,
                      details={"teacher_parameters": count_parameters(teacher),
                               "dev_agreement_with_teacher_before": before,
                               "dev_agreement_with_teacher_after": after})


def control(inputs, cfg: DistillConfig):
    """The student's architecture, initialised as the student was, trained on the labels alone."""
    import paddle

    from ..compression.distillation import build_student
    from ..models.modeling import load_pretrained, load_tokenizer
    from ._common import StepData, train_control

    teacher = load_pretrained(str(inputs.checkpoint))
    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    paddle.seed(cfg.seed)
    return train_control(inputs, build_student(teacher, cfg), data, cfg, tokenizer)


STEP = Step(
    name="distill", config=DistillConfig, position=10, run=run, control=control, output=CHECKPOINT,
    reads=(READS_CHECKPOINT, READS_TEACHER, READS_TEACHER_LOGITS),
    order_reason="distill comes first: it makes the student that the later steps shrink",
    summary="a smaller student trained on the teacher's logits")
