"""Stage `export`: a static inference model that Paddle Lite's opt converts and ACT reads.

The program takes input_ids, token_type_ids, position_ids and attention_mask explicitly
(without attention_mask ERNIE builds a 0-D fill_constant that Lite x86 rejects) and has no
dropout ops (they break ACT distillation).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import StageError
from ..modeling import load_tokenizer, without_dropout
from ..pipeline import Stage
from ..runtimes import MODEL_FILE
from ..standalone_predictor import INPUT_NAMES, META_FILE, VOCAB_FILE
from .teacher import TASK_FILE


def program_op_types(model_dir) -> list:
    """The op types of an exported program, in order (read with Paddle's static loader)."""
    import paddle

    paddle.enable_static()
    try:
        exe = paddle.static.Executor(paddle.CPUPlace())
        program, _, _ = paddle.static.load_inference_model(str(Path(model_dir) / "model"), exe)
        return [op.type for block in program.blocks for op in block.ops]
    finally:
        paddle.disable_static()


def export_model(model_dir, out_dir) -> dict:
    """Export a fine-tuned classifier folder (save_pretrained + task.json) to ``out_dir``."""
    import paddle
    from paddlenlp.transformers import AutoModelForSequenceClassification

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    task = json.loads((model_dir / TASK_FILE).read_text(encoding="utf-8"))
    model = without_dropout(AutoModelForSequenceClassification.from_pretrained(str(model_dir)))
    specs = [paddle.static.InputSpec([None, None], "float32" if name == "attention_mask" else "int64", name)
             for name in INPUT_NAMES]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=specs, full_graph=True), str(out_dir / "model"), input_spec=specs)
    ops = program_op_types(out_dir)
    if "dropout" in ops:
        raise StageError("The exported program still contains dropout ops; the model class ignores its "
                         "dropout settings. Export a model whose config sets dropout probabilities to 0.")
    tokenizer = load_tokenizer(str(model_dir))
    tokenizer.save_pretrained(str(out_dir))
    if not (out_dir / VOCAB_FILE).is_file():
        raise StageError(f"The tokenizer of {model_dir} has no {VOCAB_FILE}: only WordPiece (BERT/ERNIE) "
                         "tokenizers can be deployed with the standalone predictor.")
    meta = {"labels": task["labels"], "max_seq_len": task["max_seq_len"],
            "do_lower_case": bool(getattr(tokenizer, "do_lower_case", True)),
            "pad_token": tokenizer.pad_token, "inputs": list(INPUT_NAMES),
            "model_config": model.config.to_dict()}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return {"ops": len(ops), "model_bytes": (out_dir / MODEL_FILE).stat().st_size
            + (out_dir / "model.pdiparams").stat().st_size}


def stage(strategy) -> Stage:
    return Stage("export", lambda ctx: export_model(ctx.input("teacher"), ctx.out_dir), {}, inputs=("teacher",))
