"""FLOPs of an ERNIE classifier's forward pass: from its meta, and counted from its program.

Both count matrix multiplies only, 2 FLOPs per multiply-accumulate (MAC):

* per encoder layer: the q, k, v and output projections (hidden x heads*head_dim each),
  the attention scores Q K^T and the weighted sum softmax(.) V (seq x seq x head_dim per
  head each), and the two FFN matmuls (hidden x ffn and ffn x hidden);
* the pooler (hidden x hidden, on the [CLS] token only) and the classifier (hidden x labels).

Not counted: embedding lookups (and the int8 embedding's dequantization), layer norms,
softmax, GELU/tanh, bias and residual adds and the attention scaling. They are elementwise,
O(seq x hidden) per layer against the matmuls' O(seq x hidden^2 + seq^2 x hidden).
"""
from __future__ import annotations

from ..errors import ModelFileError

MATMUL_OPS = ("matmul_v2", "matmul", "mul")


def num_labels(config: dict) -> int:
    if config.get("num_labels"):
        return int(config["num_labels"])
    return len(config.get("id2label") or {}) or 2


def encoder_flops(meta: dict, batch: int, seq: int) -> int:
    """Matmul FLOPs (2 per MAC) of one forward pass of ``batch`` x ``seq`` tokens.

    ``meta`` is an exported model's ppliteformer_meta.json: its ``model_config`` gives the
    shape and its ``structure`` the per-layer heads and FFN widths of a pruned model
    (head_dim = hidden_size // num_attention_heads stays fixed under pruning).
    """
    config = meta.get("model_config") if isinstance(meta, dict) else None
    try:
        hidden, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
        head_dim = hidden // int(config["num_attention_heads"])
        structure = meta.get("structure") or {}
        heads = structure.get("heads") or [int(config["num_attention_heads"])] * layers
        ffn = structure.get("ffn") or [int(config["intermediate_size"])] * layers
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        raise ModelFileError("The model's ppliteformer_meta.json has no usable 'model_config' (hidden_size, "
                             "num_hidden_layers, num_attention_heads, intermediate_size), so its FLOPs cannot "
                             "be counted. Export the model again with 'ppliteformer run'.") from None
    if len(heads) != layers or len(ffn) != layers:
        raise ModelFileError(f"The model's structure lists {len(heads)} heads and {len(ffn)} FFN widths for "
                             f"{layers} layers; its ppliteformer_meta.json is inconsistent. Export it again.")
    tokens = batch * seq
    macs = 0
    for n_heads, width in zip(heads, ffn):
        macs += 4 * tokens * hidden * (n_heads * head_dim)  # q, k, v, out projections
        macs += 2 * batch * n_heads * seq * seq * head_dim  # Q K^T and softmax(Q K^T) V
        macs += 2 * tokens * hidden * width  # FFN up and down
    macs += batch * hidden * hidden  # pooler on [CLS]
    macs += batch * hidden * num_labels(config)  # classifier
    return 2 * macs


def matmul_op_flops(op_type: str, x_shape, y_shape, attrs: dict) -> int:
    """FLOPs of one matmul_v2 / matmul / mul op with concrete operand shapes."""
    x, y = list(x_shape), list(y_shape)
    if op_type == "mul":
        xn, yn = attrs.get("x_num_col_dims", 1), attrs.get("y_num_col_dims", 1)
        m, k, n = _prod(x[:xn]), _prod(x[xn:]), _prod(y[yn:])
        return 2 * m * k * n
    trans_x = attrs.get("trans_x", attrs.get("transpose_X", False))
    trans_y = attrs.get("trans_y", attrs.get("transpose_Y", False))
    if len(x) == 1:
        x, trans_x = [1, x[0]], False
    if len(y) == 1:
        y, trans_y = [y[0], 1], False
    m, k = (x[-1], x[-2]) if trans_x else (x[-2], x[-1])
    n = y[-2] if trans_y else y[-1]
    batch_x, batch_y = x[:-2], y[:-2]
    width = max(len(batch_x), len(batch_y))
    batch_x, batch_y = [1] * (width - len(batch_x)) + batch_x, [1] * (width - len(batch_y)) + batch_y
    batch = _prod(max(a, b) for a, b in zip(batch_x, batch_y))
    return 2 * batch * m * k * n


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def program_matmul_flops(model_dir, inputs: dict) -> dict:
    """Matmul FLOPs counted from the exported static program, run once on ``inputs``.

    Every matmul_v2/matmul/mul op of the program is visited; weights give their shapes
    directly and the activations' concrete shapes come from running the program with the
    static executor and fetching them. Returns {"flops": int, "ops": [(type, x, y, flops)]}.
    """
    from ..runtimes.host import static_program

    with static_program(model_dir) as (program, feeds, _, exe):
        block = program.global_block()
        matmuls = []
        for op in block.ops:
            if op.type in MATMUL_OPS:
                x, y = op.input("X")[0], op.input("Y")[0]
                attrs = {name: op.attr(name) for name in op.attr_names}
                matmuls.append((op.type, x, y, attrs))
        activations = sorted({name for _, x, y, _ in matmuls for name in (x, y)
                              if not block.var(name).persistable})
        values = exe.run(program, feed={name: inputs[name] for name in feeds},
                         fetch_list=[block.var(name) for name in activations])
        shapes = {name: list(value.shape) for name, value in zip(activations, values)}
        ops, total = [], 0
        for op_type, x, y, attrs in matmuls:
            x_shape = shapes.get(x, list(block.var(x).shape))
            y_shape = shapes.get(y, list(block.var(y).shape))
            flops = matmul_op_flops(op_type, x_shape, y_shape, attrs)
            ops.append((op_type, x_shape, y_shape, flops))
            total += flops
    return {"flops": total, "ops": ops}
