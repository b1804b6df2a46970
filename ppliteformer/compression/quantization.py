"""int8 quantization of the encoder's matmuls: QAT (dygraph, PaddleSlim QAT) and PTQ
(PaddleSlim ``quant_post_static``, the engine behind ACT's QuantPost).

Both write a static program with quantize/dequantize ops around every matmul. Paddle Lite's
opt turns that into int8 kernels for arm. On x86, Lite 2.13 has int8 kernels only for fc
and conv, and its x86 passes leave ERNIE's matmuls as matmul_v2, whose fp32 kernel then
reads int8 weights as floats (NaN/garbage): so int8 numerics are checked on Paddle
Inference, which executes the same quantize/dequantize program.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.export_program import input_specs
from ..layout import MODEL_FILE, PARAMS_FILE
from ..device.lite_runtime import batch_arrays
from ..device.model_files import read_id_dtype


def qat_wrapper(cfg):
    """PaddleSlim's dygraph QAT for every Linear: weights per output channel, activations by moving average."""
    from paddleslim import QAT

    return QAT(config={"weight_quantize_type": "channel_wise_abs_max",
                       "activation_quantize_type": "moving_average_abs_max",
                       "weight_bits": cfg.weight_bits, "activation_bits": cfg.activation_bits,
                       "quantizable_layer_type": ["Linear"], "onnx_format": True})


def save_qat_model(quanter, model, out_dir, id_dtype: str = "int64") -> None:
    model.eval()
    quanter.save_quantized_model(model, str(Path(out_dir) / "model"), input_spec=input_specs(id_dtype))


def post_training_quantize(model_dir, out_dir, calibration_ids: list, pad_id: int, cfg) -> int:
    """Calibrate the exported fp32 program on ``calibration_ids`` and save the int8 program.

    Returns the number of calibration batches used.
    """
    import paddle
    from paddleslim.quant import quant_post_static

    id_dtype = read_id_dtype(model_dir)
    feeds = [batch_arrays(calibration_ids[i:i + cfg.batch_size], pad_id, id_dtype=id_dtype)
             for i in range(0, len(calibration_ids), cfg.batch_size)]

    class FeedLoader(paddle.io.DataLoader):
        """quant_post_static accepts only a DataLoader, and only iterates it for feed dicts."""

        def __init__(self):  # noqa: the base class's set-up is for datasets, not needed here
            pass

        def __call__(self):
            return iter(feeds)

        def __len__(self):
            return len(feeds)

    paddle.enable_static()
    try:
        quant_post_static(executor=paddle.static.Executor(paddle.CPUPlace()), model_dir=str(model_dir),
                          quantize_model_path=str(out_dir), data_loader=FeedLoader(), model_filename=MODEL_FILE,
                          params_filename=PARAMS_FILE, batch_nums=len(feeds), algo=cfg.algo,
                          quantizable_op_type=["matmul_v2", "matmul", "mul"], onnx_format=True)
    finally:
        paddle.disable_static()
    return len(feeds)


def calibration_sample(ids_list: list, size: int, seed: int) -> list:
    rng = np.random.RandomState(seed)
    picked = rng.choice(len(ids_list), size=min(size, len(ids_list)), replace=False)
    return [ids_list[i] for i in sorted(picked)]
