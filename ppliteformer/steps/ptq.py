"""ptq: post-training quantization (PaddleSlim quant_post_static, the engine of ACT QuantPost)."""
from __future__ import annotations

from dataclasses import dataclass

from .settings import check
from ..records import StepResult
from . import INT8_PROGRAM, READS_EXPORT, Step

PTQ_ALGOS = ("hist", "avg", "mse", "KL", "abs_max", "min_max")


@dataclass(frozen=True)
class PTQConfig:
    """Post-training quantization (PaddleSlim quant_post_static, the engine of ACT QuantPost)."""
    algo: str = "hist"
    calibration_size: int = 256  # train texts used to calibrate activation ranges
    batch_size: int = 16
    seed: int = 42

    def __post_init__(self):
        check(self.algo in PTQ_ALGOS, f"algo must be one of {', '.join(PTQ_ALGOS)}")
        check(1 <= self.calibration_size <= 100000, "calibration_size must be between 1 and 100000")
        check(1 <= self.batch_size <= 1024, "batch_size must be between 1 and 1024")


def run(inputs, cfg: PTQConfig) -> StepResult:
    from ..models.modeling import load_tokenizer
    from ..compression.quantization import calibration_sample, post_training_quantize
    from ..runtimes.host import inference_model_bytes
    from ._common import StepData, copy_side_files, log

    tokenizer = load_tokenizer(str(inputs.export))
    data = StepData(inputs.data_dir, tokenizer, inputs.max_seq_len)
    sample = calibration_sample(data.train_ids, cfg.calibration_size, cfg.seed)
    batches = post_training_quantize(inputs.export, inputs.out_dir, sample, data.pad_id, cfg)
    copy_side_files(inputs.export, inputs.out_dir)
    log.info("ptq: calibrated with %s on %d train texts (%d batches)", cfg.algo, len(sample), batches)
    return StepResult(model_bytes=inference_model_bytes(inputs.out_dir),
                      details={"algo": cfg.algo, "calibration_texts": len(sample), "calibration_batches": batches})


STEP = Step(
    name="ptq", config=PTQConfig, position=51, run=run, output=INT8_PROGRAM, reads=(READS_EXPORT,),
    order_reason="qat or ptq is last: an int8 program is what Lite converts, no later step can train or reshape it",
    summary="int8 matmuls calibrated on train texts, no training (PaddleSlim quant_post_static)")
