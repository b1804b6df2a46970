"""Task token_cls at tiny scale: named entities from People's Daily sentences, through the chain.

The data is the first 600 sentences of the built-in corpus written as a CoNLL file (the format
a user brings); the model is the 2-layer 32-wide preset.
"""
from __future__ import annotations

import json

import pytest

from ppliteformer.errors import DataError

from .conftest import NER_STRATEGY

pytestmark = pytest.mark.tiny


def test_a_token_is_tagged_at_its_first_piece_and_truncation_is_scored_as_outside(tmp_path):
    import numpy as np

    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.tasks import get_task
    from ppliteformer.tasks.token_data import TaggedSentence

    task = get_task("token_cls")
    labels = ("O", "B-PER", "I-PER")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", "江", "泽", "民", "说", "hel", "##lo"])
                     + "\n", encoding="utf-8")
    sentence = TaggedSentence(("江", "hello", "民", "说"), ("B-PER", "O", "B-PER", "O"))
    (ids,), (target,) = task.encode(load_tokenizer(str(vocab)), [sentence], max_seq_len=6, labels=labels)
    assert ids == [1, 5, 9, 10, 7, 2]  # [CLS] 江 hel ##lo 民 [SEP]: 说 did not fit
    assert target.first_piece == (1, 2, 4) and target.tag_ids == (1, 0, 1, 0)
    assert task.batch_targets([target]).tolist() == [[-100, 1, 0, -100, 1, -100]]  # ##lo is not scored

    perfect = np.eye(3)[[0, 1, 0, 2, 1, 0]]  # one row per piece; ##lo's row is never read
    assert task.predicted_tags(perfect, target, labels) == ["B-PER", "O", "B-PER", "O"]  # 说: O, unseen
    assert task.score([perfect], [target], labels)["span_f1"] == 1.0
    gold_person_cut = task.encode(load_tokenizer(str(vocab)), [TaggedSentence(("江", "hello", "民", "说"),
                                  ("B-PER", "O", "B-PER", "B-PER"))], max_seq_len=6, labels=labels)[1][0]
    assert task.score([perfect], [gold_person_cut], labels)["span_recall"] == pytest.approx(2 / 3)


