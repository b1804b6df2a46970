"""`ppliteformer search`: the best recipe inside a phone's budget, by successive halving.

1. **Probe** (before any real training): every candidate runs its chain with one optimiser step per
   training section, is converted, and its arm `.nb` is measured on the ARM kernels: bytes and
   instructions do not depend on the weights, so a candidate out of the budget is dropped here, and a
   space with nothing inside the budget is refused, naming the smallest size and cost it reaches.
2. **Rung 1** (cheap fidelity): the candidates inside the budget train at ``low_fidelity`` of their
   epochs and are scored on dev. The non-dominated ones (dev metric, instructions, bytes) are promoted
   first, best dev metric first, up to ``promote`` of them: successive halving, because the cost of a
   recipe is known exactly and only its accuracy needs training to rank, and a short run ranks the
   shapes of one chain well enough to stop spending on the clear losers.
3. **Rung 2**: the promoted ones train at full epochs. The chosen one has the best dev metric within
   ``max_drop`` of the teacher's (fewer instructions, then fewer bytes, break ties); the Pareto front is
   drawn from this rung.
4. **Test, once**: the front on Paddle Inference, and the chosen one through an ordinary ``run`` of its
   own strategy (every runtime, the ARM kernels, the bundle) that reuses every stage the search finished.

Every stage lives in one work directory under its reuse key (``keyed``), so candidates share the
teacher, its logits and each distilled student, and a search killed at any point resumes where it was.
What a search decides (search.json, search.html, chosen.yaml, chosen/) goes in WORKDIR/search-<digest of
its search section>/, so a second budget over the same work directory reuses the first one's stages.
``max_minutes`` bounds the probe and both rungs (a candidate is not started when the time the rung's
candidates took so far says it would not finish); the chosen one's verification follows and is timed
on its own.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import statistics
import time
from pathlib import Path

from ..atomic import write_json_atomic
from ..config.strategy import load_strategy, read_strategy_yaml, strategy_from_mapping
from ..errors import ConfigError, PPLiteFormerError
from ..layout import DATA_STAGE, MANIFEST, PRETRAIN, TEACHER, artifact_stage_name
from ..pipeline.runner import Pipeline
from ..pipeline.workflow import arm_toolchain, paddlenlp_quiet, run_strategy, stages_for
from ..steps import model_stage_name
from ..tasks import get_task
from . import measure
from .keyed import keyed, seed_workdir, stage_keys
from .output import write_outputs
from .settings import SearchConfig, parse_search
from .space import Candidate, candidate_mapping, candidates

log = logging.getLogger("ppliteformer")

STATE_FILE = "search_state.json"   # seconds spent exploring and verifying, over every invocation
CHOSEN_STRATEGY = "chosen.yaml"
CHOSEN_DIR = "chosen"
RUNGS = {"probe": None, "rung1": "low_fidelity", "rung2": 1.0}
# A model's size and instruction count hardly depend on its weights: the one-step probe's were within 0.4% of the
# trained model's in search_mobile, about as far as two counts of one .nb in two processes fall apart (4.602 M and
# 4.618 M). A candidate up to this much over a limit at the probe is kept; the choice is held to the limits on
# the trained model's own figures.
PROBE_MARGIN = 0.01


def _digest(cfg: SearchConfig) -> str:
    """Names a search section's results folder: two budgets searched over one work directory share every
    finished stage, and each keeps its own clock, choice and report."""
    blob = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


class SearchError(PPLiteFormerError):
    """The budget cannot be met, or nothing the search trained meets it."""


class Search:
    def __init__(self, path, workdir: str | None = None):
        self.path = Path(path)
        raw = read_strategy_yaml(self.path)
        if "search" not in raw:
            raise ConfigError(f"{self.path}: no 'search' section. A SEARCH.yaml is a strategy plus a search section "
                              "(constraints, space, budget); see strategies/search_mobile.yaml. To run one strategy, "
                              f"use `ppliteformer run {self.path}`.")
        if "chain" in raw:
            raise ConfigError(f"{self.path}: a SEARCH.yaml has no chain: the search makes one per candidate from the "
                              "search section's space. Remove chain (the step sections stay, as templates).")
        self.cfg: SearchConfig = parse_search(raw.pop("search"), self.path)
        self.base = raw
        self.name = raw.get("name", self.path.stem)
        self.workdir = Path(workdir or raw.get("workdir") or f"work/{self.name}")
        self.results = self.workdir / f"search-{_digest(self.cfg)}"  # a budget's own results beside the stages
        self.candidates = candidates(self.cfg)
        self.teacher_dev = {}  # rung -> the teacher's dev metric (the same teacher serves both rungs)
        self.strategies = {(c.name, rung): self._strategy(c, rung) for c in self.candidates for rung in RUNGS}
        any_strategy = self.strategies[(self.candidates[0].name, "rung2")]
        self.task = get_task(any_strategy.task)
        self.arm = arm_toolchain(any_strategy, announce=False)
        if self.arm is None:
            raise ConfigError(f"{self.path}: the search measures every candidate's arm .nb on Paddle Lite's ARM "
                              "kernels, but the ARM toolchain is off or missing (see `ppliteformer arm-setup`). "
                              "Keep arm in convert.targets and arm.enabled: true.")
        self.arm_fp16 = None
        if any(c.fp16 for c in self.candidates):
            self.arm_fp16 = arm_toolchain(self.strategies[(next(c for c in self.candidates if c.fp16).name, "rung2")],
                                          announce=False, fp16=True)
            if self.arm_fp16 is None:
                raise ConfigError(f"{self.path}: search.fp16 lists true, but the fp16 Paddle Lite build is missing "
                                  "(arm.lite_dir_fp16, or PPLITEFORMER_LITE_ARM_FP16). Set fp16: [false], or point "
                                  "to an ARMv8.2 FP16 build.")

    def mapping(self, candidate: Candidate, rung: str, workdir: str) -> dict:
        share = RUNGS[rung]
        share = getattr(self.cfg, share) if isinstance(share, str) else share
        return candidate_mapping(self.base, candidate, self.cfg, share, f"{self.name}-{candidate.name}", workdir)

    def _strategy(self, candidate: Candidate, rung: str):
        """The candidate's strategy at a rung, validated now: a template section out of range fails before
        anything runs."""
        return strategy_from_mapping(self.mapping(candidate, rung, str(self.workdir)), self.path, str(self.workdir))

    def _stages(self, candidate: Candidate, rung: str) -> list:
        """The training and export stages of the candidate's chain, its final model's convert, and measure."""
        strategy = self.strategies[(candidate.name, rung)]
        final = strategy.chain[-1]
        convert_name = artifact_stage_name(final, "convert")
        kept = {DATA_STAGE, PRETRAIN, TEACHER, "export", "teacher_logits", convert_name, *strategy.chain,
                *(artifact_stage_name(step, "export") for step in strategy.chain)}
        stages = [s for s in stages_for(strategy) if s.name in kept]
        return stages + [measure.stage(strategy, self.arm_fp16 if candidate.fp16 else self.arm,
                                       model_stage_name(final), convert_name, candidate.fp16,
                                       self.cfg.instructions_at, dev=rung != "probe")]

    def _run(self, candidate: Candidate, rung: str) -> tuple:
        """(measure's metrics, the teacher's dev metric) of one candidate at one rung."""
        records = Pipeline(self.workdir, keyed(self._stages(candidate, rung)), log=log.debug).run()
        by_stage = {name.rsplit("-", 1)[0]: record for name, record in records.items()}
        return by_stage["measure"]["metrics"], by_stage[TEACHER]["metrics"].get("dev_accuracy_after")

    def test_metric(self, candidate: Candidate) -> float:
        """The task's metric of the candidate's full-epochs final model on the test split (Paddle Inference)."""
        stages = self._stages(candidate, "rung2")
        keys = stage_keys(stages)
        strategy = self.strategies[(candidate.name, "rung2")]

        def folder(name):
            return self.workdir / f"{name}-{keys[name]}"
        splits = self.task.read_splits(folder(DATA_STAGE))
        return measure.split_metric(folder(model_stage_name(strategy.chain[-1])), splits, "test", strategy)

    # --- the time budget -------------------------------------------------------------------------------
    def _state(self) -> dict:
        path = self.results / STATE_FILE
        return json.loads(path.read_text()) if path.is_file() else {"spent_s": 0.0}

    def _spent(self) -> float:
        """Seconds spent so far, over every invocation. A candidate a kill interrupted counts up to the last
        stage it finished (the manifest's last write)."""
        state, manifest = self._state(), self.workdir / MANIFEST
        if state.get("running_since") and manifest.is_file():
            state["spent_s"] += max(0.0, manifest.stat().st_mtime - state["running_since"])
            self._write_state(state["spent_s"])
        return state["spent_s"]

    def _write_state(self, spent: float, running_since: float | None = None, verifying_s: float = 0.0) -> None:
        """Record the seconds spent exploring (and, added to what is recorded, ``verifying_s``)."""
        self.results.mkdir(parents=True, exist_ok=True)
        verifying = self._state().get("verifying_s", 0.0) + verifying_s
        write_json_atomic(self.results / STATE_FILE, {"spent_s": spent, "running_since": running_since,
                                                      "verifying_s": verifying})

    def _fits(self, durations: list) -> bool:
        """Whether one more candidate is expected to finish within max_minutes: the median of this rung's
        candidates so far (the first of a rung also trains what the others share, so not the largest)."""
        expected = statistics.median(durations) if durations else 0.0
        return self._spent() + expected <= self.cfg.max_minutes * 60

    def _rung(self, rung: str, names: list, figures: dict) -> list:
        """Run ``names`` at ``rung`` while the budget lasts; fills ``figures[name][rung]``; returns those run."""
        durations, done = [], []
        for index, name in enumerate(names):
            if not self._fits(durations):
                log.info("search %s: the budget of %g minutes is spent; %d candidates not run at this rung",
                         rung, self.cfg.max_minutes, len(names) - index)
                break
            start, spent = time.time(), self._spent()
            self._write_state(spent, running_since=start)
            candidate = next(c for c in self.candidates if c.name == name)
            metrics, teacher_dev = self._run(candidate, rung)
            durations.append(time.time() - start)
            self._write_state(spent + durations[-1])
            figures[name][rung] = {**metrics, "seconds": round(durations[-1], 1)}
            if rung != "probe":
                self.teacher_dev[rung] = teacher_dev
            done.append(name)
            dev = f", dev {self.task.metric} {metrics['dev_metric']:.4f}" if "dev_metric" in metrics else ""
            log.info("search %s %d/%d %s: arm .nb %.3f MB, %.2f M aarch64 instructions at seq %d (ARM kernels, "
                     "qemu)%s; %.0f s", rung, index + 1, len(names), name, metrics["nb_bytes"] / 1e6,
                     metrics["instructions"] / 1e6, metrics["seq_len"], dev, durations[-1])
        return done

    def within_budget(self, figures: dict, margin: float = 0.0) -> bool:
        """Whether a candidate's arm .nb fits the budget, given ``margin`` (a share) above each limit."""
        return ((not self.cfg.max_nb_bytes or figures["nb_bytes"] <= self.cfg.max_nb_bytes * (1 + margin)) and
                (not self.cfg.max_arm_instructions or
                 figures["instructions"] <= self.cfg.max_arm_instructions * (1 + margin)))

    def run(self) -> dict:
        started = time.time()
        figures = {c.name: {} for c in self.candidates}
        with paddlenlp_quiet():
            probed = self._rung("probe", [c.name for c in self.candidates], figures)
            inside = [n for n in probed if self.within_budget(figures[n]["probe"], PROBE_MARGIN)]
            if not inside:
                raise SearchError(self._impossible(probed, figures))
            rung1 = self._rung("rung1", inside, figures) if self.cfg.low_fidelity < 1 else inside
            promoted = promote(rung1, {n: figures[n]["rung1"] for n in rung1}, self.cfg.promote) \
                if self.cfg.low_fidelity < 1 else inside
            rung2 = self._rung("rung2", promoted, figures)
        result = decide(self, figures, inside, rung1, promoted, rung2)
        if result["chosen"] is not None:
            verify_start = time.time()
            result["chosen_report"] = self.verify(result)
            self._write_state(self._spent(), verifying_s=time.time() - verify_start)
        result["minutes"] = {"budget": self.cfg.max_minutes, "exploring": round(self._spent() / 60, 1),
                             "verifying_chosen": round(self._state().get("verifying_s", 0.0) / 60, 1),
                             "this_invocation": round((time.time() - started) / 60, 1)}
        write_outputs(self, result)
        if result["chosen"] is None:
            raise SearchError(result["why_none"])
        return result

    def _impossible(self, probed: list, figures: dict) -> str:
        smallest = min(probed, key=lambda n: figures[n]["probe"]["nb_bytes"])
        cheapest = min(probed, key=lambda n: figures[n]["probe"]["instructions"])
        size, cost = figures[smallest]["probe"]["nb_bytes"], figures[cheapest]["probe"]["instructions"]
        limits = [f"max_nb_bytes {self.cfg.max_nb_bytes:,}" if self.cfg.max_nb_bytes else "",
                  f"max_arm_instructions {self.cfg.max_arm_instructions:,.0f}" if self.cfg.max_arm_instructions else ""]
        return (f"{self.path}: nothing in the search space fits the budget ({', '.join(filter(None, limits))} at "
                f"the {self.cfg.instructions_at} length), judged before training from each of the {len(probed)} "
                f"candidates' arm .nb: the smallest is {size:,} bytes ({smallest}) and the cheapest {cost:,} "
                f"instructions ({cheapest}). Raise the budget, or add smaller students (layers, hidden_size), lower "
                "prune_keep or int8 choices to the space.")

    def verify(self, result: dict) -> dict:
        """The chosen candidate through an ordinary run of its own strategy (written as chosen.yaml), on the
        stages the search finished: the test split on every runtime and the ARM kernels, and its bundle."""
        import yaml

        candidate = next(c for c in self.candidates if c.name == result["chosen"])
        path = self.results / CHOSEN_STRATEGY
        mapping = self.mapping(candidate, "rung2", str(self.results / CHOSEN_DIR))
        path.write_text(f"# The candidate `ppliteformer search {self.path}` chose, alone: run it with\n"
                        f"#   ppliteformer run {path}\n" + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        strategy = load_strategy(path)
        seed_workdir(self.workdir, Path(strategy.workdir), stages_for(strategy))
        report = run_strategy(strategy)
        final = report.artifact(report.final)
        return {"strategy": str(path), "workdir": strategy.workdir, "final": report.final,
                "final_precision": report.final_precision, "test_metric_paddle_inference": final.accuracy,
                "test_metric_arm": final.accuracy_arm_fp16 if report.final_precision == "fp16" else final.accuracy_arm,
                "nb_bytes": final.nb_bytes_arm_fp16 if report.final_precision == "fp16" else final.nb_bytes_arm}


def dominates(a: dict, b: dict, metric: str) -> bool:
    """a is at least as good as b on the metric, instructions and bytes, and better on one."""
    at_least = a[metric] >= b[metric] and a["instructions"] <= b["instructions"] and a["nb_bytes"] <= b["nb_bytes"]
    return at_least and (a[metric] > b[metric] or a["instructions"] < b["instructions"] or a["nb_bytes"] < b["nb_bytes"])


def pareto_front(figures: dict, metric: str = "dev_metric") -> list:
    return [n for n in figures if not any(dominates(figures[o], figures[n], metric) for o in figures if o != n)]


def promote(names: list, figures: dict, share: float) -> list:
    """The non-dominated first, then the rest, each best dev metric first: the top ``share`` (at least one)."""
    front = set(pareto_front(figures))
    ranked = sorted(names, key=lambda n: (n not in front, -figures[n]["dev_metric"], figures[n]["instructions"]))
    return ranked[:max(1, math.ceil(share * len(names)))]


def decide(search: Search, figures: dict, inside: list, rung1: list, promoted: list, rung2: list) -> dict:
    """The chosen candidate, the front, and each candidate's status, from the dev figures of rung 2; then the
    test split, once, for the front on Paddle Inference."""
    cfg, teacher_dev = search.cfg, search.teacher_dev.get("rung2")
    full = {n: figures[n]["rung2"] for n in rung2}
    allowed = [n for n in rung2 if search.within_budget(full[n]) and
               (teacher_dev is None or (teacher_dev - full[n]["dev_metric"]) * 100 <= cfg.max_drop)]
    chosen = min(allowed, key=lambda n: (-full[n]["dev_metric"], full[n]["instructions"], full[n]["nb_bytes"]),
                 default=None)
    front = pareto_front({n: f for n, f in full.items() if search.within_budget(f)})
    for name in front:
        full[name]["test_metric"] = search.test_metric(next(c for c in search.candidates if c.name == name))
    statuses = {}
    for c in search.candidates:
        n = c.name
        statuses[n] = ("chosen" if n == chosen else "front" if n in front else "rung 2" if n in rung2 else
                       "not run at rung 2: budget spent" if n in promoted else
                       "dropped after rung 1" if n in rung1 else "not run at rung 1: budget spent" if n in inside else
                       "out of the budget (size or instructions, from the probe)" if "probe" in figures[n] else
                       "not probed: budget spent")
    why_none = "" if chosen else (
        f"no candidate trained at full epochs fits the budget within max_drop {cfg.max_drop:g} points of the teacher's dev "
        f"{search.task.metric} ({teacher_dev:.4f}): the best reached "
        f"{max((f['dev_metric'] for f in full.values()), default=float('nan')):.4f}. Raise max_drop or max_minutes, "
        "or widen the space (larger students, keep ratios nearer 1).") if rung2 else (
        "no candidate reached rung 2 within max_minutes; raise max_minutes.")
    return {"chosen": chosen, "front": front, "teacher_dev_metric": teacher_dev, "statuses": statuses,
            "figures": figures, "why_none": why_none}


def run_search(path, workdir: str | None = None) -> dict:
    return Search(path, workdir).run()
