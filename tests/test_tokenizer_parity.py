"""The standalone predictor's tokenizer (`tokenizers`) must equal the training tokenizer
(PaddleNLP's ErnieTokenizer) on every test text of the built-in split."""
import pytest

from ppliteformer.tasks.seq_data import load_splits
from ppliteformer.models.modeling import build_vocab, load_tokenizer, write_vocab
from ppliteformer.device.predictor import load_tokenizer as load_standalone_tokenizer
from ppliteformer.models.training import encode_texts

pytestmark = pytest.mark.tiny


def test_standalone_tokenizer_equals_training_tokenizer_on_every_test_text(tmp_path):
    splits = load_splits("builtin")
    vocab_file = tmp_path / "vocab.txt"
    write_vocab(build_vocab([e.text for e in splits.train]), vocab_file)
    texts = [e.text for e in splits.test]
    # plus texts that stress normalisation: accents, full-width, emoji, control chars, mixed scripts
    texts += ["Café ÉLAN naïve", "ＡＢＣ１２３，好！", "太棒了😀👍", "tab\there\u200bzero-width", "iPhone手机很好用"]
    training = encode_texts(load_tokenizer(str(vocab_file)), texts, 128)
    standalone = load_standalone_tokenizer(vocab_file, lowercase=True, max_seq_len=128)
    deployed = [enc.ids for enc in standalone.encode_batch(texts)]
    mismatches = [t for t, a, b in zip(texts, training, deployed) if a != b]
    assert not mismatches, f"{len(mismatches)} texts tokenize differently, e.g. {mismatches[:3]}"
    assert len(splits.test) > 1700


def test_sentence_pairs_encode_alike_for_training_and_the_device_truncation_included(tmp_path):
    """[CLS] a [SEP] b [SEP], type ids 0 then 1, truncated longest first, by PaddleNLP and by predict.py."""
    from ppliteformer.tasks.seq_data import builtin_pair_splits
    from ppliteformer.device.lite_runtime import SegmentedIds
    from ppliteformer.device.predictor import TextClassifier
    from ppliteformer.tasks.seq_data import encode_examples

    splits = builtin_pair_splits((0.8, 0.1, 0.1), seed=3)
    vocab_file = tmp_path / "vocab.txt"
    write_vocab(build_vocab([e.text for e in splits.train[:2000]]), vocab_file)
    (tmp_path / "ppliteformer_meta.json").write_text(
        '{"labels": ["different", "same"], "max_seq_len": 40, "do_lower_case": true, "text_pair": true}')
    (tmp_path / "model.nb").write_bytes(b"")
    device = TextClassifier(tmp_path, load_model=False)
    pairs = splits.test[:300]
    training = encode_examples(load_tokenizer(str(vocab_file)), pairs, 40)
    deployed = [device.encode(e.text, e.text_b, warn=False) for e in pairs]
    assert all(isinstance(ids, SegmentedIds) for ids in training + deployed)
    mismatches = [e for e, a, b in zip(pairs, training, deployed) if a != b or a.type_ids != b.type_ids]
    assert not mismatches, f"{len(mismatches)} of {len(pairs)} pairs encode differently, e.g. {mismatches[:2]}"
    assert sum(len(ids) == 40 for ids in training) > 100  # truncation was exercised
    sep = [ids.type_ids.index(1) for ids in training]
    assert all(ids[s - 1] == ids[-1] for ids, s in zip(training, sep))  # a [SEP] closes each segment
