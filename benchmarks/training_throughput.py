"""Training throughput of the NER recipe's teacher and student shapes at several batch sizes.

    .venv/bin/python benchmarks/training_throughput.py [--length 40 --steps 10]

Why the NER recipe (strategies/ner_mobile.yaml) takes over 30 minutes here: each shape is a
fresh PaddleNLP ERNIE token classifier trained in dygraph on the CPU (AdamW, the recipe's loop
without its data), on random sentences of the corpus's typical length (the People's Daily test
median is 39 pieces). One line per shape and batch size: seconds per step and sentences per
second, the median of ``--steps`` steps after 3 warm-up steps. Sentences/s that do not grow
with the batch mean the shape is compute-bound, so a larger batch would not shorten an epoch.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

SHAPES = {  # the recipe's teacher preset (ernie-4l-256h-ffn512) and its distilled student
    "teacher": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=512,
                    hidden_act="gelu"),
    "student": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=256,
                    hidden_act="relu"),
}
VOCAB, TAGS = 4529, 7  # the built-in corpus's character vocabulary and its BIO tags of PER, LOC, ORG


def seconds_per_step(shape: dict, batch_size: int, length: int, steps: int) -> float:
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForTokenClassification

    config = ErnieConfig(vocab_size=VOCAB, max_position_embeddings=128, type_vocab_size=2, num_labels=TAGS,
                         **shape)
    model = ErnieForTokenClassification(config)
    optimizer = paddle.optimizer.AdamW(1e-3, parameters=model.parameters())
    rng = np.random.RandomState(0)
    ids = paddle.to_tensor(rng.randint(5, VOCAB, (batch_size, length)).astype("int64"))
    tags = paddle.to_tensor(rng.randint(0, TAGS, (batch_size, length, 1)).astype("int64"))
    times = []
    for step in range(3 + steps):
        start = time.perf_counter()
        loss = paddle.nn.functional.cross_entropy(model(ids), tags)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        if step >= 3:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=40, help="pieces per sentence")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per shape and batch size")
    args = parser.parse_args()
    for name, shape in SHAPES.items():
        for batch_size in (32, 64, 128):
            seconds = seconds_per_step(shape, batch_size, args.length, args.steps)
            print(f"{name} batch {batch_size}: {seconds:.3f} s/step, {batch_size / seconds:.0f} sentences/s",
                  flush=True)


if __name__ == "__main__":
    main()
