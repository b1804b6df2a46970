"""Rewrites of an exported program that let Paddle Lite's x86 opt make a faster `.nb`.

Applied by ``lite_convert.convert_model`` to a copy of the model before opt, for the x86
target only (the arm `.nb` is converted from the unchanged program: Lite's ARM passes fuse
it already, and it cannot be timed here). Both rewrites compute the same values; the
evaluate stage checks the x86 `.nb`'s logits against Paddle Inference on the test split.

1. Linear ``matmul_v2`` -> ``mul``. In Paddle Lite 2.13 ``lite_fc_fuse_pass``
   (``lite/core/optimizer/mir/fusion/fc_fuse_pass.cc``) fuses only ``mul`` +
   ``elementwise_add`` into ``fc`` on x86; ``matmul``/``matmul_v2`` join its pattern list only
   when an ARM place is valid. Paddle 2.6 exports every ``nn.Linear`` as ``matmul_v2`` +
   ``elementwise_add``, and Lite's x86 ``matmul_v2`` kernel runs one GEMM per batch row.
   ``mul`` with ``x_num_col_dims = rank(X) - 1`` computes the same product as a Linear's
   ``matmul_v2`` (X [..., K] times a 2-D weight [K, N]). Only products whose Y is a
   persistable 2-D parameter and neither input transposed qualify; attention products
   (both inputs activations) stay ``matmul_v2``.
2. ``transpose2`` that only moves axes of size 1 -> ``reshape2``. With one attention head
   (a pruned model), [batch, seq, 1, head_dim] -> [batch, 1, seq, head_dim] keeps the memory
   order, so it is a reshape, which Lite runs in place instead of copying through Eigen.
3. ``lookup_table_dequant`` (the int8 embedding, ``models/int8_embedding.py``) -> ``lookup_table`` over
   the table it stands for, dequantized once here: Lite x86 has no kernel for the op. The x86
   `.nb` then holds that table in float (4x the bytes); the arm `.nb` keeps the int8 one.

    python -m ppliteformer.runtimes.x86_rewrites MODEL_DIR OUT_DIR   prints {"matmul_v2_as_mul": N, ...}
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..layout import MODEL_FILE, PARAMS_FILE
from .host import static_program

# Written by paddle.jit.save next to model.pdiparams; it describes the original params file.
_NOT_COPIED = {MODEL_FILE, PARAMS_FILE, "model.pdiparams.info"}


def _qualifies(block, op) -> bool:
    if op.type != "matmul_v2" or op.attr("trans_x") or op.attr("trans_y"):
        return False
    x, y = block._var_recursive(op.input("X")[0]), block._var_recursive(op.input("Y")[0])
    return bool(y.persistable) and len(y.shape) == 2 and not x.persistable and len(x.shape) >= 2


def linear_matmuls_as_mul(program) -> int:
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


def _reshape_shape(in_shape, perm):
    """reshape2's ``shape`` attribute doing what ``transpose2(perm)`` does to a tensor of static
    shape ``in_shape`` (-1: unknown), or None when the transpose is not a pure reshape.

    A transpose keeps the memory order when the axes it moves of size other than 1 stay in
    order. An unknown size keeps its place (0: copy the input's size there) or, once, is
    inferred (-1).
    """
    if len(perm) != len(in_shape):
        return None
    moved = [axis for axis in perm if in_shape[axis] != 1]
    if moved != sorted(moved):
        return None
    shape = [(0 if axis == i else -1) if in_shape[axis] < 0 else in_shape[axis] for i, axis in enumerate(perm)]
    return shape if shape.count(-1) <= 1 else None


def transposes_as_reshape(program) -> int:
    """Replace each ``transpose2`` that is a pure reshape (``_reshape_shape``) in place; how many."""
    rewritten = 0
    for block in program.blocks:
        for index, op in enumerate(list(block.ops)):
            if op.type != "transpose2":
                continue
            x_name = op.input("X")[0]
            in_shape = list(block._var_recursive(x_name).shape)
            shape = _reshape_shape(in_shape, list(op.attr("axis")))
            if shape is None:
                continue
            out_name = op.output("Out")[0]
            # reshape2 must have an XShape output ([0] + input shape), as paddle's own reshape2 ops do.
            xshape = block.create_var(name=f"{out_name}.xshape", dtype=block._var_recursive(x_name).dtype,
                                      shape=[0] + in_shape, stop_gradient=True)
            block._remove_op(index)
            block._insert_op(index, type="reshape2", inputs={"X": [x_name]},
                             outputs={"Out": [out_name], "XShape": [xshape.name]}, attrs={"shape": shape})
            rewritten += 1
    return rewritten


def dequantized_lookups(program) -> int:
    """Replace each ``lookup_table_dequant`` by ``lookup_table`` over a new float parameter holding
    its dequantized table (set in the current scope); how many."""
    import numpy as np
    import paddle

    from .int8_table import dequantize_table

    scope, rewritten = paddle.static.global_scope(), 0
    for block in program.blocks:
        for index, op in enumerate(list(block.ops)):
            if op.type != "lookup_table_dequant":
                continue
            table_name, out_name = op.input("W")[0], op.output("Out")[0]
            table = np.array(scope.find_var(table_name).get_tensor())
            dim = (table.shape[1] - 2) * 4
            weight = block.create_parameter(name=f"{table_name}.dequantized", shape=[table.shape[0], dim],
                                            dtype="float32")
            scope.var(weight.name).get_tensor().set(dequantize_table(table, dim), paddle.CPUPlace())
            ids, padding_idx = op.input("Ids")[0], op.attr("padding_idx")
            block._remove_op(index)
            block._insert_op(index, type="lookup_table", inputs={"W": [weight.name], "Ids": [ids]},
                             outputs={"Out": [out_name]}, attrs={"padding_idx": padding_idx})
            rewritten += 1
    return rewritten


REWRITES = {"matmul_v2_as_mul": linear_matmuls_as_mul, "transpose2_as_reshape2": transposes_as_reshape,
            "lookup_table_dequant_as_lookup_table": dequantized_lookups}


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


def save_rewritten_copy(model_dir, out_dir, rewrite):
    """Copy the inference model in ``model_dir`` to ``out_dir`` with ``rewrite(program)`` applied
    to its program in place; returns what ``rewrite`` returns.

    Writes ``out_dir``/model.pdmodel + model.pdiparams (paddle.static.save_inference_model) and
    copies the folder's other files (vocab, meta, tokenizer files).
    """
    import paddle

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with static_program(model_dir) as (program, feed_names, fetch_vars, exe):
        result = rewrite(program)
        block = program.global_block()
        targets = _without_fetch_scales(block, fetch_vars)
        with paddle.utils.unique_name.guard():  # the fetch targets get their former names back
            paddle.static.save_inference_model(str(out_dir / "model"), [block.var(n) for n in feed_names],
                                               targets, exe, program=program)
    for item in model_dir.iterdir():
        if item.is_file() and item.name not in _NOT_COPIED:
            shutil.copy2(item, out_dir / item.name)
    return result


def rewrite_for_x86(model_dir, out_dir) -> dict:
    """``save_rewritten_copy`` with every rewrite of REWRITES; {rewrite: ops rewritten}."""
    return save_rewritten_copy(model_dir, out_dir,
                               lambda program: {name: rewrite(program) for name, rewrite in REWRITES.items()})


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m ppliteformer.runtimes.x86_rewrites MODEL_DIR OUT_DIR", file=sys.stderr)
        return 2
    print(json.dumps(rewrite_for_x86(args[0], args[1])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
