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


def train_classifier(model, train_ids, train_labels, dev_ids, dev_labels, *, epochs: int,
                     batch_size: int, learning_rate: float, warmup_ratio: float, weight_decay: float,
                     seed: int, pad_id: int, on_best=None, progress=True) -> dict:
    """Train with AdamW and linear warmup/decay; call ``on_best(model, dev_acc)`` on each new best."""
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup
    from tqdm import tqdm

    paddle.seed(seed)
    rng = np.random.RandomState(seed)
    lengths = [len(ids) for ids in train_ids]
    steps_per_epoch = len(length_bucketed_batches(lengths, batch_size, np.random.RandomState(0)))
    scheduler = LinearDecayWithWarmup(learning_rate, steps_per_epoch * epochs, warmup_ratio)
    decay_params = [p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))]
    optimizer = paddle.optimizer.AdamW(learning_rate=scheduler, parameters=model.parameters(),
                                       weight_decay=weight_decay,
                                       apply_decay_param_fun=lambda name: name in decay_params)
    labels_np = np.asarray(train_labels, dtype="int64")
    history, best = [], -1.0
    for epoch in range(1, epochs + 1):
        model.train()
        batches = length_bucketed_batches(lengths, batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=not progress, unit="batch")
        total_loss = 0.0
        for step, rows in enumerate(bar, start=1):
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
        dev_pred = logits_over(DygraphModel(model), dev_ids, pad_id, batch_size=64).argmax(-1)
        dev_acc = float((dev_pred == np.asarray(dev_labels)).mean())
        history.append({"epoch": epoch, "train_loss": total_loss / len(batches), "dev_accuracy": dev_acc})
        print(f"epoch {epoch}: train loss {total_loss / len(batches):.4f}, dev accuracy {dev_acc:.4f}"
              + ("  (best so far, kept)" if dev_acc > best else ""), flush=True)
        if dev_acc > best:
            best = dev_acc
            if on_best:
                on_best(model, dev_acc)
    return {"history": history, "best_dev_accuracy": best}
