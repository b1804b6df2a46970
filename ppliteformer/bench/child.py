"""One engine's benchmark, run as a child process by ``ppliteformer.bench.side_by_side``.

    python -m ppliteformer.bench.child --engine paddle_lite|paddle_inference|onnxruntime
        --model PATH --inputs inputs.npz --warmup W --repeats R --threads T
        [--variant NAME] [--logits-out logits.npy]

A process of its own gives each engine its own peak memory (ru_maxrss after the runs) and
keeps a Paddle Lite abort (SIGABRT on a fatal error) from ending the caller. Only numpy and
the one engine are imported; the engine is the same object the parent used
(``bench.engines.ENGINES``). The last stdout line is one JSON object: median_ms, p90_ms,
min_ms, peak_rss_mb, threads, warmup, repeats, ...; errors go to stderr with exit code 1.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from .latency import measure_latency
from .engines import ENGINES
from ..device.lite_runtime import INPUT_NAMES


def _rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space made at exec;
    ru_maxrss is not used first because Linux carries the parent's peak over into it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, choices=sorted(ENGINES))
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", required=True, help=".npz with the four model inputs")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", default="default")
    parser.add_argument("--logits-out")
    args = parser.parse_args(argv)
    with np.load(args.inputs) as data:
        inputs = {name: np.ascontiguousarray(data[name]) for name in INPUT_NAMES}
    rss_before = _rss_mb()
    start = time.perf_counter()
    try:
        model = ENGINES[args.engine].load(args.model, args.threads, args.variant)
        load_s = time.perf_counter() - start
        logits = np.concatenate([np.ravel(output) for output in model.run(inputs)])  # every output, for parity
        result = measure_latency(model, inputs, args.warmup, args.repeats)
    except Exception as exc:  # an engine's own error type; the parent turns it into one message
        print(f"{args.engine} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.logits_out:
        np.save(args.logits_out, logits)
    result.update({"engine": args.engine, "variant": args.variant, "threads": model.threads,
                   "peak_rss_mb": _rss_mb(), "rss_before_engine_mb": rss_before, "load_s": round(load_s, 3)})
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
