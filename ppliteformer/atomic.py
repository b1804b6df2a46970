"""Files that appear whole or not at all: written to a temporary name beside the target, then renamed.

A reader (a browser reloading the report, a second run reading the manifest, a user's script
polling for ``--out``) never sees half a file, and a run killed mid-write leaves only a
temporary name, which the next run removes.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """The hidden name a file or folder is built under before it is renamed to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_text_atomic(path, text: str, overwrite: bool = True) -> None:
    """Write ``text`` to ``path`` in one rename.

    With ``overwrite=False`` an existing ``path`` is never replaced, even one that appeared while
    the text was being prepared: ``FileExistsError`` is raised instead.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if path exists: the no-overwrite check and the write are one step
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def json_text(obj) -> str:
    """Indented UTF-8 JSON; dataclasses are written as their fields."""
    return json.dumps(obj, indent=2, ensure_ascii=False, default=jsonable) + "\n"


def write_json_atomic(path, obj, overwrite: bool = True) -> None:
    write_text_atomic(path, json_text(obj), overwrite)


def jsonable(obj):
    """The JSON form of a dataclass (its fields) or of an object with ``to_json``."""
    if is_dataclass(obj):
        return asdict(obj)
    if hasattr(obj, "to_json"):
        return obj.to_json()
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON")
