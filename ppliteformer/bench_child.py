"""One engine's benchmark, run as a child process by ``ppliteformer.engines``.

    python -m ppliteformer.bench_child --engine paddle_lite|paddle_inference|onnxruntime
        --model PATH --inputs inputs.npz --warmup W --repeats R --threads T
        [--variant NAME] [--logits-out logits.npy]

A process of its own gives each engine its own peak memory (ru_maxrss after the runs) and
keeps a Paddle Lite abort (SIGABRT on a fatal error) from ending the caller. Only numpy and
the one engine are imported. The last stdout line is one JSON object: median_ms, p90_ms,
min_ms, peak_rss_mb, threads, warmup, repeats, ...; errors go to stderr with exit code 1.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from .bench import measure_latency
from .device.predictor import INPUT_NAMES


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


class _Lite:
    """The light predictor on a `.nb`; the x86 MobileConfig has no thread setting (MKL runs 1)."""

    def __init__(self, model, threads, variant):
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        config = MobileConfig()
        config.set_model_from_file(model)
        self.threads = 1
        if hasattr(config, "set_threads"):  # ARM builds
            config.set_threads(threads)
            self.threads = threads
        self.predictor = create_paddle_predictor(config)

    def run(self, inputs):
        for name in INPUT_NAMES:
            self.predictor.get_input_by_name(name).from_numpy(inputs[name])
        self.predictor.run()
        return self.predictor.get_output(0).numpy().copy()


class _PaddleInference:
    def __init__(self, model, threads, variant):
        import os

        import paddle.inference as pi

        config = pi.Config(os.path.join(model, "model.pdmodel"), os.path.join(model, "model.pdiparams"))
        config.disable_gpu()
        config.disable_glog_info()
        config.set_cpu_math_library_num_threads(threads)
        if variant == "mkldnn":
            config.enable_mkldnn()
        self.threads = threads
        self.predictor = pi.create_predictor(config)
        self.output = self.predictor.get_output_names()[0]

    def run(self, inputs):
        for name in INPUT_NAMES:
            handle = self.predictor.get_input_handle(name)
            handle.reshape(inputs[name].shape)
            handle.copy_from_cpu(inputs[name])
        self.predictor.run()
        return self.predictor.get_output_handle(self.output).copy_to_cpu()


class _OnnxRuntime:
    def __init__(self, model, threads, variant):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.threads = threads
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def run(self, inputs):
        return self.session.run(None, {name: inputs[name] for name in self.names})[0]


RUNNERS = {"paddle_lite": _Lite, "paddle_inference": _PaddleInference, "onnxruntime": _OnnxRuntime}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, choices=sorted(RUNNERS))
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
        model = RUNNERS[args.engine](args.model, args.threads, args.variant)
        load_s = time.perf_counter() - start
        logits = np.asarray(model.run(inputs))
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
