"""DynaBERT-style width pruning: drop the least important attention heads and FFN neurons.

Importance is the first-order Taylor estimate of the loss change when a unit is removed,
summed |weight x gradient| over the unit's weights, on a few batches of the distillation
loss. The kept units keep their trained weights; the pruned model is then fine-tuned
against the teacher by the caller.
"""
from __future__ import annotations

import numpy as np

from ..models.families import encoder_layers, layer_prefix
from ..device.lite_runtime import batch_arrays
from ..models.structure import apply_widths


def _taylor(param) -> np.ndarray:
    return np.abs(param.numpy() * param.grad.numpy())


def unit_importance(model, loss_fn, train_ids, batch_targets, pad_id: int, batches: int,
                    batch_size: int, seed: int) -> list:
    """Per layer: (head scores [heads], neuron scores [ffn]) from accumulated gradients;
    ``batch_targets(rows)``: the loss's targets of those train rows."""
    import paddle

    rng = np.random.RandomState(seed)
    model.train()
    model.clear_gradients()
    for _ in range(batches):
        rows = rng.choice(len(train_ids), size=min(batch_size, len(train_ids)), replace=False)
        arrays = batch_arrays([train_ids[i] for i in rows], pad_id)
        loss = loss_fn(model, {k: paddle.to_tensor(v) for k, v in arrays.items()}, paddle.to_tensor(batch_targets(rows)),
                       rows)
        loss.backward()
    scores = []
    for layer in encoder_layers(model):
        attn = layer.self_attn
        d = attn.head_dim
        per_out = sum(_taylor(p.weight).sum(0) + _taylor(p.bias) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
        per_out += _taylor(attn.out_proj.weight).sum(1)
        heads = per_out.reshape(attn.num_heads, d).sum(1)
        neurons = _taylor(layer.linear1.weight).sum(0) + _taylor(layer.linear1.bias) + _taylor(layer.linear2.weight).sum(1)
        scores.append((heads, neurons))
    model.clear_gradients()
    model.eval()
    return scores


def _top(scores: np.ndarray, keep: int) -> np.ndarray:
    return np.sort(np.argsort(-scores, kind="stable")[:keep])  # kept units stay in their order


def prune_widths(model, scores: list, head_keep_ratio: float, ffn_keep_ratio: float) -> dict:
    """Slice every layer down to its most important heads and neurons; returns what was kept."""
    import paddle

    state = {k: v.numpy() for k, v in model.state_dict().items()}
    kept = {"heads": [], "ffn": []}
    for i, (layer, (head_scores, neuron_scores)) in enumerate(zip(encoder_layers(model), scores)):
        d = layer.self_attn.head_dim
        heads = _top(head_scores, max(1, round(len(head_scores) * head_keep_ratio)))
        neurons = _top(neuron_scores, max(1, round(len(neuron_scores) * ffn_keep_ratio)))
        cols = (heads[:, None] * d + np.arange(d)).reshape(-1)
        p = f"{layer_prefix(model)}{i}."
        for proj in ("q_proj", "k_proj", "v_proj"):
            state[f"{p}self_attn.{proj}.weight"] = state[f"{p}self_attn.{proj}.weight"][:, cols]
            state[f"{p}self_attn.{proj}.bias"] = state[f"{p}self_attn.{proj}.bias"][cols]
        state[f"{p}self_attn.out_proj.weight"] = state[f"{p}self_attn.out_proj.weight"][cols, :]
        state[f"{p}linear1.weight"] = state[f"{p}linear1.weight"][:, neurons]
        state[f"{p}linear1.bias"] = state[f"{p}linear1.bias"][neurons]
        state[f"{p}linear2.weight"] = state[f"{p}linear2.weight"][neurons, :]
        kept["heads"].append(len(heads))
        kept["ffn"].append(len(neurons))
    apply_widths(model, kept["heads"], kept["ffn"])
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    return kept
