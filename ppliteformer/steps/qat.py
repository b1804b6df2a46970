"""qat: quantization-aware training of every Linear against the teacher; writes the int8 program."""
from __future__ import annotations

from dataclasses import dataclass

from .settings import DistilledTrainingConfig, check
from ..records import StepResult
from . import INT8_PROGRAM, READS_CHECKPOINT, READS_EXPORT, READS_TEACHER_LOGITS, Step


@dataclass(frozen=True)
class QATConfig(DistilledTrainingConfig):
    """Quantization-aware training of every Linear (weights per channel, activations moving average)."""
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-4
    weight_bits: int = 8
    activation_bits: int = 8

    def __post_init__(self):
        super().__post_init__()
        check(self.weight_bits == 8 and self.activation_bits == 8,
              "weight_bits and activation_bits must be 8 (Paddle Lite runs int8)")


def run(inputs, cfg: QATConfig) -> StepResult:
    from ..models.modeling import count_parameters, load_tokenizer
    from ..compression.quantization import qat_wrapper, save_qat_model
    from ..runtimes.host import inference_model_bytes
    from ..models.structure import describe, load_checkpoint
    from ..device.model_files import read_id_dtype
    from ._common import StepData, copy_side_files, log, train_against_teacher

    tokenizer = load_tokenizer(str(inputs.checkpoint))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    model = load_checkpoint(inputs.checkpoint, dropout=False)
    float_acc = data.dev_accuracy(model)
    structure = describe(model)
    parameters = count_parameters(model)
    quanter = qat_wrapper(cfg)
    quanter.quantize(model)
    best = {}
    training = train_against_teacher(
        inputs, model, data, cfg, lambda m, acc: best.update(state={k: v.clone() for k, v in m.state_dict().items()}))
    model.set_state_dict(best["state"])
    save_qat_model(quanter, model, inputs.out_dir, read_id_dtype(inputs.export))  # the dtype the chain exports
    copy_side_files(inputs.export, inputs.out_dir)
    log.info("qat: dev %s %.4f in float, %.4f with int8 simulated in training", data.task.metric, float_acc,
             training["best_dev_accuracy"])
    return StepResult(dev_accuracy_before=float_acc, dev_accuracy_after=training["best_dev_accuracy"],
                      parameters=parameters, model_bytes=inference_model_bytes(inputs.out_dir), training=training,
                      details={"structure": structure})


STEP = Step(
    name="qat", config=QATConfig, position=50, run=run, output=INT8_PROGRAM,
    reads=(READS_CHECKPOINT, READS_EXPORT, READS_TEACHER_LOGITS),
    order_reason="qat or ptq is last: an int8 program is what Lite converts, no later step can train or reshape it",
    summary="int8 matmuls trained against the teacher (PaddleSlim QAT)")
