"""Teacher construction: config presets, vocabulary building, tokenizer, pretrained loading.

Offline, the teacher is an ERNIE built from a preset with a vocabulary made from the
train split. With internet (or a local directory), `source` names a PaddleNLP pretrained
model or a saved model folder and both model and tokenizer come from there.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import ConfigError, ModelFileError

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")

# Mobile-class ERNIE shapes. 4L-256H is the default teacher; the others are for students
# and tiny tests.
PRESETS = {
    "ernie-4l-256h": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "ernie-4l-384h": dict(num_hidden_layers=4, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
    "ernie-6l-768h": dict(num_hidden_layers=6, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "ernie-4l-256h-ffn512": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=512),
    "ernie-tiny-test": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64),
}
PRESET_SOURCE = "preset"


def build_vocab(texts, min_freq: int = 1, do_lower_case: bool = True) -> list:
    """A WordPiece vocabulary from raw texts.

    Every character seen (and its ``##`` continuation form) is kept, so any word made of
    known characters tokenizes without [UNK]; whole words seen at least ``min_freq`` times
    (at least twice) are added so frequent Latin words stay one token.
    """
    from paddlenlp.transformers.bert.tokenizer import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=do_lower_case)
    words = Counter(word for text in texts for word in basic.tokenize(text))
    chars = Counter()
    continuations = set()
    for word, n in words.items():
        chars[word[0]] += n
        continuations.update(word[1:])
    vocab = list(SPECIAL_TOKENS)
    vocab += sorted(c for c, n in chars.items() if n >= min_freq and c not in SPECIAL_TOKENS)
    vocab += sorted("##" + c for c in continuations)
    known = set(vocab)
    vocab += sorted(w for w, n in words.items() if len(w) > 1 and n >= max(2, min_freq) and w not in known)
    return vocab


def write_vocab(vocab: list, path) -> None:
    Path(path).write_text("\n".join(vocab) + "\n", encoding="utf-8")


def load_tokenizer(source: str):
    """The training tokenizer: an ERNIE WordPiece tokenizer from a vocab file or model folder."""
    from paddlenlp.transformers import AutoTokenizer, ErnieTokenizer

    path = Path(source)
    if path.is_file():
        return ErnieTokenizer(vocab_file=str(path), do_lower_case=True)
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as exc:  # paddlenlp raises many kinds for a bad name or folder
        raise ModelFileError(f"Could not load a tokenizer from '{source}': {exc}. Give a PaddleNLP "
                             "model name (needs internet) or a folder saved by save_pretrained.") from None


def preset_config(preset: str, vocab_size: int, num_classes: int, max_seq_len: int, **head):
    """``head``: what the task's head needs beyond ``num_classes`` (Task.head_config)."""
    from paddlenlp.transformers import ErnieConfig

    if preset not in PRESETS:
        raise ConfigError(f"Unknown model preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    return ErnieConfig(vocab_size=vocab_size, max_position_embeddings=max_seq_len, type_vocab_size=2,
                       num_labels=num_classes, **PRESETS[preset], **head)


def build_model(config, model_class=None):
    """An ERNIE of ``config`` with a fresh head: ``model_class`` (default ErnieForSequenceClassification)."""
    from paddlenlp.transformers import ErnieForSequenceClassification

    return (model_class or ErnieForSequenceClassification)(config)


def load_pretrained(source: str, num_classes: int | None = None, auto_class=None, head_config: dict | None = None):
    """A PaddleNLP pretrained name or a local folder, through ``auto_class`` (default: the Auto class of the
    task the folder's task.json names, AutoModelForSequenceClassification without one).

    With ``num_classes`` the classifier head is sized to it (a fresh head when the saved
    one has another size), and ``head_config`` (the task's ``Task.head_config``: slu's intent
    count) sizes the task's other heads; without, the saved heads are kept as they are.
    """
    from .structure import task_of

    head = {} if num_classes is None else {"num_classes": num_classes, "ignore_mismatched_sizes": True,
                                           **(head_config or {})}
    try:
        return (auto_class or task_of(source).auto_class()).from_pretrained(source, **head)
    except Exception as exc:
        raise ModelFileError(f"Could not load a model from '{source}': {exc}. Give a PaddleNLP model "
                             "name (needs internet) or a folder with model_config.json and "
                             "model_state.pdparams (save_pretrained's output).") from None


def count_parameters(model) -> int:
    return sum(int(p.numel()) for p in model.parameters())


def without_dropout(model):
    """A copy of the model with every dropout probability set to 0, for export.

    A dropout op left in the program breaks ACT distillation and adds work in Lite.
    """
    import copy

    config = copy.deepcopy(model.config)
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    config.classifier_dropout = 0.0
    clean = type(model)(config)
    clean.set_state_dict(model.state_dict())
    clean.eval()
    return clean
