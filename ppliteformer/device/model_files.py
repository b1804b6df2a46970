"""A model folder's files as the device reads them: names, the meta file, the vocabulary, and the
error every device module raises. Standard library only, so that the host's layout and report
code can name these files without importing numpy.

Shipped flat beside predict.py in a bundle (see device/__init__.py).
"""
from __future__ import annotations

import json
from pathlib import Path

META_FILE = "ppliteformer_meta.json"
VOCAB_FILE = "vocab.txt"
ID_DTYPES = ("int64", "int32")  # int32: what ERNIE 3.0 Tiny deploys on phones (export --input_dtype int32)


class PredictorError(Exception):
    """A user-facing problem with the model folder or the input texts."""


META_MAX_BYTES = 1 << 20
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]")


def read_meta(folder) -> dict:
    """The model folder's ppliteformer_meta.json, checked for what the predictor reads; a PredictorError
    naming the file and the key otherwise."""
    path = Path(folder) / META_FILE
    again = "Copy the model folder whole again, or convert the model again ('ppliteformer convert')."
    try:
        if path.stat().st_size > META_MAX_BYTES:
            raise PredictorError(f"{path}: larger than {META_MAX_BYTES} bytes, so not a model's meta file. {again}")
        meta = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:
        raise PredictorError(f"{path}: not a readable JSON meta file ({str(exc)[:100]}). {again}") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    checks = (("labels", isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels),
               "a list of at least 2 label names"),
              ("max_seq_len", isinstance(meta.get("max_seq_len") if isinstance(meta, dict) else None, int)
               and not isinstance(meta.get("max_seq_len"), bool) and 3 <= meta["max_seq_len"] <= 65536,
               "a whole number of tokens"),
              ("do_lower_case", isinstance(meta.get("do_lower_case", True) if isinstance(meta, dict) else None, bool),
               "true or false"),
              ("id_dtype", isinstance(meta, dict) and meta.get("id_dtype", "int64") in ID_DTYPES,
               f"one of {', '.join(ID_DTYPES)}"))
    for key, ok, expected in checks:
        if not ok:
            raise PredictorError(f"{path}: '{key}' must be {expected}. {again}")
    return meta


def read_id_dtype(folder) -> str:
    """The dtype the model's id inputs were exported with (``id_dtype`` in its meta file; int64 when absent)."""
    return read_meta(folder).get("id_dtype", "int64") if (Path(folder) / META_FILE).is_file() else "int64"


def check_vocab(path) -> None:
    """A WordPiece vocabulary with the special tokens the predictor needs, or a PredictorError."""
    try:
        with open(path, "rb") as f:
            tokens = {line.strip() for line in f.read(64 << 20).decode("utf-8", "replace").splitlines()}
    except OSError as exc:
        raise PredictorError(f"{path}: cannot be read ({exc.strerror}).") from None
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise PredictorError(f"{path}: not the model's vocabulary ({len(tokens)} tokens, without "
                             f"{', '.join(missing)}). Copy the model folder's vocab.txt whole again.")
