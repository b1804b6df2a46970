"""pretrain: masked-LM pre-training of the preset teacher's encoder before fine-tuning."""
from __future__ import annotations

import numpy as np
import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ConfigError

from .conftest import TINY_STRATEGY


@pytest.mark.unit
def test_masking_follows_bert_and_spares_special_and_padding_tokens():
    from ppliteformer.models.pretraining import IGNORE, mask_tokens

    rng = np.random.RandomState(0)
    ids = rng.randint(5, 1000, size=(400, 50))
    ids[:, 0], ids[:, -10:] = 1, 0  # [CLS] first, padding last
    attention = (ids != 0).astype("float32")
    masked, labels = mask_tokens(ids, attention, rng, vocab_size=1000, mask_id=4, special_ids=[0, 1, 2, 3, 4], prob=0.15)
    chosen = labels != IGNORE
    assert not chosen[:, 0].any() and not chosen[:, -10:].any()
    assert abs(chosen.sum() / (400 * 39) - 0.15) < 0.01
    assert np.all(labels[chosen] == ids[chosen]) and np.all(masked[~chosen] == ids[~chosen])
    as_mask = (masked[chosen] == 4).mean()
    kept = (masked[chosen] == ids[chosen]).mean()
    assert abs(as_mask - 0.8) < 0.02 and abs(kept - 0.1) < 0.02
    replaced = chosen & (masked != 4) & (masked != ids)
    assert replaced.any() and np.all(masked[replaced] >= 5)  # a random regular token, never a special one


@pytest.mark.unit
def test_pretrain_section_is_checked(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("teacher: {source: some/folder}\npretrain: {epochs: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pre-trains the preset teacher's encoder"):
        load_strategy(path)
    path.write_text("pretrain: {mask: 0.2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="section 'pretrain': unknown key 'mask'"):
        load_strategy(path)
    path.write_text("name: s\n", encoding="utf-8")
    assert load_strategy(path).pretrain is None
    path.write_text("pretrain: {text_file: reviews.txt}\n", encoding="utf-8")
    assert load_strategy(path).pretrain.text_file == "reviews.txt"


@pytest.mark.tiny
def test_the_teacher_starts_from_the_pretrained_encoder(tmp_path, corpus_tsv):
    import json

    from ppliteformer.tasks.seq_data import load_file
    from ppliteformer.pipeline.workflow import run_strategy

    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("\n".join(e.text for e in load_file(corpus_tsv)) + "\n\n", encoding="utf-8")
    strategy = tmp_path / "pretrain.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "arm: {enabled: false}\n"
                        f"pretrain: {{epochs: 3, batch_size: 16, learning_rate: 5.0e-3, text_file: {unlabelled}}}\n",
                        encoding="utf-8")
    work = tmp_path / "work"
    report = run_strategy(strategy, workdir=work, until="teacher")
    stages = json.loads((work / "manifest.json").read_text())["stages"]
    pretrain = stages["pretrain"]["metrics"]
    assert pretrain["texts"] == 400  # the file's non-empty lines
    assert pretrain["dev_masked_accuracy_after"] > pretrain["dev_masked_accuracy_before"]
    assert (work / "teacher" / "vocab.txt").read_text() == (work / "pretrain" / "vocab.txt").read_text()
    assert [a.name for a in report.artifacts] == ["teacher"] and 0.3 < report.steps["teacher"].dev_accuracy_after <= 1
    strategy.write_text(strategy.read_text().replace("epochs: 3, batch_size: 16, learning", "epochs: 2, batch_size: 16, learning"))
    again = json.loads((work / "manifest.json").read_text())["stages"]["teacher"]["key"]
    run_strategy(strategy, workdir=work, until="teacher")
    assert json.loads((work / "manifest.json").read_text())["stages"]["teacher"]["key"] != again


@pytest.mark.tiny
def test_the_lm_head_at_masked_positions_gives_the_loss_over_every_position():
    """The head runs only where a token was masked; PaddleNLP's loss over every position (IGNORE elsewhere) is the reference."""
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForMaskedLM

    from ppliteformer.models.pretraining import IGNORE, _lm_logits, mask_tokens, masked_positions

    paddle.seed(0)
    model = ErnieForMaskedLM(ErnieConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=64))
    model.eval()
    rng = np.random.RandomState(0)
    ids = rng.randint(5, 300, size=(6, 20))
    ids[:, 0], ids[3:, 12:] = 1, 0
    attention = (ids != 0).astype("float32")
    masked, labels = mask_tokens(ids, attention, rng, vocab_size=300, mask_id=4, special_ids=[0, 1, 2, 3, 4], prob=0.3)
    reference = model(input_ids=paddle.to_tensor(masked), attention_mask=paddle.to_tensor(attention),
                      labels=paddle.to_tensor(labels), return_dict=True).loss
    positions, originals = masked_positions(labels)
    assert len(positions) == (labels != IGNORE).sum() > 0 and np.all(originals == ids.reshape(-1)[positions])
    loss = paddle.nn.functional.cross_entropy(_lm_logits(model, masked, attention, positions),
                                              paddle.to_tensor(originals))
    assert abs(float(loss) - float(reference)) < 1e-5
