"""The standalone predictor's tokenizer (`tokenizers`) must equal the training tokenizer
(PaddleNLP's ErnieTokenizer) on every test text of the built-in split."""
import pytest

from ppliteformer.data import load_splits
from ppliteformer.modeling import build_vocab, load_tokenizer, write_vocab
from ppliteformer.device.predictor import load_tokenizer as load_standalone_tokenizer
from ppliteformer.training import encode_texts

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
