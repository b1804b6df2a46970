"""A word-embedding table stored as int8 with one float scale per row, dequantized per looked-up row.

Storage: int8 values q in [-127, 127], packed four to an int32 (``weight_packed``, shape
[vocab, ceil(dim / 4)]), plus ``scale`` [vocab, 1]. The forward pass gathers the rows of the
ids it is given, unpacks their bytes with integer remainder/subtract/divide, and multiplies by
their scales, so the cost grows with the tokens in the input, not with the vocabulary.

Why packed int32: the ops must run on Paddle Inference (the reference) and on Paddle Lite's
arm and x86 kernels. Paddle's CPU gather has no int8 kernel and Lite's gather no uint8 one,
while both gather int32; PaddleSlim's ``quant_embedding`` ops (``dequantize_abs_max``) have no
Lite kernels. The first version of this layer dequantized the whole table on every call
(cast/sub/mul over vocab x dim), which made an int8 embedding cost more ARM instructions than
the float one it replaced.

Packing: byte k of a packed value holds column 4j + k as u = q + 128 in [1, 255]; the top
byte is stored signed (u - 128 = q), so the int32 is exact and
``value = u0 + 256 u1 + 65536 u2 + 16777216 q3``. Unpacking with a remainder in [0, 256) and exact
division gives u0, u1, u2 and then q3 itself. The padding row is all zeros, which is what the float embedding's
``padding_idx`` returns for it.

A module of its own that imports paddle at the top: dy2static re-executes ``forward``'s
source with this module's globals, so names must be module-level.
"""
import numpy as np
import paddle

BYTES = 4
LAYOUT = "int8_packed_int32_rows"  # part of the embedding_int8 stage's key: a new layout redoes the stage


def pack_rows(q: np.ndarray) -> np.ndarray:
    """int8 values [rows, dim] -> int32 [rows, ceil(dim / 4)] (zero-padded columns)."""
    rows, dim = q.shape
    padded = np.zeros((rows, -(-dim // BYTES) * BYTES), "int64")
    padded[:, :dim] = q
    groups = padded.reshape(rows, -1, BYTES)
    u = groups[..., :3] + 128
    return (u[..., 0] + 256 * u[..., 1] + 65536 * u[..., 2] + 16777216 * groups[..., 3]).astype("int32")


class Int8Embedding(paddle.nn.Layer):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.register_buffer("weight_packed", paddle.zeros([num_embeddings, -(-embedding_dim // BYTES)], "int32"))
        self.register_buffer("scale", paddle.ones([num_embeddings, 1], "float32"))

    @classmethod
    def from_float(cls, embedding, per_row_scale: bool = True):
        weight = embedding.weight.detach().astype("float32").numpy()
        layer = cls(weight.shape[0], weight.shape[1], embedding._padding_idx)
        peak = np.abs(weight).max(axis=1, keepdims=True) if per_row_scale else \
            np.full((weight.shape[0], 1), np.abs(weight).max(), "float32")
        scale = np.maximum(peak / 127.0, 1e-8).astype("float32")
        q = np.clip(np.round(weight / scale), -127, 127).astype("int64")
        if layer.padding_idx is not None and layer.padding_idx >= 0:
            q[layer.padding_idx] = 0
        layer.weight_packed.set_value(pack_rows(q))
        layer.scale.set_value(scale)
        return layer

    def forward(self, ids):
        flat = paddle.reshape(ids, [-1])
        packed = paddle.gather(self.weight_packed, flat)
        base = paddle.full([1], 256, "int32")
        parts = []
        for _ in range(3):
            # remainder twice: Lite's int remainder takes the dividend's sign (C's %), Paddle's the
            # divisor's; after adding 256 the value is positive and both agree
            low = paddle.remainder(paddle.remainder(packed, base) + base, base)
            parts.append(low - 128)
            packed = paddle.floor_divide(packed - low, base)  # exact, so truncating and flooring agree
        parts.append(packed)
        q = paddle.reshape(paddle.stack(parts, axis=-1), [-1, self.weight_packed.shape[1] * BYTES])
        if self.weight_packed.shape[1] * BYTES != self.embedding_dim:
            q = q[:, :self.embedding_dim]
        rows = paddle.cast(q, "float32") * paddle.gather(self.scale, flat)
        shape = paddle.concat([paddle.shape(ids), paddle.full([1], self.embedding_dim, "int32")])
        return paddle.reshape(rows, shape)
