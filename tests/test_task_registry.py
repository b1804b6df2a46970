"""A task is one module: a new one joins through the registry alone.

The task below (single-text classification scored by macro-averaged F1, for unbalanced labels)
is defined and registered here; nothing in the package is edited, and a tiny strategy with
``task: seq_cls_macro_f1`` runs data, teacher, export, opt, evaluation on both runtimes and the
report, which carries the task's own metric name.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ConfigError
from ppliteformer.tasks import get_task, register, task_names, unregister
from ppliteformer.tasks.seq_cls import SequenceClassification

from .conftest import TINY_STRATEGY
from .test_step_registry import copy_step  # noqa: F401 (a fixture: a step that serves seq_cls alone)


class MacroF1Classification(SequenceClassification):
    name = "seq_cls_macro_f1"
    summary = "one label per text (macro-averaged F1)"
    metric = "macro_f1"
    metric_label = "mF1"
    bundles = False

    def score(self, outputs: list, targets: list, labels) -> dict:
        predicted, gold = np.stack(outputs).argmax(-1), np.asarray(targets)
        f1 = []
        for label in range(len(labels)):
            tp = float(((predicted == label) & (gold == label)).sum())
            fp, fn = float(((predicted == label) & (gold != label)).sum()), float(((predicted != label) & (gold == label)).sum())
            f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        return {"macro_f1": float(np.mean(f1)), "accuracy": float((predicted == gold).mean())}


@pytest.fixture
def macro_f1_task():
    task = register(MacroF1Classification())
    yield task
    unregister(task.name)


@pytest.mark.unit
def test_built_in_tasks_and_their_metrics():
    assert task_names() == ["seq_cls", "slu", "token_cls"]
    assert [(get_task(n).metric, get_task(n).head) for n in task_names()] == [
        ("accuracy", "ForSequenceClassification"), ("sentence_accuracy", "ForTokenClassification"),
        ("span_f1", "ForTokenClassification")]


@pytest.mark.unit
def test_an_unknown_task_is_refused_with_the_known_ones(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("task: ner\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"task: unknown task 'ner'\. Tasks: seq_cls \(.*\); slu \(.*\); token_cls \("):
        load_strategy(path)


@pytest.mark.unit
def test_a_chain_step_that_does_not_serve_the_task_is_refused(tmp_path, copy_step):
    path = tmp_path / "s.yaml"
    path.write_text("task: token_cls\nchain: [copy_checkpoint]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chain step 'copy_checkpoint' does not serve task 'token_cls' yet .*"
                                          "serves seq_cls"):
        load_strategy(path)
    path.write_text("task: token_cls\nchain: [distill, prune, trim_vocab, embedding_int8, qat]\n", encoding="utf-8")
    assert load_strategy(path).task == "token_cls"  # the built-in steps serve every task


@pytest.mark.tiny
def test_a_task_added_through_the_registry_alone_runs_the_chain_and_names_its_metric(tmp_path, corpus_tsv,
                                                                                     macro_f1_task):
    from ppliteformer.report.build import format_table
    from ppliteformer.pipeline.workflow import run_strategy

    package = Path(__file__).resolve().parents[1] / "ppliteformer"
    assert not [p for p in package.rglob("*.py") if macro_f1_task.name in p.read_text(encoding="utf-8")]
    strategy = tmp_path / "macro.yaml"
    strategy.write_text(f"task: {macro_f1_task.name}\n" + TINY_STRATEGY.format(data=corpus_tsv)
                        + "arm: {enabled: false}\n", encoding="utf-8")
    report = run_strategy(strategy, workdir=tmp_path / "work")
    teacher = report.artifacts[0]
    assert (report.task, report.metric) == (macro_f1_task.name, "macro_f1")
    assert teacher.accuracy == teacher.task_metrics["macro_f1"] != teacher.task_metrics["accuracy"]
    assert teacher.accuracy_x86_lite == teacher.accuracy  # the same metric on Lite x86's outputs
    header = re.split(r"\s{2,}", format_table(report).splitlines()[0])
    assert header[:3] == ["artifact", "mF1 (Paddle Inf.)", "mF1 (Lite x86)"]
    assert not (tmp_path / "work" / "bundle").exists()  # the task says the predictor does not serve it