def test_token_cls_runs_the_chain_with_span_f1_on_every_runtime(ner_run):
    from ppliteformer.report.build import format_table

    workdir, report = ner_run
    arts = {a.name: a for a in report.artifacts}
    assert list(arts) == ["teacher", "distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    assert (report.task, report.metric) == ("token_cls", "span_f1")
    splits = json.loads((workdir / "data" / "splits.json").read_text(encoding="utf-8"))
    assert splits["task"] == "token_cls" and splits["labels"][0] == "O" and "B-PER" in splits["labels"]
    teacher = arts["teacher"]
    assert teacher.accuracy == teacher.task_metrics["span_f1"] > 0.05  # above the all-O prediction (F1 0)
    assert 0 < teacher.task_metrics["token_accuracy"] <= 1
    for name in ("teacher", "distill", "prune", "trim_vocab", "embedding_int8"):  # float: Lite x86 agrees
        art = arts[name]
        assert art.accuracy_x86_lite == pytest.approx(art.accuracy, abs=1e-9), name
        assert art.max_abs_logit_diff_lite_vs_inference < 1e-4 and art.label_agreement_lite_vs_inference == 1.0
    assert report.steps["prune"].details["after"]["heads"] == [1] and arts["qat"].int8
    assert report.steps["distill"].details["dev_agreement_with_teacher_after"] > 0.5  # per-token soft targets
    from ppliteformer.models.export_program import program_op_types

    teacher_ops, student_ops = (set(program_op_types(workdir / name)) for name in ("export", "distill_export"))
    assert "gelu" in teacher_ops and "relu" not in teacher_ops
    assert "relu" in student_ops and "gelu" not in student_ops  # the student's own activation (the recipe's)
    teacher_logits = __import__("numpy").load(workdir / "teacher_logits" / "train_logits.npy")
    assert teacher_logits.ndim == 3 and teacher_logits.shape[2] == len(splits["labels"])  # [sentences, pieces, tags]
    baseline = report.baselines["window_sgd_logreg"]
    assert 0.3 < baseline["accuracy"] <= 1 and baseline["metric"] == "span_f1"
    assert "F1 (Paddle Inf.)" in format_table(report).splitlines()[0]
    meta = json.loads((workdir / "export" / "ppliteformer_meta.json").read_text(encoding="utf-8"))
    assert (meta["task"], meta["scheme"], meta["token_unit"]) == ("token_cls", "BIO", "char")
    from ppliteformer.arm.toolchain import optional_toolchain

    if optional_toolchain("", False, "") is None:
        pytest.skip("the ARM toolchain (../shared/lite-armv8, qemu-aarch64) is not here: the [tokens, tags] "
                    "outputs were not run on the ARM kernels")
    for art in arts.values():
        assert art.arm_instructions_per_inference > 0 and art.accuracy_arm is not None, art.name
    assert teacher.label_agreement_arm_vs_reference == 1.0 and teacher.max_abs_logit_diff_arm_vs_reference < 1e-4
    final = arts[report.final]
    assert final.arm_whole_test_split and final.label_agreement_arm_vs_reference >= 0.99


def test_the_token_bundle_prints_entities_with_offsets_and_self_checks(ner_run):
    import subprocess
    import sys

    workdir, report = ner_run
    bundle = workdir / "bundle" / f"{report.final}-x86" if (workdir / "bundle" / f"{report.final}-x86").is_dir() \
        else workdir / "bundle" / f"{report.final}-arm"
    check = json.loads((bundle / "selfcheck.json").read_text(encoding="utf-8"))
    assert len(check["samples"]) == 8 and all("entities" in s and len(s["logits"][0]) == 7 for s in check["samples"])
    x86 = workdir / "bundle" / "teacher-x86"
    from ppliteformer.pipeline.bundle import make_bundle

    make_bundle(workdir, "teacher", workdir / "bundle")
    text = "新华社北京１２月３１日电"
    done = subprocess.run([sys.executable, str(x86 / "predict.py"), "--model", str(x86), "--text", text, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["tags"]) == len(text) and len(result["logits"]) == len(text) + 2  # [CLS] chars [SEP]
    for entity in result["entities"]:
        assert entity["text"] == text[entity["start"]:entity["end"]] and entity["type"] in ("PER", "LOC", "ORG")
    selfcheck = subprocess.run([sys.executable, str(x86 / "predict.py"), "--model", str(x86), "--selfcheck",
                                str(x86 / "selfcheck.json")], capture_output=True, text=True, timeout=120)
    assert selfcheck.returncode == 0 and "self-check passed: 8/8" in selfcheck.stdout, selfcheck.stdout
    assert selfcheck.stderr == ""


def test_a_text_classification_file_given_to_token_cls_names_the_task_to_use(tmp_path, corpus_tsv):
    from ppliteformer.config.strategy import DataConfig
    from ppliteformer.tasks import get_task

    with pytest.raises(DataError, match="text<TAB>label rows: that is task seq_cls"):
        get_task("token_cls").load_splits(DataConfig(source=str(corpus_tsv)))
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text('{"text": "很好", "label": "positive"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="one label per text is task seq_cls"):
        get_task("token_cls").load_splits(DataConfig(source=str(jsonl)))


def test_a_token_file_given_to_seq_cls_names_the_task_to_use(ner_conll, tmp_path):
    from ppliteformer.tasks.seq_data import load_file

    with pytest.raises(DataError, match="read by task token_cls"):
        load_file(ner_conll)
    jsonl = tmp_path / "tokens.jsonl"
    jsonl.write_text('{"tokens": ["江"], "labels": ["B-PER"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="read by task token_cls"):
        load_file(jsonl)


def test_an_all_outside_file_is_refused(tmp_path):
    from ppliteformer.config.strategy import DataConfig
    from ppliteformer.tasks import get_task

    path = tmp_path / "plain.conll"
    path.write_text("".join(f"{c} O\n{c}{c} O\n\n" for c in "一二三四五六七八九十"), encoding="utf-8")
    with pytest.raises(DataError, match="every token is tagged O"):
        get_task("token_cls").load_splits(DataConfig(source=str(path)))


def test_an_exported_program_as_a_token_teacher_is_refused_before_training(tmp_path, ner_conll, tiny_run):
    from ppliteformer.pipeline.workflow import run_strategy

    strategy = tmp_path / "ner.yaml"
    strategy.write_text(NER_STRATEGY.format(data=ner_conll).replace(
        "{preset: ernie-tiny-test,", f"{{source: {tiny_run[0] / 'export'},"), encoding="utf-8")
    wrong_task = r"outputs \(\[2, 2\] for 2 texts of 16 tokens\) are not those of a token_cls model"
    with pytest.raises(Exception, match=wrong_task):
        run_strategy(strategy, workdir=tmp_path / "work")


def test_an_exported_token_model_is_a_teacher_with_its_own_outputs(ner_run, ner_conll, tmp_path_factory):
    """The export folder of a token model (program + vocab, no config) as teacher, kept as it is: rebuilt with
    the program's [tokens, tags] outputs, it scores what the model it was exported from scored."""
    from .conftest import run_written_strategy

    workdir, report = ner_run
    strategy = NER_STRATEGY.format(data=ner_conll).replace(
        "teacher: {preset: ernie-tiny-test, epochs: 5, batch_size: 16, learning_rate: 5.0e-3}",
        f"teacher: {{source: {workdir / 'export'}, train: false}}") + "arm: {enabled: false}\n"
    _, imported = run_written_strategy(tmp_path_factory, "ner_from_program", strategy)
    assert imported.artifacts[0].accuracy == pytest.approx(report.artifacts[0].accuracy, abs=1e-9)
