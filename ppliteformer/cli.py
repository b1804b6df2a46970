"""`ppliteformer` command line: a thin layer over the Python API.

Heavy modules (paddle, paddlenlp) are imported inside the commands, so `--help` and
argument errors are instant.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings

from .errors import PPLiteFormerError


def _import_paddle_quietly():
    """Paddle prints a data-parallel warning at import when OMP_NUM_THREADS > 1; it does not
    apply here (one process, training measured 1.4x faster on 2 threads), so it is hidden."""
    with contextlib.redirect_stderr(io.StringIO()):
        import paddle  # noqa: F401


def _cmd_run(args):
    from .config import load_strategy
    from .preflight import check_strategy_inputs
    from .workflow import run_strategy, stage_names  # light: paddle is imported by the stages

    strategy = load_strategy(args.strategy, args.workdir)  # before paddle's slow import: fail fast
    if args.until and args.until not in stage_names(strategy):
        raise PPLiteFormerError(f"--until {args.until}: this strategy has no such stage. Its stages: "
                                f"{', '.join(stage_names(strategy))}.")
    check_strategy_inputs(strategy)
    _import_paddle_quietly()
    run_strategy(strategy, workdir=strategy.workdir, until=args.until)


def _cmd_convert(args):
    from .stages.convert import convert_model

    for target in args.target:
        nb = convert_model(args.model, os.path.join(args.out, target), target)
        print(f"{target}: {nb} ({os.path.getsize(nb)} bytes)")


def _cmd_bench(args):
    import json

    from .bench import measure_latency, synthetic_inputs
    from .runtimes import PaddleInferenceModel, open_lite

    path = args.model
    model = open_lite(path) if str(path).endswith(".nb") else PaddleInferenceModel(path, threads=args.threads)
    inputs = synthetic_inputs(args.batch_size, args.seq_len)
    result = measure_latency(model, inputs, args.warmup, args.repeats)
    result.update({"model": str(path), "batch_size": args.batch_size, "seq_len": args.seq_len,
                   "engine": "paddle_lite_x86" if str(path).endswith(".nb") else "paddle_inference"})
    print(json.dumps(result, indent=2))


def _cmd_bundle(args):
    from .bundle import make_bundle

    _import_paddle_quietly()
    for folder in make_bundle(args.workdir, args.artifact, args.out, args.samples):
        print(f"bundle: {folder}")


def _cmd_predict(args):
    from .standalone_predictor import main as predict_main

    return predict_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppliteformer", description=(
        "Compress a PaddleNLP Transformer and deploy it with Paddle Lite."))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a strategy YAML: data -> teacher -> export -> convert -> evaluate -> bench")
    run.add_argument("strategy", help="strategy YAML, e.g. strategies/baseline.yaml")
    run.add_argument("--workdir", help="work directory (default: the YAML's workdir, else work/<name>)")
    run.add_argument("--until", help="stop after this stage (data, teacher, export, convert, evaluate, bench, "
                     "then <step>, <step>_export, ... for each chain step)")
    run.set_defaults(func=_cmd_run)

    convert = sub.add_parser("convert", help="convert an exported inference model to Paddle Lite .nb")
    convert.add_argument("--model", required=True, help="folder with model.pdmodel and model.pdiparams")
    convert.add_argument("--target", choices=("arm", "x86"), action="append", required=True,
                         help="target (repeatable)")
    convert.add_argument("--out", required=True, help="output folder; one sub-folder per target")
    convert.set_defaults(func=_cmd_convert)

    bench = sub.add_parser("bench", help="time a .nb (Paddle Lite x86) or an inference model folder")
    bench.add_argument("--model", required=True, help="a .nb file or an inference model folder")
    bench.add_argument("--batch-size", type=int, default=1)
    bench.add_argument("--seq-len", type=int, default=128)
    bench.add_argument("--warmup", type=int, default=5)
    bench.add_argument("--repeats", type=int, default=30)
    bench.add_argument("--threads", type=int, default=1, help="Paddle Inference threads (Lite x86 runs 1)")
    bench.set_defaults(func=_cmd_bench)

    bundle = sub.add_parser("bundle", help="make deploy folders (.nb, vocab, predictor, self-check, scripts) "
                            "for one artifact of a finished run")
    bundle.add_argument("workdir", help="work directory of a finished run (has report.json)")
    bundle.add_argument("--artifact", help="artifact name from the report (default: the final one)")
    bundle.add_argument("--out", help="where to write <artifact>-<target>/ folders (default: WORKDIR/bundle)")
    bundle.add_argument("--samples", type=int, default=8, help="texts in selfcheck.json")
    bundle.set_defaults(func=_cmd_bundle)

    predict = sub.add_parser("predict", help="classify texts with a .nb (same as deploy/python/predict.py)",
                             add_help=False)
    predict.add_argument("rest", nargs=argparse.REMAINDER)
    predict.set_defaults(func=_cmd_predict)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Paddle reads the thread count at import; use every core unless the user chose.
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ INFO lines
    # PaddleNLP imports distutils after setuptools' import hook is installed; the notice is noise.
    warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")
    try:
        return args.func(args) or 0
    except PPLiteFormerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished stages are kept and reused by the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
