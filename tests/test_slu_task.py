"""Task slu: an utterance's intent and slots from one two-headed model.

Readers and scoring on hand-made data (unit), then the whole chain on the first 600 utterances
of the built-in ATIS corpus given as JSONL, every artifact on the ARM kernels (tiny).
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ppliteformer.errors import DataError
from ppliteformer.tasks.slu_data import IntentSentence, read_atis, read_nlpcc, read_slu_jsonl


@pytest.mark.unit
def test_nlpcc_lines_become_character_tags_and_an_intent(tmp_path):
    path = tmp_path / "nlpcc.txt"
    path.write_text("_\t播放周杰伦的稻香\tmusic.play\t播放<singer>周杰伦</singer>的<song>稻香</song>\n"
                    "_\t关闭\tcontrol\t关闭\n", encoding="utf-8")
    first, second = read_nlpcc(path)
    assert first == IntentSentence(tuple("播放周杰伦的稻香"), ("O", "O", "B-singer", "I-singer", "I-singer", "O",
                                                           "B-song", "I-song"), "music.play")
    assert second.tags == ("O", "O") and second.intent == "control"


@pytest.mark.unit
@pytest.mark.parametrize("line, message", [
    ("_\t播放稻香\tmusic.play\t播放<song>稻香\n", r"line 1: a slot tag is not closed"),
    ("_\t播放稻香\tmusic.play\t播放<song>稻花</song>\n", r"line 1: the marked query .* is '播放稻花', not the query"),
    ("播放稻香\tmusic.play\n", r"line 1: expected 4 tab-separated fields .* found 2\. A text<TAB>label file is task "
                              r"seq_cls"),
    ("_\t播放\t\t播放\n", r"line 1: the intent \(third field\) is empty"),
])
def test_a_bad_nlpcc_line_is_named_with_what_is_wrong(tmp_path, line, message):
    path = tmp_path / "nlpcc.txt"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_nlpcc(path)


@pytest.mark.unit
def test_jsonl_takes_tokens_and_labels_or_text_and_character_spans(tmp_path):
    path = tmp_path / "slu.jsonl"
    rows = [{"tokens": ["fly", "to", "boston"], "labels": ["O", "O", "B-city"], "intent": "flight"},
            {"text": "去北京", "intent": "travel", "slots": [{"slot": "city", "start": 1, "end": 3}]}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    flight, travel = read_slu_jsonl(path)
    assert flight.tags == ("O", "O", "B-city") and travel == IntentSentence(("去", "北", "京"),
                                                                            ("O", "B-city", "I-city"), "travel")


@pytest.mark.unit
@pytest.mark.parametrize("row, message", [
    ({"text": "去北京", "intent": "t", "slots": [{"slot": "city", "start": 1, "end": 9}]}, "offsets 1-9 outside"),
    ({"text": "去北京", "intent": "t", "slots": [{"slot": "a", "start": 0, "end": 2},
                                              {"slot": "b", "start": 1, "end": 3}]}, "overlaps another slot"),
    ({"tokens": ["去"], "labels": ["O"]}, "non-empty string 'intent'; tokens and labels without an intent are task "
                                          "token_cls"),
    ({"text": "好", "label": "positive"}, r"intent.*A \{\"text\", \"label\"\} row is task seq_cls"),
])
def test_a_bad_jsonl_row_is_named_with_what_is_wrong(tmp_path, row, message):
    path = tmp_path / "slu.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"line 1: .*{message}"):
        read_slu_jsonl(path)


@pytest.mark.unit
def test_atis_lines_and_the_built_in_corpus(tmp_path):
    from ppliteformer.tasks.slu_data import atis_paths

    path = tmp_path / "atis"
    path.write_text("i:O fly:O to:O san:B-toloc.city_name jose:I-toloc.city_name <=> atis_flight\n", encoding="utf-8")
    (sentence,) = read_atis(path)
    assert sentence.chars[-2:] == ("san", "jose") and sentence.tags[-1] == "I-toloc.city_name"
    train_dev, test = (read_atis(p) for p in atis_paths())
    assert (len(train_dev), len(test)) == (4978, 893)  # ATIS's standard train+dev and test files


@pytest.mark.unit
def test_a_file_of_another_task_names_the_task_to_use(tmp_path):
    from ppliteformer.config.strategy import DataConfig
    from ppliteformer.tasks import get_task

    conll = tmp_path / "ner.conll"
    conll.write_text("江 B-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"task slu reads .* not '\.conll'\. A CoNLL file .* is task token_cls"):
        get_task("slu").load_splits(DataConfig(source=str(conll)))
    nlpcc_line = "_\t去北京\ttravel\t去<city>北京</city>\n"
    for task, suffix, message in (("seq_cls", ".tsv", "found 4. .* are read by task slu"),
                                  ("token_cls", ".txt", "has 4 fields .* are task slu")):
        path = tmp_path / f"nlpcc{suffix}"
        path.write_text(nlpcc_line, encoding="utf-8")
        with pytest.raises(DataError, match=f"line 1: .*{message}"):
            get_task(task).load_splits(DataConfig(source=str(path)))
    jsonl = tmp_path / "slu.jsonl"
    jsonl.write_text(json.dumps({"tokens": ["去"], "labels": ["O"], "intent": "t"}) + "\n", encoding="utf-8")
    for task in ("seq_cls", "token_cls"):
        with pytest.raises(DataError, match="line 1: .*task slu"):
            get_task(task).load_splits(DataConfig(source=str(jsonl)))


def _vocab(tmp_path):
    from ppliteformer.models.modeling import load_tokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", "fly", "to", "boston"]) + "\n",
                     encoding="utf-8")
    return load_tokenizer(str(vocab))


@pytest.mark.tiny
def test_both_heads_are_targeted_and_scored(tmp_path):
    from ppliteformer.tasks import get_task
    from ppliteformer.tasks.slu import SlotTags

    task = get_task("slu")
    labels = SlotTags(("O", "B-city"), intents=("flight", "hotel"))
    sentences = [IntentSentence(("fly", "to", "boston"), ("O", "O", "B-city"), "flight"),
                 IntentSentence(("boston",), ("B-city",), "hotel")]
    ids, targets = task.encode(_vocab(tmp_path), sentences, max_seq_len=8, labels=labels)
    assert ids[0] == [1, 5, 6, 7, 2] and targets[1].intent_id == 1
    assert task.batch_targets(targets).tolist() == [[0, 0, 0, 1, -100], [1, 1, -100, -100, -100]]  # intent at [CLS]
    right = [(np.array([5.0, 0.0]), np.eye(2)[[0, 0, 0, 1, 0]]), (np.array([0.0, 5.0]), np.eye(2)[[0, 1, 0]])]
    assert task.score(right, targets, labels) == {"sentence_accuracy": 1.0, "intent_accuracy": 1.0, "slot_f1": 1.0,
                                                  "slot_precision": 1.0, "slot_recall": 1.0}
    wrong_intent = [(np.array([0.0, 5.0]), right[0][1]), right[1]]
    scores = task.score(wrong_intent, targets, labels)
    assert (scores["sentence_accuracy"], scores["intent_accuracy"], scores["slot_f1"]) == (0.5, 0.5, 1.0)
    stacked = task.stack_outputs(right)  # [items, longest, tags + intents]: intent logits in row 0's extra columns
    assert stacked.shape == (2, 5, 4) and stacked[1, 0, 2:].tolist() == [0.0, 5.0] and not stacked[1, 3:].any()


@pytest.mark.tiny
def test_slu_runs_the_chain_with_both_outputs_on_every_runtime(slu_run):
    from ppliteformer.report.build import format_table

    workdir, report = slu_run
    arts = {a.name: a for a in report.artifacts}
    assert list(arts) == ["teacher", "distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    assert (report.task, report.metric) == ("slu", "sentence_accuracy")
    teacher = arts["teacher"]
    assert teacher.task_metrics["intent_accuracy"] > 0.7 and teacher.task_metrics["slot_f1"] > 0.3, teacher.task_metrics
    assert teacher.accuracy == teacher.task_metrics["sentence_accuracy"] > 0.05
    for name in ("teacher", "distill", "prune", "trim_vocab", "embedding_int8"):  # float: Lite x86 agrees
        art = arts[name]
        assert art.accuracy_x86_lite == pytest.approx(art.accuracy, abs=1e-9), name
        assert art.max_abs_logit_diff_lite_vs_inference < 1e-4 and art.label_agreement_lite_vs_inference == 1.0
    splits = json.loads((workdir / "data" / "splits.json").read_text(encoding="utf-8"))
    stacked = np.load(workdir / "teacher_logits" / "train_logits.npy")
    assert stacked.shape[2] == len(splits["labels"]) + len(splits["intents"])  # both heads' soft targets
    meta = json.loads((workdir / "export" / "ppliteformer_meta.json").read_text(encoding="utf-8"))
    assert meta["task"] == "slu" and meta["intents"] == splits["intents"] and meta["token_unit"] == "word"
    assert "sent (Paddle Inf.)" in format_table(report).splitlines()[0]
    assert report.baselines["tfidf_logreg_intent+window_sgd_slots"]["intent_accuracy"] > 0.7
    from ppliteformer.arm.toolchain import optional_toolchain

    if optional_toolchain("", False, "") is None:
        pytest.skip("the ARM toolchain (../shared/lite-armv8, qemu-aarch64) is not here: the two outputs were not "
                    "run on the ARM kernels")
    for art in arts.values():
        assert art.arm_instructions_per_inference > 0 and art.accuracy_arm is not None, art.name
    assert teacher.label_agreement_arm_vs_reference == 1.0 and teacher.max_abs_logit_diff_arm_vs_reference < 1e-4
    assert teacher.accuracy_arm == teacher.accuracy


@pytest.mark.tiny
def test_the_bundle_prints_the_intent_and_each_slot_with_offsets(slu_run):
    from ppliteformer.pipeline.bundle import make_bundle

    workdir, _ = slu_run
    (bundle,) = [b for b in make_bundle(workdir, "teacher", workdir / "bundle_teacher") if b.name.endswith("x86")]
    text = "show me flights from boston to denver"
    proc = subprocess.run([sys.executable, str(bundle / "predict.py"), "--model", str(bundle), "--text", text,
                           "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    meta = json.loads((bundle / "ppliteformer_meta.json").read_text(encoding="utf-8"))
    assert result["intent"] in meta["intents"] and 0 < result["probability"] <= 1
    for slot in result["slots"]:
        assert text[slot["start"]:slot["end"]] == slot["text"] and slot["type"] in {t[2:] for t in meta["labels"]}
    assert len(result["logits"]["intent"]) == len(meta["intents"]) and len(result["tags"]) == len(text.split())
    plain = subprocess.run([sys.executable, str(bundle / "predict.py"), "--model", str(bundle), "--text", text],
                           capture_output=True, text=True, timeout=120)
    intent, probability, slots, echoed = plain.stdout.rstrip("\n").split("\t")
    assert (intent, echoed) == (result["intent"], text) and float(probability) == pytest.approx(result["probability"],
                                                                                                abs=1e-4)
    check = subprocess.run([sys.executable, str(bundle / "predict.py"), "--model", str(bundle), "--selfcheck",
                            str(bundle / "selfcheck.json"), "--json"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and json.loads(check.stdout)["passed"], check.stdout + check.stderr
    samples = json.loads((bundle / "selfcheck.json").read_text(encoding="utf-8"))["samples"]
    assert samples[0]["label"].split(" ")[0] in meta["intents"] and set(samples[0]["logits"]) == {"intent", "slots"}


@pytest.mark.tiny
@pytest.mark.parametrize("name, config_class", [("bert-base-chinese", "BertConfig"),
                                                ("hfl/roberta-wwm-ext", "RobertaConfig")])
def test_a_bert_or_roberta_folder_gets_an_intent_head_and_runs_distill(name, config_class, tmp_path_factory,
                                                                       slu_jsonl):
    """A user's saved BERT / RoBERTa classifier as the teacher: fine-tuned with both heads (RoBERTa's token
    classifier has no pooler: its intent head reads the [CLS] state), distilled, both outputs on Lite x86."""
    from ppliteformer.tasks.slu_data import read_slu_jsonl

    from .conftest import run_written_strategy
    from .test_families import save_family_model

    folder = tmp_path_factory.mktemp("family") / "teacher"
    texts = [" ".join(s.chars) for s in read_slu_jsonl(slu_jsonl)]
    save_family_model(name, config_class, config_class.replace("Config", "ForSequenceClassification"), folder, texts)
    strategy = (f"name: family_slu\ntask: slu\ndata: {{source: {slu_jsonl}, max_seq_len: 48, seed: 7}}\n"
                f"teacher: {{source: {folder}, epochs: 3, batch_size: 16, learning_rate: 5.0e-3}}\n"
                "bench: {seq_len: 48, repeats: 3, warmup: 1}\narm: {enabled: false}\nchain: [distill]\n"
                "distill: {layers: 1, hidden_size: 32, heads: 2, ffn_size: 64, epochs: 1, batch_size: 16}\n")
    workdir, report = run_written_strategy(tmp_path_factory, "family_slu", strategy)
    teacher, distill = report.artifacts
    assert teacher.task_metrics["intent_accuracy"] > 0.5 and distill.task_metrics["intent_accuracy"] > 0.5
    for art in (teacher, distill):  # both outputs, Lite x86 against Paddle Inference
        assert art.accuracy_x86_lite == pytest.approx(art.accuracy, abs=1e-9)
        assert art.max_abs_logit_diff_lite_vs_inference < 1e-4 and art.label_agreement_lite_vs_inference == 1.0
    config = json.loads((workdir / "teacher" / "config.json").read_text(encoding="utf-8"))
    assert config["num_intents"] == len(json.loads((workdir / "data" / "splits.json").read_text())["intents"])


@pytest.mark.tiny
def test_an_exported_slu_model_is_a_teacher_with_both_outputs(slu_run, slu_jsonl, tmp_path_factory):
    """The export folder of an intent + slots model as teacher, kept as it is: rebuilt with both heads, it
    scores what the model it was exported from scored."""
    from .conftest import SLU_STRATEGY, run_written_strategy

    workdir, report = slu_run
    strategy = SLU_STRATEGY.format(data=slu_jsonl).replace(
        "teacher: {preset: ernie-tiny-test, epochs: 5, batch_size: 16, learning_rate: 5.0e-3}",
        f"teacher: {{source: {workdir / 'export'}, train: false}}") + "arm: {enabled: false}\n"
    _, imported = run_written_strategy(tmp_path_factory, "slu_from_program", strategy)
    assert imported.artifacts[0].task_metrics == pytest.approx(report.artifacts[0].task_metrics, abs=1e-9)
