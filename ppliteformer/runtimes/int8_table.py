"""The table of Paddle's ``lookup_table_dequant`` op (see models/int8_embedding.py): a word-embedding
table stored as uint8 codes with a min and max per row. Numpy only: the int8 embedding layer writes
it, and the x86 conversion (x86_rewrites.py) reads it back into a float table for Lite x86.
"""
import numpy as np

LEVELS = 256  # the op's fixed 8-bit code range


def quantize_table(weight: np.ndarray, per_row: bool = True) -> np.ndarray:
    """float32 [vocab, dim] -> the op's table [vocab, 2 + ceil(dim / 4)] (codes zero-padded to a multiple of 4)."""
    vocab, dim = weight.shape
    low = weight.min(axis=1, keepdims=True) if per_row else np.full((vocab, 1), weight.min(), "float32")
    high = weight.max(axis=1, keepdims=True) if per_row else np.full((vocab, 1), weight.max(), "float32")
    step = (np.where(high > low, high, low + 1e-8) - low) / (LEVELS - 1)  # code 255 is the row's max
    codes = np.zeros((vocab, -(-dim // 4) * 4), "uint8")
    codes[:, :dim] = np.clip(np.round((weight - low) / step), 0, LEVELS - 1)
    stored_high = low + step * LEVELS  # so that the op's (max - min) / 256 is this step
    return np.concatenate([low, stored_high, codes.view("float32")], axis=1).astype("float32")


def dequantize_table(table: np.ndarray, dim: int) -> np.ndarray:
    """The op's table -> the float32 [vocab, dim] it stands for (what the op returns row by row)."""
    low, high = table[:, :1], table[:, 1:2]
    codes = np.ascontiguousarray(table[:, 2:]).view("uint8")[:, :dim]
    return ((high - low) / LEVELS * codes.astype("float32") + low).astype("float32")
