"""PaddleNLP families through the whole chain, at tiny scale.

Each teacher is a local folder saved with the config PaddleNLP ships for that model name
(read offline from ``pretrained_init_configuration``: task ids, type vocabulary, 40k or 21k
vocabulary, the family's classifier class), shrunk to 2 layers of width 32 so the chain runs
in seconds, with random weights and a WordPiece vocabulary built from the data. Then:
teacher fine-tuning, distill, prune, trim_vocab, embedding_int8, qat (and, from the same teacher,
ptq), conversion for arm and x86, evaluation and the bundle. The ARM-kernel stages are left out
here to keep the tier fast; tests/test_arm.py runs them on the ERNIE chain.
"""
from __future__ import annotations

import shutil

import pytest

from .conftest import TINY_STRATEGY


FAMILIES = [  # (PaddleNLP name, config class, classifier class)
    ("ernie-3.0-nano-zh", "ErnieConfig", "ErnieForSequenceClassification"),
    ("ernie-3.0-tiny-nano-v2-zh", "ErnieConfig", "ErnieForSequenceClassification"),
    ("ernie-3.0-tiny-pico-v2-zh", "ErnieConfig", "ErnieForSequenceClassification"),
    ("bert-base-chinese", "BertConfig", "BertForSequenceClassification"),
    ("hfl/roberta-wwm-ext", "RobertaConfig", "RobertaForSequenceClassification"),
]
SHRUNK = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
CHAIN = """
chain: [distill, prune, trim_vocab, embedding_int8, qat]
distill: {layers: 1, hidden_size: 32, heads: 2, ffn_size: 64, epochs: 2, batch_size: 16, learning_rate: 5.0e-3}
prune: {epochs: 1, importance_batches: 2}
qat: {epochs: 1}
arm: {enabled: false}
"""


def save_family_model(name: str, config_class: str, model_class: str, folder, texts, shape=None) -> dict:
    """A classifier with PaddleNLP's shipped config for ``name`` (shrunk to ``shape``, default SHRUNK),
    random weights drawn from seed 0 (unseeded draws left the slow tests' teachers at chance one run in
    three; with seed 0 every family learns), saved with a WordPiece tokenizer over ``texts``; returns the
    shipped settings kept."""
    import paddle
    import paddlenlp.transformers as transformers

    from ppliteformer.models.modeling import build_vocab, write_vocab

    paddle.seed(0)

    config_type = getattr(transformers, config_class)
    shipped = dict(config_type.pretrained_init_configuration[name])
    config = config_type(**{**shipped, **(shape or SHRUNK), "num_labels": 3})
    model = getattr(transformers, model_class)(config)
    folder.mkdir(parents=True)
    model.save_pretrained(str(folder))
    vocab = folder / "source_vocab.txt"
    write_vocab(build_vocab(texts), vocab)
    tokenizer_class = transformers.RobertaChineseTokenizer if "roberta" in name else \
        transformers.BertTokenizer if "bert" in name else transformers.ErnieTokenizer
    tokenizer_class(vocab_file=str(vocab)).save_pretrained(str(folder))
    return {k: shipped.get(k) for k in ("vocab_size", "type_vocab_size", "use_task_id")}


