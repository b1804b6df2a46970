"""A word-embedding table stored as uint8 (int8 + 128) with one float scale per row.

The forward pass dequantizes with cast, subtract and multiply, ops that Paddle Lite 2.13
runs on arm and x86 (the ``dequantize_abs_max`` / ``dequantize_log`` ops that PaddleSlim's
``quant_embedding`` emits have no kernels there). The table is 4x smaller in the `.nb`;
the dequantized copy only lives during a forward pass.

A module of its own that imports paddle at the top: dy2static re-executes ``forward``'s
source with this module's globals, so names must be module-level.
"""
import paddle
import paddle.nn.functional as F


class Int8Embedding(paddle.nn.Layer):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None):
        super().__init__()
        self.padding_idx = padding_idx
        self.register_buffer("weight_uint8", paddle.zeros([num_embeddings, embedding_dim], "uint8"))
        self.register_buffer("scale", paddle.ones([num_embeddings, 1], "float32"))

    @classmethod
    def from_float(cls, embedding, per_row_scale: bool = True):
        weight = embedding.weight.detach().astype("float32")
        layer = cls(weight.shape[0], weight.shape[1], embedding._padding_idx)
        peak = weight.abs().max(axis=1, keepdim=True) if per_row_scale else \
            paddle.full([weight.shape[0], 1], float(weight.abs().max()))
        scale = paddle.clip(peak / 127.0, min=1e-8)
        layer.weight_uint8.set_value((paddle.round(weight / scale) + 128.0).astype("uint8"))
        layer.scale.set_value(scale)
        return layer

    def forward(self, ids):
        table = (paddle.cast(self.weight_uint8, "float32") - 128.0) * self.scale
        return F.embedding(ids, table, padding_idx=self.padding_idx)
