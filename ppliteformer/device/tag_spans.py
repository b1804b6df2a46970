"""Entity spans from a sequence of BIO or BIOES tags, as PaddleNLP's ChunkEvaluator reads them.

One implementation for the host (scoring, ppliteformer/tasks/token_data.py) and the device
(predict.py prints the entities it decodes with it; a bundle ships this file beside predict.py),
so the F1 the report gives and the entities a phone shows come from the same rule. Standard
library only.
"""
from __future__ import annotations

from typing import NamedTuple

SCHEMES = ("BIO", "BIOES")
_PREFIXES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}


def detect_scheme(tag_set) -> str:
    """BIOES when any tag is an E- or S- tag (they exist only there), else BIO."""
    return "BIOES" if any(tag.startswith(("E-", "S-")) for tag in tag_set) else "BIO"


def _prefixes(scheme: str) -> tuple:
    if scheme not in _PREFIXES:
        raise ValueError(f"Unknown tag scheme {scheme!r}. Use one of {', '.join(SCHEMES)}.")
    return _PREFIXES[scheme]


def _split_tag(tag: str, prefixes: tuple) -> tuple:
    """(prefix, type) of a tag, ("O", "") for O; ValueError for a tag outside the scheme."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if not dash or not kind or prefix not in prefixes:
        raise ValueError(f"tag {tag!r} is not 'O' or {'/'.join(p + '-' for p in prefixes)} followed by an "
                         "entity type")
    return prefix, kind


class Chunk(NamedTuple):
    kind: str
    start: int
    end: int    # exclusive
    first: str  # prefix of its first tag: I or E there means an orphan (no B before it)
    last: str   # prefix of its last tag: E or S there means properly closed (BIOES)


def chunks(tags, scheme: str):
    """The chunks of a tag sequence, ChunkEvaluator/seqeval style (lenient): a chunk starts at B or S,
    or at an I or E that does not continue a chunk of its type; it ends after E or S, or before a tag
    that does not continue it (O, B, S, another type). ValueError for a tag outside the scheme."""
    prefixes, current = _prefixes(scheme), None
    for i, tag in enumerate(tags):
        prefix, kind = _split_tag(tag, prefixes)
        if current and prefix in ("I", "E") and kind == current.kind:
            current = current._replace(end=i + 1, last=prefix)
        else:
            if current:
                yield current
            current = Chunk(kind, i, i + 1, prefix, prefix) if prefix != "O" else None
        if current and prefix in ("E", "S"):
            yield current
            current = None
    if current:
        yield current


def extract_spans(tags, scheme: str) -> set:
    """Entity spans (type, start, end-exclusive) as PaddleNLP's ChunkEvaluator reads them: in BIO an
    orphan I-X (after O or another type) starts a new chunk rather than being dropped."""
    return {(c.kind, c.start, c.end) for c in chunks(tags, scheme)}