@pytest.mark.tiny
@pytest.mark.parametrize("name, config_class, model_class", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_the_whole_chain_runs_on_each_family(name, config_class, model_class, tmp_path, corpus_tsv):
    from ppliteformer.tasks.seq_data import load_file
    from ppliteformer.layout import NB_FILE
    from ppliteformer.models.structure import load_checkpoint
    from ppliteformer.pipeline.workflow import run_strategy

    folder = tmp_path / name.replace("/", "_")
    shipped = save_family_model(name, config_class, model_class, folder, [e.text for e in load_file(corpus_tsv)])
    strategy = tmp_path / "family.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv).replace(
        "{preset: ernie-tiny-test,", f"{{source: {folder},") + CHAIN, encoding="utf-8")
    workdir = tmp_path / "work"
    report = run_strategy(strategy, workdir=workdir)
    assert [a.name for a in report.artifacts] == ["teacher", "distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    for artifact in report.artifacts:
        assert artifact.accuracy is not None and artifact.nb_bytes_arm > 0, artifact.name
    for name_ in ("distill", "prune", "trim_vocab", "embedding_int8"):  # float: Lite x86 agrees
        assert report.artifact(name_).max_abs_logit_diff_lite_vs_inference < 1e-4, name_
    student = load_checkpoint(workdir / "embedding_int8")
    assert type(student).__name__ == model_class  # the student keeps the teacher's family ...
    assert student.config.type_vocab_size == shipped["type_vocab_size"]  # ... and its shipped settings
    assert bool(getattr(student.config, "use_task_id", False)) == bool(shipped["use_task_id"])
    assert report.steps["prune"].details["after"]["heads"] == [1]
    assert (workdir / "bundle" / f"{report.final}-arm" / NB_FILE).is_file()
    ptq_workdir = tmp_path / "ptq"
    shutil.copytree(workdir, ptq_workdir)  # the same teacher, then ptq instead of the chain
    strategy.write_text(strategy.read_text(encoding="utf-8").split("\nchain:")[0] +
                        "\nchain: [ptq]\nptq: {calibration_size: 32}\narm: {enabled: false}\n", encoding="utf-8")
    ptq = run_strategy(strategy, workdir=ptq_workdir).artifact("ptq")
    assert ptq.int8 and ptq.accuracy is not None and ptq.nb_bytes_arm > 0


@pytest.mark.tiny
def test_a_family_the_steps_cannot_reshape_is_refused_before_training():
    from ppliteformer.errors import ConfigError
    from ppliteformer.models.families import family_of

    class GPTLike:  # no base model prefix the steps know
        base_model_prefix = "gpt"

    with pytest.raises(ConfigError, match="not a family the compression steps can reshape"):
        family_of(GPTLike())


SLOW_STRATEGY = """
name: family
data: {{source: {data}, max_seq_len: 64, seed: 3}}
teacher: {{source: {teacher}, epochs: 4, batch_size: 16, learning_rate: 2.0e-3}}
bench: {{seq_len: 64, repeats: 5, warmup: 1}}
chain: [distill, prune, trim_vocab, embedding_int8, qat]
distill: {{layers: 1, hidden_size: 64, heads: 2, ffn_size: 128, epochs: 3, batch_size: 16, learning_rate: 3.0e-3}}
prune: {{epochs: 1, importance_batches: 4}}
qat: {{epochs: 1}}
arm: {{time_budget_s: 5, min_texts: 16, final_texts: 0, count_runs: 3, int8_min_label_agreement: 0.97}}
"""
# On 98 test texts one label flip is 1.02 points: a near-tie text can flip between Lite's ARM int8 kernels and
# the simulated program (their rounding differs, ../shared/lite-armv8/README.md), as one did in a CI run of
# session 9 (98.98%, largest logit difference 2.2e-02), so these runs allow two flips instead of none.
INT8_MIN_LABEL_AGREEMENT = 0.97


@pytest.mark.slow
@pytest.mark.parametrize("name, config_class, model_class", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_each_family_through_the_whole_chain_on_a_small_dataset(name, config_class, model_class, tmp_path):
    """A 4-layer, 64-wide model of each family with PaddleNLP's shipped settings, 1,000 reviews, the whole
    chain through the console script, every arm .nb on the ARM kernels (where the toolchain is): the
    teacher must learn, and the final int8 model must stay well above chance and, on the ARM kernels,
    agree with its simulation."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from ppliteformer.arm.toolchain import missing_parts
    from ppliteformer.tasks.seq_data import load_file

    from .conftest import write_corpus_sample

    corpus = write_corpus_sample(tmp_path / "reviews.tsv", per_label=500)
    folder = tmp_path / "teacher_source"
    save_family_model(name, config_class, model_class, folder, [e.text for e in load_file(corpus)],
                      shape={"num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 4,
                             "intermediate_size": 128})
    strategy = tmp_path / "family.yaml"
    strategy.write_text(SLOW_STRATEGY.format(data=corpus, teacher=folder), encoding="utf-8")
    script = Path(sys.executable).parent / "ppliteformer"
    proc = subprocess.run([str(script), "run", str(strategy), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "work" / "report.json").read_text())
    arts = {a["name"]: a for a in report["artifacts"]}
    assert list(arts) == ["teacher", "distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    assert arts["teacher"]["accuracy"] >= 0.7  # 2 balanced classes: chance is 0.5
    final = arts[report["final"]]
    # a 1-layer student from 800 train texts: measured +2 to -9 points from the 4-layer teacher on 98 test texts
    assert final["accuracy"] >= max(0.7, arts["teacher"]["accuracy"] - 0.15)
    missing = missing_parts()
    assert (final.get("accuracy_arm") is not None) == (not missing), "ARM results present iff the toolchain is"
    if missing:  # everything else passed; say what was not checked instead of passing in silence
        pytest.skip(f"the ARM kernel checks of this family did not run: {'; '.join(missing)}")
    assert final["arm_whole_test_split"] and final["label_agreement_arm_vs_reference"] >= INT8_MIN_LABEL_AGREEMENT
    assert all(a["arm_instructions_per_inference"] > 0 for a in arts.values())
