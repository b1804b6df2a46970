"""How fast Lite x86 runs a model's matmuls alone: the bound behind "% of peak" (benchmarks/README.md).

    .venv/bin/python benchmarks/lite_x86_floor.py MODEL_DIR [--rounds 3 --repeats 2000]

Makes a copy of the inference model in MODEL_DIR with the elementwise work of each encoder
layer removed (layer_norm, GELU, softmax, tanh, the attention scaling and the residual adds;
each op's output replaced by its input, the residual add's by its branch), converts both
with ``convert_model`` (the x86 rewrites included) and times them alternately on Lite x86 in
child processes, 1 thread, MKL's AVX2 path on AMD. The copy computes WRONG logits; it only
shows how much of the latency those ops take. Prints one JSON object with the medians,
the FLOPs and the achieved GFLOP/s against the single-core peak.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppliteformer.bench.latency import synthetic_inputs  # noqa: E402
from ppliteformer.bench.cpu_fp32_peak import cpu_peak  # noqa: E402
from ppliteformer.bench.side_by_side import run_engine  # noqa: E402
from ppliteformer.models.flops import encoder_flops  # noqa: E402
from ppliteformer.runtimes.lite_convert import convert_model  # noqa: E402
from ppliteformer.device.lite_runtime import mkl_avx2_env
from ppliteformer.device.model_files import META_FILE  # noqa: E402
from ppliteformer.runtimes.x86_rewrites import save_rewritten_copy  # noqa: E402

UNARY = {"layer_norm": ("X", "Y"), "gelu": ("X", "Out"), "softmax": ("X", "Out"), "tanh": ("X", "Out")}


def _bypass(block, op, source: str, output: str) -> None:
    block._remove_op(list(block.ops).index(op))
    for later in block.ops:
        later._rename_input(output, source)


def strip_elementwise(block) -> int:
    """Remove the ops listed in the module doc from ``block``; how many."""
    consumers = {}
    for op in block.ops:
        for name in op.input_arg_names:
            consumers.setdefault(name, []).append(op.type)
    removed, past_embeddings = 0, False
    for op in list(block.ops):  # one at a time: each removal renames the inputs of the ops after it
        past_embeddings = past_embeddings or op.type in ("matmul_v2", "mul")
        if op.type in UNARY:
            source, output = op.input(UNARY[op.type][0])[0], op.output(UNARY[op.type][1])[0]
        elif op.type == "scale" and "matmul_v2" in consumers.get(op.output("Out")[0], []):
            source, output = op.input("X")[0], op.output("Out")[0]
        elif op.type == "elementwise_add" and past_embeddings:
            x, y = (block._var_recursive(op.input(key)[0]) for key in ("X", "Y"))
            if y.persistable or list(x.shape) != list(y.shape):
                continue  # a bias or the attention mask
            source, output = y.name, op.output("Out")[0]  # keep the branch: it reads the residual
        else:
            continue
        _bypass(block, op, source, output)
        removed += 1
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    meta = json.loads((args.model_dir / META_FILE).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        removed = save_rewritten_copy(args.model_dir, tmp / "floor",
                                      lambda program: strip_elementwise(program.global_block()))
        nbs = {"full_model": convert_model(args.model_dir, tmp / "model_x86", "x86"),
               "matmuls_only": convert_model(tmp / "floor", tmp / "floor_x86", "x86")}
        inputs = tmp / "inputs.npz"
        np.savez(inputs, **synthetic_inputs(1, 128, meta["model_config"]["vocab_size"]))
        medians = {name: [] for name in nbs}
        for _ in range(args.rounds):
            for name, nb in nbs.items():
                result = run_engine("paddle_lite", nb, inputs, args.warmup, args.repeats, 1, env=mkl_avx2_env())
                medians[name].append(result["median_ms"])
    flops = encoder_flops(meta, 1, 128)
    peak = cpu_peak()["gflops_peak_fp32_1core"]
    report = {"model": str(args.model_dir), "ops_removed_in_matmuls_only": removed, "flops": flops,
              "gflops_peak_fp32_1core": peak, "batch_size": 1, "seq_len": 128, "repeats": args.repeats}
    for name, values in medians.items():
        best = float(np.median(values))
        gflops = flops / (best * 1e-3) / 1e9
        report[name] = {"median_ms_per_round": values, "median_ms": round(best, 4),
                        "gflops": round(gflops, 1), "percent_of_peak": round(100 * gflops / peak, 1)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
