"""A compression step is one module: a new one joins a chain through the registry alone.

The throwaway step below (a float checkpoint copied unchanged, with a config section of its
own) is defined here and registered; nothing else in the package is edited, and a tiny chain
with it runs through export, opt, evaluation and the report like any built-in step.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ConfigError
from ppliteformer.records import StepResult
from ppliteformer.steps import CHECKPOINT, INT8_PROGRAM, READS_CHECKPOINT, Step, all_steps, register, unregister

from .conftest import TINY_STRATEGY



@dataclass(frozen=True)
class CopyConfig:
    note: str = "unchanged"


def _copy(inputs, cfg: CopyConfig) -> StepResult:
    from ppliteformer.tasks.seq_data import read_splits
    from ppliteformer.models.modeling import load_pretrained, load_tokenizer
    from ppliteformer.models.structure import read_task, save_checkpoint
    from ppliteformer.models.training import dev_accuracy, encode_texts

    model = load_pretrained(str(inputs.checkpoint))
    tokenizer = load_tokenizer(str(inputs.checkpoint))
    save_checkpoint(model, tokenizer, read_task(inputs.checkpoint), inputs.out_dir)
    splits = read_splits(inputs.data_dir)
    labels = {label: i for i, label in enumerate(splits.labels)}
    ids = encode_texts(tokenizer, [e.text for e in splits.dev], inputs.max_seq_len)
    accuracy = dev_accuracy(model, ids, [labels[e.label] for e in splits.dev], tokenizer.pad_token_id)
    return StepResult(dev_accuracy_before=accuracy, dev_accuracy_after=accuracy, details={"note": cfg.note})


COPY = Step(name="copy_checkpoint", config=CopyConfig, position=35, run=_copy, output=CHECKPOINT,
            reads=(READS_CHECKPOINT,), order_reason="copy_checkpoint sits anywhere among the float steps",
            tasks=("seq_cls",),  # it scores with encode_texts and dev_accuracy: single texts only
            summary="a test step: the previous checkpoint, unchanged")


@pytest.fixture
def copy_step():
    register(COPY)
    yield COPY
    unregister(COPY.name)


@pytest.mark.unit
def test_built_in_steps_declare_everything_in_one_place():
    steps = all_steps()
    assert [s.name for s in steps] == ["distill", "prune", "trim_vocab", "embedding_int8", "qat", "ptq"]
    assert [s.name for s in steps if s.output == INT8_PROGRAM] == ["qat", "ptq"]
    assert [s.name for s in steps if s.needs_teacher_logits] == ["distill", "prune", "qat"]
    assert [s.name for s in steps if not s.all_float] == ["embedding_int8"]


@pytest.mark.unit
def test_a_registered_step_is_a_yaml_section_and_takes_its_place_in_the_order(tmp_path, copy_step):
    path = tmp_path / "s.yaml"
    path.write_text("chain: [distill, copy_checkpoint, qat]\ncopy_checkpoint: {note: hello}\n", encoding="utf-8")
    strategy = load_strategy(path)
    assert strategy.steps["copy_checkpoint"] == CopyConfig(note="hello")
    path.write_text("chain: [copy_checkpoint, distill]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="copy_checkpoint sits anywhere among the float steps"):
        load_strategy(path)


@pytest.mark.unit
def test_an_unregistered_step_is_unknown(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("chain: [copy_checkpoint]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown section 'copy_checkpoint'|unknown step 'copy_checkpoint'"):
        load_strategy(path)


@pytest.mark.tiny
def test_a_tiny_chain_runs_with_a_step_added_through_the_registry_alone(tmp_path, corpus_tsv, tiny_run, copy_step):
    from ppliteformer.pipeline.workflow import run_strategy

    teacher_workdir, tiny_report = tiny_run
    workdir = tmp_path / "work"
    shutil.copytree(teacher_workdir, workdir)  # the tiny teacher's stages are reused
    strategy = tmp_path / "copy.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "chain: [copy_checkpoint]\n", encoding="utf-8")
    report = run_strategy(strategy, workdir=workdir)
    assert [a.name for a in report.artifacts] == ["teacher", "copy_checkpoint"] and report.final == "copy_checkpoint"
    teacher, copied = report.artifacts
    assert copied.accuracy == teacher.accuracy == tiny_report.artifacts[0].accuracy  # the same weights
    assert copied.nb_bytes_arm > 0 and copied.accuracy_x86_lite == copied.accuracy
    assert report.steps["copy_checkpoint"].details == {"note": "unchanged"}
    assert (workdir / "copy_checkpoint_export" / "model.pdmodel").is_file()
    assert (workdir / "bundle" / "copy_checkpoint-arm" / "predict.py").is_file()
