"""A word-embedding table stored as uint8 with a min and max per row, dequantized per looked-up row
by the ``lookup_table_dequant`` op.

Storage (``table``, float32 [vocab, 2 + dim / 4]): each row is [min, max, then dim uint8 codes
packed four to a float32's bytes]; the stored max is min + 256 steps, so that code 255 is the
row's largest value and every value is within half a step. The op returns ``(max - min) / 256 * code + min`` for the
rows of the ids it is given (zeros for ``padding_idx``), so the cost grows with the tokens in
the input, not with the vocabulary. Paddle (dygraph and Paddle Inference) and Paddle Lite's
ARM kernels both implement it, with the same formula; Lite x86 has no kernel for it, so the
x86 conversion replaces it by a float lookup of the dequantized table (``x86_rewrites``).

Why not the obvious ops: a first version stored a uint8 table and dequantized it with
cast/sub/mul before a float lookup, i.e. the whole table on every call (about 2.9 M aarch64
instructions per inference at 4,924 x 64, half the cost of the float model it came from);
PaddleSlim's ``quant_embedding`` emits ``dequantize_abs_max``, which Lite 2.13 cannot run;
Lite's int8 ``lookup_table_v2`` gave wrong values on ARM and does not convert for x86.

A module of its own that imports paddle at the top: dy2static re-executes ``forward``'s
source with this module's globals, so names must be module-level.
"""
import paddle
from paddle.base.layer_helper import LayerHelper

from ..runtimes.int8_table import quantize_table


def lookup_table_dequant(table, ids, padding_idx: int):
    """The op on ``ids`` [..., 1] -> [..., dim]: Paddle's kernel in dygraph, an op in a static program."""
    if paddle.in_dynamic_mode():
        return paddle._legacy_C_ops.lookup_table_dequant(table, ids, "padding_idx", padding_idx)
    helper = LayerHelper("lookup_table_dequant")
    out = helper.create_variable_for_type_inference("float32")
    helper.append_op(type="lookup_table_dequant", inputs={"W": [table], "Ids": [ids]}, outputs={"Out": [out]},
                     attrs={"padding_idx": padding_idx})
    return out


class Int8Embedding(paddle.nn.Layer):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.padding_idx = -1 if padding_idx is None else padding_idx
        self.register_buffer("table", paddle.zeros([num_embeddings, 2 + -(-embedding_dim // 4)], "float32"))

    @classmethod
    def from_float(cls, embedding, per_row_scale: bool = True):
        weight = embedding.weight.detach().astype("float32").numpy()
        layer = cls(weight.shape[0], weight.shape[1], embedding._padding_idx)
        layer.table.set_value(quantize_table(weight, per_row_scale))
        return layer

    def forward(self, ids):
        if ids.dtype != paddle.int64:  # int32 inputs (export.input_dtype): the op's kernels read int64 ids
            ids = paddle.cast(ids, "int64")
        rows = lookup_table_dequant(self.table, paddle.unsqueeze(ids, -1), self.padding_idx)
        if self.table.shape[1] * 4 - 8 != self.embedding_dim:  # codes padded to a multiple of 4
            rows = rows[..., :self.embedding_dim]
        return rows
