"""Task token_cls at tiny scale: named entities from People's Daily sentences, through the chain.

The data is the first 600 sentences of the built-in corpus written as a CoNLL file (the format
a user brings); the model is the 2-layer 32-wide preset.
"""
from __future__ import annotations

import json

import pytest

from ppliteformer.errors import ConfigError, DataError

pytestmark = pytest.mark.tiny

NER_STRATEGY = """
name: tiny_ner
task: token_cls
data: {{source: {data}, max_seq_len: 48, seed: 7}}
teacher: {{preset: ernie-tiny-test, epochs: 5, batch_size: 16, learning_rate: 5.0e-3}}
bench: {{seq_len: 48, repeats: 5, warmup: 1}}
"""


@pytest.fixture(scope="module")
def ner_conll(tmp_path_factory):
    from ppliteformer.tasks.token_data import peoples_daily_path, read_peoples_daily

    path = tmp_path_factory.mktemp("ner") / "peoples_daily_600.conll"
    with open(path, "w", encoding="utf-8") as f:
        for sentence in read_peoples_daily(peoples_daily_path(), limit=600):
            f.write("".join(f"{c} {t}\n" for c, t in zip(sentence.chars, sentence.tags)) + "\n")
    return path


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, ner_conll):
    from ppliteformer.workflow import run_strategy

    strategy = tmp_path_factory.mktemp("ner_strategy") / "ner.yaml"
    strategy.write_text(NER_STRATEGY.format(data=ner_conll), encoding="utf-8")
    workdir = tmp_path_factory.mktemp("ner_work")
    return workdir, run_strategy(strategy, workdir=workdir)


def test_a_token_is_tagged_at_its_first_piece_and_truncation_is_scored_as_outside(tmp_path):
    import numpy as np

    from ppliteformer.modeling import load_tokenizer
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
    from ppliteformer.report import format_table

    workdir, report = ner_run
    teacher = report.artifacts[0]
    assert (report.task, report.metric) == ("token_cls", "span_f1")
    splits = json.loads((workdir / "data" / "splits.json").read_text(encoding="utf-8"))
    assert splits["task"] == "token_cls" and splits["labels"][0] == "O" and "B-PER" in splits["labels"]
    assert teacher.accuracy == teacher.task_metrics["span_f1"] > 0.05  # above the all-O prediction (F1 0)
    assert 0 < teacher.task_metrics["token_accuracy"] <= 1
    assert teacher.accuracy_x86_lite == pytest.approx(teacher.accuracy, abs=1e-9)
    assert teacher.max_abs_logit_diff_lite_vs_inference < 1e-4 and teacher.label_agreement_lite_vs_inference == 1.0
    baseline = report.baselines["window_sgd_logreg"]
    assert 0.3 < baseline["accuracy"] <= 1 and baseline["metric"] == "span_f1"
    assert "F1 (Paddle Inf.)" in format_table(report).splitlines()[0]
    meta = json.loads((workdir / "export" / "ppliteformer_meta.json").read_text(encoding="utf-8"))
    assert meta["task"] == "token_cls"
    from ppliteformer.arm.toolchain import optional_toolchain

    if optional_toolchain("", False, "") is None:
        pytest.skip("the ARM toolchain (../shared/lite-armv8, qemu-aarch64) is not here: the [tokens, tags] "
                    "outputs were not run on the ARM kernels")
    assert teacher.arm_whole_test_split and teacher.label_agreement_arm_vs_reference == 1.0
    assert teacher.max_abs_logit_diff_arm_vs_reference < 1e-4 and teacher.accuracy_arm == teacher.accuracy
    assert teacher.arm_instructions_per_inference > 0
    assert not (workdir / "bundle").exists()


def test_a_text_classification_file_given_to_token_cls_names_the_task_to_use(tmp_path, corpus_tsv):
    from ppliteformer.config import DataConfig
    from ppliteformer.tasks import get_task

    with pytest.raises(DataError, match="text<TAB>label rows: that is task seq_cls"):
        get_task("token_cls").load_splits(DataConfig(source=str(corpus_tsv)))
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text('{"text": "很好", "label": "positive"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="one label per text is task seq_cls"):
        get_task("token_cls").load_splits(DataConfig(source=str(jsonl)))


def test_a_token_file_given_to_seq_cls_names_the_task_to_use(ner_conll, tmp_path):
    from ppliteformer.data import load_file

    with pytest.raises(DataError, match="read by task token_cls"):
        load_file(ner_conll)
    jsonl = tmp_path / "tokens.jsonl"
    jsonl.write_text('{"tokens": ["江"], "labels": ["B-PER"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="read by task token_cls"):
        load_file(jsonl)


def test_an_all_outside_file_is_refused(tmp_path):
    from ppliteformer.config import DataConfig
    from ppliteformer.tasks import get_task

    path = tmp_path / "plain.conll"
    path.write_text("".join(f"{c} O\n{c}{c} O\n\n" for c in "一二三四五六七八九十"), encoding="utf-8")
    with pytest.raises(DataError, match="every token is tagged O"):
        get_task("token_cls").load_splits(DataConfig(source=str(path)))


def test_an_exported_program_as_a_token_teacher_is_refused_before_training(tmp_path, ner_conll, tiny_run):
    from ppliteformer.workflow import run_strategy

    strategy = tmp_path / "ner.yaml"
    strategy.write_text(NER_STRATEGY.format(data=ner_conll).replace(
        "{preset: ernie-tiny-test,", f"{{source: {tiny_run[0] / 'export'},"), encoding="utf-8")
    with pytest.raises(Exception, match="not a token_cls model"):
        run_strategy(strategy, workdir=tmp_path / "work")


def test_the_strategy_refuses_a_compression_step_for_token_cls(tmp_path, ner_conll):
    from ppliteformer.config import load_strategy

    strategy = tmp_path / "ner.yaml"
    strategy.write_text(NER_STRATEGY.format(data=ner_conll) + "chain: [qat]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'qat' does not serve task 'token_cls'"):
        load_strategy(strategy)
