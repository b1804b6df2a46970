"""Fine-tuning loop for a sequence classifier in Paddle dygraph (CPU).

Batches are grouped by length (texts are short: median ~50 characters), which makes an
epoch several times faster than padding everything to max_seq_len.
"""
from __future__ import annotations

import numpy as np

from .runtimes import DygraphModel, logits_over
from .standalone_predictor import batch_arrays


def encode_texts(tokenizer, texts, max_seq_len: int) -> list:
    return [tokenizer(t, max_length=max_seq_len, truncation=True)["input_ids"] for t in texts]


def length_bucketed_batches(lengths, batch_size: int, rng: np.random.RandomState) -> list:
    """Shuffled batches whose members have similar lengths."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def dev_accuracy(model, dev_ids, dev_labels, pad_id: int) -> float:
    predictions = logits_over(DygraphModel(model), dev_ids, pad_id, batch_size=64).argmax(-1)
    return float((predictions == np.asarray(dev_labels)).mean())


def train_classifier(model, train_ids, train_labels, dev_ids, dev_labels, *, epochs: int,
                     batch_size: int, learning_rate: float, warmup_ratio: float, weight_decay: float,
                     seed: int, pad_id: int, evals_per_epoch: int = 1, on_best=None, progress=True) -> dict:
    """AdamW with linear warmup/decay and gradient clipping.

    Dev accuracy is measured ``evals_per_epoch`` times per epoch; ``on_best(model, dev_acc)``
    is called on each new best, so the best checkpoint is kept even if training later
    gets worse (post-LayerNorm ERNIE trained from scratch can).
    """
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup
    from tqdm import tqdm

    paddle.seed(seed)
    rng = np.random.RandomState(seed)
    lengths = [len(ids) for ids in train_ids]
    steps_per_epoch = len(length_bucketed_batches(lengths, batch_size, np.random.RandomState(0)))
    eval_steps = {round(steps_per_epoch * k / evals_per_epoch) for k in range(1, evals_per_epoch + 1)}
    scheduler = LinearDecayWithWarmup(learning_rate, steps_per_epoch * epochs, warmup_ratio)
    decay_params = {p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))}
    optimizer = paddle.optimizer.AdamW(learning_rate=scheduler, parameters=model.parameters(),
                                       weight_decay=weight_decay, grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0),
                                       apply_decay_param_fun=lambda name: name in decay_params)
    labels_np = np.asarray(train_labels, dtype="int64")
    history, best = [], -1.0
    for epoch in range(1, epochs + 1):
        batches = length_bucketed_batches(lengths, batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=not progress, unit="batch", mininterval=2)
        total_loss = 0.0
        for step, rows in enumerate(bar, start=1):
            model.train()
            arrays = batch_arrays([train_ids[i] for i in rows], pad_id)
            logits = model(**{k: paddle.to_tensor(v) for k, v in arrays.items()})
            loss = paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(labels_np[rows]))
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.clear_grad()
            total_loss += float(loss)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total_loss / step:.4f}")
            if step not in eval_steps:
                continue
            acc = dev_accuracy(model, dev_ids, dev_labels, pad_id)
            point = round(epoch - 1 + step / len(batches), 2)
            history.append({"epoch": point, "train_loss": round(total_loss / step, 4), "dev_accuracy": acc})
            improved = acc > best
            bar.write(f"epoch {point}: train loss {total_loss / step:.4f}, dev accuracy {acc:.4f}"
                      + ("  (best so far, kept)" if improved else ""))
            if improved:
                best = acc
                if on_best:
                    on_best(model, acc)
    return {"history": history, "best_dev_accuracy": best}
