"""The PaddleNLP classifier families the compression steps can reshape, and how to reach their parts.

ERNIE (1.0, 3.0 and 3.0 Tiny, with or without task ids), BERT and RoBERTa in PaddleNLP 2.8
share one layout under their base model (``model.ernie``, ``model.bert``, ``model.roberta``):
``embeddings.word_embeddings`` and an ``encoder.layers`` of ``paddle.nn.TransformerEncoderLayer``
(``self_attn.{q,k,v,out}_proj``, ``linear1``, ``linear2``). Distillation, pruning, vocabulary
trimming and the int8 embedding work on that layout, so they work on each of these families;
a model of another family is refused before any training, with the reason.
"""
from __future__ import annotations

from ..errors import ConfigError

# model_type in a saved config -> (config class, classifier class) in paddlenlp.transformers
FAMILIES = {
    "ernie": ("ErnieConfig", "ErnieForSequenceClassification"),
    "bert": ("BertConfig", "BertForSequenceClassification"),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification"),
}


def family_of(model) -> str:
    """The family of a PaddleNLP classifier (its ``base_model_prefix``)."""
    prefix = getattr(model, "base_model_prefix", None)
    if prefix not in FAMILIES:
        raise ConfigError(f"{type(model).__name__} is not a family the compression steps can reshape (they "
                          f"support PaddleNLP's {', '.join(sorted(FAMILIES))} classifiers). Use a chain without "
                          "distill/prune/trim_vocab/embedding_int8 (ptq works on any exported program), or start "
                          "from a model of one of those families.")
    return prefix


def base_model(model):
    """``model.ernie`` / ``model.bert`` / ``model.roberta``."""
    return getattr(model, family_of(model))


def encoder_layers(model):
    return base_model(model).encoder.layers


def word_embeddings_owner(model):
    """The embeddings layer whose ``word_embeddings`` the vocabulary steps replace."""
    return base_model(model).embeddings


def layer_prefix(model) -> str:
    """The state-dict prefix of the encoder layers, e.g. ``bert.encoder.layers.``."""
    return f"{family_of(model)}.encoder.layers."


def classes_for(model_type: str) -> tuple:
    """(config class, classifier class) for a saved config's ``model_type``."""
    import paddlenlp.transformers as transformers

    if model_type not in FAMILIES:
        raise ConfigError(f"A checkpoint of model type '{model_type}' cannot be rebuilt here; the compression "
                          f"steps support {', '.join(sorted(FAMILIES))}.")
    return tuple(getattr(transformers, name) for name in FAMILIES[model_type])
