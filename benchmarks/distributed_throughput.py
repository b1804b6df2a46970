"""Training throughput on 1 and N ranks of paddle.distributed (CPU, gloo), and the all-reduce's share
of a step, so a user can predict how data-parallel training scales on their machines.

    .venv/bin/python benchmarks/distributed_throughput.py [--ranks 2] [--preset ernie-4l-256h-ffn512]

It trains the preset on random token ids through ppliteformer's own loop (models/training.py:
the strategy's global batch, split over the ranks) once in one process and once under
``python -m paddle.distributed.launch --nproc_per_node N``, and times, on the N ranks, an
all-reduce of as many floats as the model has parameters (what paddle.DataParallel sends each
step). It prints a table and writes benchmarks/distributed_throughput.json. On a machine with
fewer free cores than ranks no speed-up is possible: the ranks share the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXTS, SEQ, VOCAB, EPOCHS = 512, 64, 8000, 1


def worker(preset: str, batch_size: int, out: str) -> None:
    """One rank's (or the single process's) training run and all-reduce timing; rank 0 writes ``out``."""
    import numpy as np
    import paddle

    from ppliteformer import ranks
    from ppliteformer.models.modeling import build_model, count_parameters, preset_config
    from ppliteformer.models.training import train_classifier

    paddle.set_device("cpu")
    paddle.seed(0)
    model = build_model(preset_config(preset, vocab_size=VOCAB, num_classes=2, max_seq_len=SEQ))
    rng = np.random.RandomState(0)
    ids = [[1] + list(rng.randint(5, VOCAB, size=SEQ - 2)) + [2] for _ in range(TEXTS)]
    labels = [int(i % 2) for i in range(TEXTS)]
    start = time.perf_counter()
    train_classifier(model, ids, labels, ids[:batch_size], labels[:batch_size], epochs=EPOCHS, batch_size=batch_size,
                     learning_rate=1e-4, warmup_ratio=0.0, weight_decay=0.0, seed=0, pad_id=0, progress=False)
    seconds = time.perf_counter() - start
    steps = -(-TEXTS // batch_size) * EPOCHS
    result = {"ranks": ranks.world_size(), "preset": preset, "parameters": count_parameters(model),
              "global_batch": batch_size, "seq_len": SEQ, "steps": steps, "seconds": round(seconds, 2),
              "samples_per_second": round(TEXTS * EPOCHS / seconds, 1), "ms_per_step": round(seconds / steps * 1e3, 1)}
    if ranks.world_size() > 1:
        import paddle.distributed as dist

        flat = paddle.ones([count_parameters(model)], dtype="float32")
        dist.all_reduce(flat)  # warm-up
        start, repeats = time.perf_counter(), 10
        for _ in range(repeats):
            dist.all_reduce(flat)
        result["allreduce_ms"] = round((time.perf_counter() - start) / repeats * 1e3, 1)
        result["allreduce_share_of_step"] = round(result["allreduce_ms"] / result["ms_per_step"], 3)
    if ranks.is_writer():
        Path(out).write_text(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--preset", default="ernie-4l-256h-ffn512")
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--out", default=str(HERE / "distributed_throughput.json"))
    parser.add_argument("--worker", metavar="RESULT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.preset, args.batch_size, args.worker)
        return 0
    rows, env = [], {**os.environ, "GLOG_minloglevel": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        for ranks in (1, args.ranks):
            result = Path(tmp) / f"ranks{ranks}.json"
            me = [__file__, "--preset", args.preset, "--batch-size", str(args.batch_size), "--worker", str(result)]
            command = ([sys.executable, *me] if ranks == 1 else
                       [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(ranks),
                        "--log_dir", str(Path(tmp) / "logs"), *me])
            proc = subprocess.run(command, capture_output=True, text=True, env=env)
            if proc.returncode != 0 or not result.is_file():
                print(f"{ranks} rank(s) failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}",
                      file=sys.stderr)
                return 1
            rows.append(json.loads(result.read_text()))
    report = {"machine": f"{os.cpu_count()} CPU cores", "runtime": "Paddle dygraph on CPU, gloo", "runs": rows}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{args.preset}, {rows[0]['parameters']:,} parameters, global batch {args.batch_size}, seq {SEQ}, "
          f"{TEXTS} random texts, {os.cpu_count()} CPU cores:")
    for row in rows:
        extra = (f", all-reduce of the gradients {row['allreduce_ms']} ms = {row['allreduce_share_of_step']:.0%} "
                 "of a step") if "allreduce_ms" in row else ""
        print(f"  {row['ranks']} rank(s): {row['samples_per_second']} samples/s, {row['ms_per_step']} ms per step{extra}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
