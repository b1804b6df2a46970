"""The ``search:`` section of a SEARCH.yaml: the phone's budget, the space of recipes, the machine's minutes.

A SEARCH.yaml is an ordinary strategy (data, teacher, convert, bench, arm, ...) whose step sections
(distill, prune, trim_vocab, embedding_int8, qat, ptq) are templates that every candidate starts from,
with no ``chain`` (the search makes one per candidate), plus this section.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

from ..config.strategy import short_repr
from ..errors import ConfigError
from ..steps.ptq import PTQ_ALGOS

INT8_CHOICES = ("none", "embedding", "qat", "ptq", "embedding+qat", "embedding+ptq")
LENGTHS = ("bench", "median")


@dataclass(frozen=True)
class SearchConfig:
    max_nb_bytes: int = 0                 # the arm .nb must fit in this many bytes (0: no limit)
    max_arm_instructions: float = 0.0     # aarch64 instructions per inference (0: no limit) ...
    instructions_at: str = "bench"        # ... at bench.seq_len, or at the dev split's median length
    max_drop: float = 1.0                 # points of the task's metric below the teacher, on dev
    layers: typing.Tuple[int, ...] = (2,)            # student depths
    hidden_size: typing.Tuple[int, ...] = (64,)      # student widths (heads of 32, FFN 4x wide)
    prune_keep: typing.Tuple[float, ...] = (1.0, 0.5)  # heads and FFN kept by prune (1.0: no prune step)
    trim_vocab: typing.Tuple[bool, ...] = (True,)
    int8: typing.Tuple[str, ...] = ("none", "embedding", "embedding+qat")
    ptq_algos: typing.Tuple[str, ...] = ("hist",)
    fp16: typing.Tuple[bool, ...] = (False,)         # true: also each float candidate in half precision
    max_minutes: float = 30.0             # of this machine, for the probe and the two rungs
    seed: int = 42                        # every candidate's training seed, and the order candidates run in
    low_fidelity: float = 0.34            # rung 1 trains each step for this share of its epochs ...
    promote: float = 0.5                  # ... and this share of its candidates goes on to full epochs


def _number_list(value, where: str, kind, low, high) -> tuple:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or v == int(v))
                            and low <= v <= high for v in items):
        raise ConfigError(f"{where}: expected a list of {'numbers' if kind is float else 'whole numbers'} in "
                          f"[{low}, {high}], got {short_repr(value)}.")
    return tuple(dict.fromkeys(kind(v) for v in items))


def _choice_list(value, where: str, allowed) -> tuple:
    items = value if isinstance(value, list) else [value]
    if not items or not all(v in allowed and isinstance(v, type(allowed[0])) for v in items):
        raise ConfigError(f"{where}: expected a list drawn from {', '.join(map(str, allowed))}, got "
                          f"{short_repr(value)}.")
    return tuple(dict.fromkeys(items))


def _one_of(value, where: str, allowed):
    if value not in allowed:
        raise ConfigError(f"{where}: expected one of {', '.join(allowed)}, got {short_repr(value)}.")
    return value


def _scalar(value, where: str, low, high):
    if isinstance(value, str):  # YAML reads 6.0e6 (no sign in the exponent) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a number in [{low}, {high}], got {short_repr(value)}.")
    return value


def parse_search(raw, path: Path) -> SearchConfig:
    """The section, strictly: an unknown key or a value out of range is a ConfigError naming it."""
    where = f"{path}: section 'search'"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {short_repr(raw)}.")
    fields = SearchConfig.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key {short_repr(unknown[0])}. Allowed keys: {', '.join(fields)}.")
    parsers = {
        "max_nb_bytes": lambda v, w: int(_scalar(v, w, 0, 1e12)),
        "max_arm_instructions": lambda v, w: float(_scalar(v, w, 0, 1e15)),
        "instructions_at": lambda v, w: _one_of(v, w, LENGTHS),
        "max_drop": lambda v, w: float(_scalar(v, w, 0, 100)),
        "layers": lambda v, w: _number_list(v, w, int, 1, 48),
        "hidden_size": lambda v, w: _number_list(v, w, int, 32, 4096),
        "prune_keep": lambda v, w: _number_list(v, w, float, 0.01, 1.0),
        "trim_vocab": lambda v, w: _choice_list(v, w, (True, False)),
        "int8": lambda v, w: _choice_list(v, w, INT8_CHOICES),
        "ptq_algos": lambda v, w: _choice_list(v, w, PTQ_ALGOS),
        "fp16": lambda v, w: _choice_list(v, w, (False, True)),
        "max_minutes": lambda v, w: float(_scalar(v, w, 1, 60 * 24 * 7)),
        "seed": lambda v, w: int(_scalar(v, w, 0, 2 ** 31 - 1)),
        "low_fidelity": lambda v, w: float(_scalar(v, w, 0.01, 1.0)),
        "promote": lambda v, w: float(_scalar(v, w, 0.01, 1.0)),
    }
    values = {key: parsers[key](value, f"{where}.{key}") for key, value in raw.items()}
    if any(h % 32 for h in values.get("hidden_size", ())):
        raise ConfigError(f"{where}.hidden_size: each width must be a multiple of 32 (heads are 32 wide), got "
                          f"{list(values['hidden_size'])}.")
    return SearchConfig(**values)
