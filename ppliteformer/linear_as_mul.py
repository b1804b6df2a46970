"""Rewrite an exported program's Linear ``matmul_v2`` ops as ``mul`` so Lite x86 fuses them into ``fc``.

Why: in Paddle Lite 2.13 ``lite_fc_fuse_pass`` (``lite/core/optimizer/mir/fusion/fc_fuse_pass.cc``)
fuses only ``mul`` + ``elementwise_add`` into ``fc`` on x86; ``matmul``/``matmul_v2`` join its
pattern list only when an ARM place is valid. Paddle 2.6 exports every ``nn.Linear`` as
``matmul_v2`` + ``elementwise_add``, so an x86 ``.nb`` keeps them unfused, and Lite's x86
``matmul_v2`` kernel (``lite/kernels/x86/matmul_v2_compute.h``) runs one GEMM per leading index
(per batch row) instead of one large GEMM. ``mul`` with ``x_num_col_dims = rank(X) - 1`` and
``y_num_col_dims = 1`` computes the same product as a Linear's ``matmul_v2`` (X [..., K] times a
2-D weight [K, N]); after this rewrite opt emits ``fc`` ops for x86 too, about half the latency
with the same logits (benchmarks/README.md, "Lite x86 vs ONNX Runtime vs Paddle Inference").

Only Linear products are rewritten: ``matmul_v2`` whose Y is a persistable 2-D parameter and
whose X (rank 2 or more) is not transposed (and Y not transposed). Attention products (both
inputs activations) stay ``matmul_v2``. The original folder is never changed.

    python -m ppliteformer.linear_as_mul MODEL_DIR OUT_DIR   prints {"ops_rewritten_to_mul": N}

(``ppliteformer bench`` runs it so, in a child process: importing paddle in the parent would
raise every later child's ru_maxrss, which Linux carries over from the forking parent.)
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .runtimes import MODEL_FILE, PARAMS_FILE, static_program

# Written by paddle.jit.save next to model.pdiparams; it describes the original params file.
_NOT_COPIED = {MODEL_FILE, PARAMS_FILE, "model.pdiparams.info"}


def _qualifies(block, op) -> bool:
    if op.type != "matmul_v2" or op.attr("trans_x") or op.attr("trans_y"):
        return False
    x, y = block._var_recursive(op.input("X")[0]), block._var_recursive(op.input("Y")[0])
    return bool(y.persistable) and len(y.shape) == 2 and not x.persistable and len(x.shape) >= 2


def rewrite_program(program) -> int:
    """Replace the qualifying ``matmul_v2`` ops of ``program`` by ``mul`` in place; how many."""
    rewritten = 0
    for block in program.blocks:
        for index, op in enumerate(list(block.ops)):
            if not _qualifies(block, op):
                continue
            x_name, y_name, out_name = op.input("X")[0], op.input("Y")[0], op.output("Out")[0]
            rank = len(block._var_recursive(x_name).shape)
            block._remove_op(index)
            block._insert_op(index, type="mul", inputs={"X": [x_name], "Y": [y_name]},
                             outputs={"Out": [out_name]},
                             attrs={"x_num_col_dims": rank - 1, "y_num_col_dims": 1})
            rewritten += 1
    return rewritten


def _without_fetch_scales(block, fetch_vars) -> list:
    """The fetch targets with the identity ``save_infer_model/scale`` ops before them removed.

    save_inference_model appends such a scale op to every fetch target; without this the
    saved program would get a second one, in place on the same variable.
    """
    targets = []
    for var in fetch_vars:
        index = next((i for i in range(len(block.ops) - 1, -1, -1) if var.name in block.ops[i].output_arg_names),
                     None)
        op = block.ops[index] if index is not None else None
        if (op is not None and op.type == "scale" and var.name.startswith("save_infer_model/")
                and op.attr("scale") == 1.0 and op.attr("bias") == 0.0):
            source = op.input("X")[0]
            block._remove_op(index)
            targets.append(block.var(source))
        else:
            targets.append(var)
    return targets


def rewrite_linear_matmuls(model_dir, out_dir) -> int:
    """Copy the inference model in ``model_dir`` to ``out_dir`` with its Linear matmul_v2 as mul.

    Writes ``out_dir``/model.pdmodel + model.pdiparams (paddle.static.save_inference_model) and
    copies the folder's other files (vocab, meta, tokenizer files). Returns the number of ops
    rewritten (0: the copy is the same program).
    """
    import paddle

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with static_program(model_dir) as (program, feed_names, fetch_vars, exe):
        rewritten = rewrite_program(program)
        block = program.global_block()
        targets = _without_fetch_scales(block, fetch_vars)
        with paddle.utils.unique_name.guard():  # the fetch targets get their former names back
            paddle.static.save_inference_model(str(out_dir / "model"), [block.var(n) for n in feed_names],
                                               targets, exe, program=program)
    for item in model_dir.iterdir():
        if item.is_file() and item.name not in _NOT_COPIED:
            shutil.copy2(item, out_dir / item.name)
    return rewritten


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m ppliteformer.linear_as_mul MODEL_DIR OUT_DIR", file=sys.stderr)
        return 2
    print(json.dumps({"ops_rewritten_to_mul": rewrite_linear_matmuls(args[0], args[1])}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
