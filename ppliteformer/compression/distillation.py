"""Knowledge distillation: the student learns the teacher's logits (and optionally its hidden states).

Logit distillation reads teacher logits computed once over the train split (the teacher
runs without dropout, so they are fixed; see stages/compress.py); hidden-state distillation needs the teacher's
per-token states for each batch and runs the teacher alongside.
"""
from __future__ import annotations

import numpy as np


def build_student(teacher, cfg):
    """A fresh classifier of the teacher's family (ERNIE, BERT, RoBERTa) and the shape in ``cfg`` (a
    DistillConfig), with the teacher's vocabulary, labels and other settings (task ids, type vocabulary)."""
    import copy

    from ..models.families import family_of

    family_of(teacher)  # a family the later steps can reshape, or a clear error before any training
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers, config.hidden_size = cfg.layers, cfg.hidden_size
    config.num_attention_heads, config.intermediate_size = cfg.heads, cfg.ffn_size
    config.hidden_act = teacher.config.hidden_act if cfg.activation == "teacher" else cfg.activation
    student = type(teacher)(config)
    if cfg.init_from_teacher:
        init_from_teacher(student, teacher)
    return student


def layer_map(student_layers: int, teacher_layers: int) -> list:
    """Teacher layer for each student layer, evenly spaced and ending at the last (4 -> 2: [1, 3])."""
    return [round((i + 1) * teacher_layers / student_layers) - 1 for i in range(student_layers)]


def init_from_teacher(student, teacher) -> None:
    """Copy the teacher's embeddings, pooler, head and evenly spaced encoder layers into the student."""
    from ..errors import ConfigError
    from ..models.families import layer_prefix

    s, t = student.config, teacher.config
    if (s.hidden_size, s.num_attention_heads, s.intermediate_size, s.hidden_act) != \
            (t.hidden_size, t.num_attention_heads, t.intermediate_size, t.hidden_act):
        raise ConfigError(
            f"distill.init_from_teacher needs the teacher's widths and activation (hidden_size {t.hidden_size}, "
            f"heads {t.num_attention_heads}, ffn_size {t.intermediate_size}, {t.hidden_act}); the student has "
            f"{s.hidden_size}, {s.num_attention_heads}, {s.intermediate_size}, {s.hidden_act}. Use those with "
            "fewer layers, or set init_from_teacher: false.")
    source = teacher.state_dict()
    mapping = layer_map(s.num_hidden_layers, t.num_hidden_layers)
    prefix = layer_prefix(student)
    state = {}
    for name in student.state_dict():
        if name.startswith(prefix):
            index, rest = name[len(prefix):].split(".", 1)
            state[name] = source[f"{prefix}{mapping[int(index)]}.{rest}"]
        else:
            state[name] = source[name]
    student.set_state_dict(state)


def _masked_mse(student_states, teacher_states, mask):
    import paddle

    per_token = ((student_states - teacher_states) ** 2).mean(axis=-1)
    return (per_token * mask).sum() / paddle.clip(mask.sum(), min=1.0)


class DistillationLoss:
    """``loss_fn`` for ``train_classifier``: alpha * CE + (1 - alpha) * T^2 * KL (+ hidden-state MSE).

    ``projections`` (trainable, returned by ``parameters()``) map student hidden states to
    the teacher's width when hidden-state distillation is on.
    """

    def __init__(self, cached_teacher_logits: np.ndarray, alpha: float, temperature: float, task,
                 teacher=None, hidden_loss_weight: float = 0.0, student=None):
        """``cached_teacher_logits``: the task's ``stack_outputs`` of the train split ([items, classes], or
        [items, pieces, ...] zero-padded and cut to each batch's length); ``task`` gives the hard and the soft loss."""
        import paddle

        self.cached, self.task = cached_teacher_logits, task
        self.alpha, self.temperature = alpha, temperature
        self.hidden_loss_weight = hidden_loss_weight
        self.teacher = teacher
        self.projections = []
        if hidden_loss_weight > 0:
            teacher.eval()
            self.map = layer_map(student.config.num_hidden_layers, teacher.config.num_hidden_layers)
            self.projections = [paddle.nn.Linear(student.config.hidden_size, teacher.config.hidden_size)
                                for _ in self.map]

    def parameters(self) -> list:
        return [p for proj in self.projections for p in proj.parameters()]

    def __call__(self, model, inputs, labels, rows):
        import paddle
        import paddle.nn.functional as F

        hidden = self.hidden_loss_weight > 0
        out = model(**inputs, output_hidden_states=hidden, return_dict=hidden)
        logits = out.logits if hidden else out
        cached = self.cached[rows]
        if cached.ndim == 3:  # per piece: the batch is padded to its own longest item
            cached = cached[:, :inputs["input_ids"].shape[1]]
        soft = self.task.soft_loss(logits, paddle.to_tensor(cached), labels, self.temperature)
        loss = self.alpha * self.task.loss(logits, labels) + (1 - self.alpha) * soft
        if hidden:
            with paddle.no_grad():
                teacher_states = self.teacher(**inputs, output_hidden_states=True, return_dict=True).hidden_states
            mask = inputs["attention_mask"]
            for proj, student_layer, teacher_layer in zip(self.projections, range(len(self.map)), self.map):
                # hidden_states[0] is the embedding output; layer k's output is at k + 1
                loss += self.hidden_loss_weight * _masked_mse(
                    proj(out.hidden_states[student_layer + 1]), teacher_states[teacher_layer + 1], mask)
        return loss
