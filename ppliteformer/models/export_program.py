"""A checkpoint -> a static inference model that Paddle Lite's opt converts and ACT reads.

The program takes input_ids, token_type_ids, position_ids and attention_mask explicitly
(without attention_mask ERNIE builds a 0-D fill_constant that Lite x86 rejects) and has no
dropout ops (they break ACT distillation).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import StageError
from .families import FAMILIES
from ..layout import META_FILE, STRUCTURE_FILE, VOCAB_FILE
from .modeling import load_tokenizer, without_dropout
from ..runtimes.host import inference_model_bytes, static_program
from ..device.lite_runtime import INPUT_NAMES
from .structure import describe, load_checkpoint, read_task, task_of


def input_specs(id_dtype: str = "int64"):
    """The exported program's four inputs: ids as ``id_dtype``, attention_mask as float32, any batch and length."""
    import paddle

    return [paddle.static.InputSpec([None, None], "float32" if name == "attention_mask" else id_dtype, name)
            for name in INPUT_NAMES]


def program_op_types(model_dir) -> list:
    """The op types of an exported program, in order (read with Paddle's static loader)."""
    with static_program(model_dir) as (program, _, _, _):
        return [op.type for block in program.blocks for op in block.ops]


def _load_for_export(model_dir: Path, task):
    """A compressed checkpoint (with structure.json) or any PaddleNLP model of ``task``, without dropout."""
    if (model_dir / STRUCTURE_FILE).is_file():
        return load_checkpoint(model_dir, dropout=False)
    return without_dropout(task.auto_class().from_pretrained(str(model_dir)))


def export_model(model_dir, out_dir, id_dtype: str = "int64") -> dict:
    """Export a fine-tuned classifier folder (weights + task.json) to ``out_dir``, its id inputs as ``id_dtype``."""
    import paddle

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    task = read_task(model_dir)
    kind = task_of(model_dir)
    model = _load_for_export(model_dir, kind)
    specs = input_specs(id_dtype)
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
    meta = {"task": kind.name, "labels": task["labels"], "max_seq_len": task["max_seq_len"],
            "do_lower_case": bool(getattr(tokenizer, "do_lower_case", True)),
            "pad_token": tokenizer.pad_token, "inputs": list(INPUT_NAMES), "id_dtype": id_dtype,
            "text_pair": bool(task.get("text_pair", False)),
            **{key: task[key] for key in ("scheme", "token_unit", "intents") if key in task},  # token tasks' and slu's
            "model_config": model.config.to_dict(), "structure": describe(model) if getattr(model, "base_model_prefix", None) in FAMILIES else None}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return {"ops": len(ops), "model_bytes": inference_model_bytes(out_dir)}
