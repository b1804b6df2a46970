"""Fine-tuning loop for a sequence classifier in Paddle dygraph (CPU).

Batches are grouped by length (texts are short: median ~50 characters), which makes an
epoch several times faster than padding everything to max_seq_len.

Under ``paddle.distributed.launch`` the loop is data-parallel: every rank draws the same global
batches (the same seeded order as one process), trains on its slice of each, and
``paddle.DataParallel`` averages the gradients, each slice's loss weighted by its share of the
batch, so a step's update is the one-process update of the global batch, whatever the number of
ranks (exactly for a loss averaged over texts; a token task's loss averages over each slice's
tokens, so there it is close, not equal).
"""
from __future__ import annotations

import numpy as np

from .. import ranks
from ..runtimes.host import DygraphModel, outputs_over
from ..device.lite_runtime import batch_arrays


def encode_texts(tokenizer, texts, max_seq_len: int) -> list:
    return [tokenizer(t, max_length=max_seq_len, truncation=True)["input_ids"] for t in texts]


def length_bucketed_batches(lengths, batch_size: int, rng: np.random.RandomState) -> list:
    """Shuffled batches whose members have similar lengths (sorted within pools of 50 batches)."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def dev_metric(model, dev_ids, dev_targets, pad_id: int, task, labels) -> float:
    """The task's headline metric of a dygraph model on encoded dev items."""
    outputs = outputs_over(DygraphModel(model), dev_ids, pad_id, batch_size=64)
    return task.score(outputs, dev_targets, labels)[task.metric]


def dev_accuracy(model, dev_ids, dev_labels, pad_id: int) -> float:
    """``dev_metric`` of a single-text classifier: accuracy on label ids."""
    from ..tasks import DEFAULT_TASK, get_task

    return dev_metric(model, dev_ids, dev_labels, pad_id, get_task(DEFAULT_TASK), None)


def adamw_with_schedule(model, learning_rate: float, total_steps: int, warmup_ratio: float, weight_decay: float,
                        extra_parameters=()):
    """(AdamW with gradient clipping at 1.0 and no decay on biases and norms, its linear warmup/decay schedule)."""
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup

    scheduler = LinearDecayWithWarmup(learning_rate, total_steps, warmup_ratio)
    decay_params = {p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))}
    optimizer = paddle.optimizer.AdamW(learning_rate=scheduler, parameters=model.parameters() + list(extra_parameters),
                                       weight_decay=weight_decay, grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0),
                                       apply_decay_param_fun=lambda name: name in decay_params)
    return optimizer, scheduler


class DataParallel:
    """This rank's share of the training: its slice of each global batch, and the all-reduce of the
    gradients of what ``paddle.DataParallel`` does not hold (the distillation loss's projections)."""

    def __init__(self, model, extra_parameters=()):
        import paddle
        import paddle.distributed as dist

        self.ranks, self.rank, self.dist = ranks.world_size(), ranks.rank(), dist
        if self.ranks > 1 and not dist.is_initialized():
            dist.init_parallel_env()  # gloo on CPU (launch sets the backend), NCCL on GPUs
        self.model = paddle.DataParallel(model, find_unused_parameters=True) if self.ranks > 1 else model
        self.extra_parameters = list(extra_parameters)

    def slice(self, rows: list) -> tuple:
        """(this rank's rows of a global batch, the weight of its loss): the batch cut in ``ranks`` nearly equal
        parts, each loss scaled by its part's share x ranks, so the gradients' average is the whole batch's.
        A rank left without a row (a last batch smaller than the ranks) trains on one row at weight 0."""
        if self.ranks == 1:
            return rows, 1.0
        mine = list(np.array_split(np.asarray(rows), self.ranks)[self.rank])
        return (mine, len(mine) / len(rows) * self.ranks) if mine else (rows[:1], 0.0)

    def reduce_extra_gradients(self) -> None:
        for parameter in self.extra_parameters if self.ranks > 1 else ():
            if parameter.grad is not None:
                self.dist.all_reduce(parameter.grad)
                parameter.grad.scale_(1.0 / self.ranks)


