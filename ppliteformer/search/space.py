"""The candidates of a search: one recipe each (student shape, prune ratio, vocabulary, int8, fp16), and
the strategy mapping that runs it through the ordinary stages.

A student is ``layers`` deep and ``hidden_size`` wide with 32-wide heads and a 4x FFN (ERNIE 3.0
Tiny's and the full recipe's proportions). Its chain is distill, then prune when ``keep`` < 1,
trim_vocab, embedding_int8 and qat or ptq as its choices say; each step's section starts from the
SEARCH.yaml's own section of that name.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass

from .settings import SearchConfig

HEAD_WIDTH = 32
FFN_FACTOR = 4
PROBE_EPOCHS = 1e-6       # one optimiser step: a candidate's size and ARM cost do not depend on its weights
TRAINING_STEPS = ("distill", "prune", "qat")  # the sections whose epochs a rung scales
TEMPLATE_STEPS = ("distill", "prune", "trim_vocab", "embedding_int8", "qat", "ptq")


@dataclass(frozen=True)
class Candidate:
    layers: int
    hidden_size: int
    keep: float          # heads and FFN neurons kept by prune (1.0: no prune step)
    trim_vocab: bool
    int8: str            # one of settings.INT8_CHOICES
    ptq_algo: str        # the ptq choices' calibration algorithm ("" otherwise)
    fp16: bool           # the final float model converted with opt --enable_fp16

    @property
    def name(self) -> str:
        parts = [f"{self.layers}x{self.hidden_size}", f"keep{self.keep:g}" if self.keep < 1 else "",
                 "trim" if self.trim_vocab else "", self.int8.replace("+", "_") if self.int8 != "none" else "",
                 self.ptq_algo, "fp16" if self.fp16 else ""]
        return "-".join(p for p in parts if p)

    @property
    def chain(self) -> list:
        chain = ["distill"] + (["prune"] if self.keep < 1 else []) + (["trim_vocab"] if self.trim_vocab else [])
        if self.int8.startswith("embedding"):
            chain.append("embedding_int8")
        if self.int8.endswith("qat"):
            chain.append("qat")
        if self.int8.endswith("ptq"):
            chain.append("ptq")
        return chain

    @property
    def int8_program(self) -> bool:
        return self.int8.endswith(("qat", "ptq"))

    def settings(self) -> dict:
        return {**asdict(self), "chain": self.chain}


def candidates(cfg: SearchConfig) -> list:
    """Every recipe of the space, once each, in an order drawn from the search's seed (so that a budget
    too short for all of them does not always leave out the same corner). fp16 applies to float finals
    only: Lite's opt converts float programs to fp16, not int8 ones."""
    found = {}
    for layers, hidden, keep, trim, int8, fp16 in itertools.product(
            cfg.layers, cfg.hidden_size, cfg.prune_keep, cfg.trim_vocab, cfg.int8, cfg.fp16):
        for algo in (cfg.ptq_algos if int8.endswith("ptq") else ("",)):
            candidate = Candidate(layers, hidden, keep, trim, int8, algo, fp16 and not int8.endswith(("qat", "ptq")))
            found.setdefault(candidate.name, candidate)
    ordered = sorted(found.values(), key=lambda c: c.name)
    random.Random(cfg.seed).shuffle(ordered)
    return ordered


def candidate_mapping(base: dict, candidate: Candidate, cfg: SearchConfig, epochs_share: float | None,
                      name: str, workdir: str) -> dict:
    """The strategy mapping of ``candidate``: ``base`` (the SEARCH.yaml without its search section) with the
    candidate's chain and step sections. ``epochs_share``: each training section's share of its epochs
    (None: the probe, one optimiser step everywhere, teacher included, and the fewest calibration batches)."""
    from ..steps import get_step

    mapping = {k: v for k, v in base.items() if k not in TEMPLATE_STEPS}
    mapping.update(name=name, workdir=workdir, chain=candidate.chain)
    targets = [t for t in (base.get("convert") or {}).get("targets", ["arm", "x86"]) if t != "arm_fp16"]
    mapping["convert"] = {**(base.get("convert") or {}), "targets": targets + (["arm_fp16"] if candidate.fp16 else [])}
    overrides = {"distill": {"layers": candidate.layers, "hidden_size": candidate.hidden_size,
                             "heads": max(1, candidate.hidden_size // HEAD_WIDTH),
                             "ffn_size": FFN_FACTOR * candidate.hidden_size},
                 "prune": {"head_keep_ratio": candidate.keep, "ffn_keep_ratio": candidate.keep},
                 "ptq": {"algo": candidate.ptq_algo or "hist"}}
    for step in candidate.chain:
        section = {**(base.get(step) or {}), **overrides.get(step, {})}
        if step in TRAINING_STEPS:
            epochs = section.get("epochs", get_step(step).config.epochs)
            section.update(seed=cfg.seed,
                           epochs=PROBE_EPOCHS if epochs_share is None else round(epochs * epochs_share, 4))
            if "control" in get_step(step).config.__dataclass_fields__:
                section["control"] = False  # a control is the report's question, not the search's
        mapping[step] = section
    if epochs_share is None:
        mapping["teacher"] = {**(base.get("teacher") or {}), "epochs": PROBE_EPOCHS}
        mapping.pop("pretrain", None)
        if "prune" in mapping:
            mapping["prune"]["importance_batches"] = 1
        if "ptq" in mapping:
            mapping["ptq"]["calibration_size"] = mapping["ptq"].get("batch_size", 16)
    return mapping
