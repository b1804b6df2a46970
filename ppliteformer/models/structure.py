"""Saving and loading classifiers whose shape a PaddleNLP config cannot describe.

Pruning leaves each layer with its own number of attention heads and FFN width, and
embedding int8 replaces the word-embedding table with a uint8 one. ``structure.json``
records those changes next to the weights; ``load_checkpoint`` rebuilds the model from
its config, applies them, then loads the weights.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelFileError
from .families import classes_for, encoder_layers, word_embeddings_owner
from ..layout import CONFIG_FILE, STRUCTURE_FILE, TASK_FILE, WEIGHTS_FILE


def layer_widths(model) -> dict:
    """Heads and FFN width of every encoder layer, as recorded in structure.json."""
    layers = encoder_layers(model)
    return {"heads": [layer.self_attn.num_heads for layer in layers],
            "ffn": [layer.linear1.weight.shape[1] for layer in layers]}


def apply_widths(model, heads: list, ffn: list) -> None:
    """Resize each layer's attention projections and FFN to ``heads`` / ``ffn`` (fresh weights).

    Paddle's MultiHeadAttention reshapes with ``num_heads`` and a fixed ``head_dim``, so
    keeping ``head_dim`` and shrinking q/k/v's outputs and out_proj's input is enough.
    """
    import paddle

    for layer, n_heads, width in zip(encoder_layers(model), heads, ffn):
        attn = layer.self_attn
        hidden, inner = attn.embed_dim, n_heads * attn.head_dim
        attn.q_proj, attn.k_proj, attn.v_proj = (paddle.nn.Linear(hidden, inner) for _ in range(3))
        attn.out_proj = paddle.nn.Linear(inner, hidden)
        attn.num_heads = n_heads
        layer.linear1 = paddle.nn.Linear(hidden, width)
        layer.linear2 = paddle.nn.Linear(width, hidden)


def use_int8_embedding(model, per_row_scale: bool = True) -> None:
    from .int8_embedding import Int8Embedding

    embeddings = word_embeddings_owner(model)
    embeddings.word_embeddings = Int8Embedding.from_float(embeddings.word_embeddings, per_row_scale)


def describe(model) -> dict:
    return {**layer_widths(model),
            "embedding_int8": type(word_embeddings_owner(model).word_embeddings).__name__ == "Int8Embedding"}


def save_checkpoint(model, tokenizer, task: dict, out_dir) -> None:
    """Weights, config, structure, tokenizer and task, everything ``load_checkpoint`` needs."""
    import paddle

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(out_dir))
    paddle.save(model.state_dict(), str(out_dir / WEIGHTS_FILE))
    (out_dir / STRUCTURE_FILE).write_text(json.dumps(describe(model)), encoding="utf-8")
    (out_dir / TASK_FILE).write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    tokenizer.save_pretrained(str(out_dir))


def read_task(model_dir) -> dict:
    return json.loads((Path(model_dir) / TASK_FILE).read_text(encoding="utf-8"))


def task_of(model_dir):
    """The Task (ppliteformer/tasks) a model folder was trained for: its task.json's, seq_cls without one."""
    from ..tasks import DEFAULT_TASK, get_task

    path = Path(model_dir) / TASK_FILE
    return get_task(read_task(model_dir).get("task", DEFAULT_TASK) if path.is_file() else DEFAULT_TASK)


def load_checkpoint(model_dir, dropout: bool = True, weights: bool = True):
    """The classifier saved in ``model_dir`` (by save_checkpoint or save_pretrained), eval mode.

    ``dropout=False`` builds it with every dropout probability at 0, for export: a dropout
    op left in the program adds work in Lite and breaks ACT distillation. ``weights=False``
    gives the same architecture freshly initialised (a control trained from scratch).
    """
    import paddle
    from paddlenlp.transformers import AutoConfig

    model_dir = Path(model_dir)
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise ModelFileError(f"{model_dir} holds no {WEIGHTS_FILE}: it is not a finished model folder. "
                             "Run the stage that makes it again.")
    config_class, classifier_class = classes_for(AutoConfig.from_pretrained(str(model_dir)).model_type)
    classifier_class = task_of(model_dir).model_class(classifier_class.__name__)
    config = config_class.from_pretrained(str(model_dir))
    if not dropout:
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = config.classifier_dropout = 0.0
    model = classifier_class(config)
    structure_file = model_dir / STRUCTURE_FILE
    if structure_file.is_file():
        structure = json.loads(structure_file.read_text(encoding="utf-8"))
        apply_widths(model, structure["heads"], structure["ffn"])
        if structure["embedding_int8"]:
            use_int8_embedding(model)
    if weights:
        model.set_state_dict(paddle.load(str(model_dir / WEIGHTS_FILE)))
    model.eval()
    return model