def train_classifier(model, train_ids, train_labels, dev_ids, dev_labels, *, epochs: float,
                     batch_size: int, learning_rate: float, warmup_ratio: float, weight_decay: float,
                     seed: int, pad_id: int, evals_per_epoch: int = 1, on_best=None, progress=True,
                     loss_fn=None, extra_parameters=(), task=None, labels=None) -> dict:
    """AdamW with linear warmup/decay and gradient clipping, for ``epochs`` passes (may be fractional).

    The loss is cross-entropy on the labels unless ``loss_fn(model, inputs, labels, rows)``
    is given (distillation passes one that also reads the teacher); ``extra_parameters``
    are trained too but are not part of the model (e.g. hidden-state projections).

    Dev accuracy is measured ``evals_per_epoch`` times per epoch and after the last step;
    ``on_best(model, dev_acc)`` is called on each new best, so the best checkpoint is kept
    even if training later gets worse (post-LayerNorm ERNIE trained from scratch can).

    ``task`` (default: seq_cls) batches the targets, gives the default loss and the dev metric
    (``labels``: its label names), so a token task trains through the same loop.

    ``batch_size`` is the global batch: under paddle.distributed.launch each rank trains on its share.
    """
    import paddle
    from tqdm import tqdm

    from ..tasks import DEFAULT_TASK, get_task

    task = task or get_task(DEFAULT_TASK)
    ranks.per_rank_batch(batch_size, "training")
    progress = progress and ranks.is_writer()
    paddle.seed(seed)
    rng = np.random.RandomState(seed)
    lengths = [len(ids) for ids in train_ids]
    steps_per_epoch = len(length_bucketed_batches(lengths, batch_size, np.random.RandomState(0)))
    total_steps = max(1, round(steps_per_epoch * epochs))
    eval_every = steps_per_epoch / evals_per_epoch
    eval_steps = {round(eval_every * k) for k in range(1, int(total_steps / eval_every) + 1)} | {total_steps}
    if loss_fn is None:
        def loss_fn(m, inputs, labels, rows):
            return task.loss(m(**inputs), labels)
    optimizer, scheduler = adamw_with_schedule(model, learning_rate, total_steps, warmup_ratio, weight_decay,
                                               extra_parameters)
    parallel = DataParallel(model, extra_parameters)
    history, best, step = [], -1.0, 0
    n_passes = -(-total_steps // steps_per_epoch)
    for epoch in range(1, n_passes + 1):
        batches = length_bucketed_batches(lengths, batch_size, rng)[:total_steps - step]
        bar = tqdm(batches, desc=f"epoch {epoch}/{n_passes}", disable=not progress, unit="batch", mininterval=2)
        total_loss = 0.0
        for batch_no, global_rows in enumerate(bar, start=1):
            model.train()
            rows, weight = parallel.slice(global_rows)
            arrays = batch_arrays([train_ids[i] for i in rows], pad_id)
            loss = loss_fn(parallel.model, {k: paddle.to_tensor(v) for k, v in arrays.items()},
                           paddle.to_tensor(task.batch_targets([train_labels[i] for i in rows])), rows)
            (loss * weight).backward()
            parallel.reduce_extra_gradients()
            optimizer.step()
            scheduler.step()
            optimizer.clear_grad()
            total_loss += float(loss)
            step += 1
            if batch_no % 20 == 0:
                bar.set_postfix(loss=f"{total_loss / batch_no:.4f}")
            if step not in eval_steps:
                continue
            acc = dev_metric(model, dev_ids, dev_labels, pad_id, task, labels)
            point = round(step / steps_per_epoch, 2)
            history.append({"epoch": point, "train_loss": round(total_loss / batch_no, 4), "dev_accuracy": acc})
            improved = acc > best
            bar.write(f"epoch {point}: train loss {total_loss / batch_no:.4f}, dev {task.metric} {acc:.4f}"
                      + ("  (best so far, kept)" if improved else ""))
            if improved:
                best = acc
                if on_best:
                    on_best(model, acc)
    return {"history": history, "best_dev_accuracy": best}
