"""`ppliteformer` command line: a thin layer over the Python API.

Heavy modules (paddle, paddlenlp) are imported inside the commands, so `--help` and
argument errors are instant.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings

from . import ranks
from .errors import PPLiteFormerError


def _import_paddle_quietly():
    """Paddle prints a data-parallel warning at import when OMP_NUM_THREADS > 1; it does not
    apply here (one process, training measured 1.4x faster on 2 threads), so it is hidden."""
    with contextlib.redirect_stderr(io.StringIO()):
        import paddle  # noqa: F401


def _cmd_run(args):
    from .config.strategy import load_strategy
    from .pipeline.preflight import check_strategy_inputs
    from .pipeline.workflow import run_strategy, stage_names  # light: paddle is imported by the stages

    strategy = load_strategy(args.strategy, args.workdir)  # before paddle's slow import: fail fast
    if strategy.act_translation:
        print(f"{args.strategy}: a PaddleSlim ACT config, translated:")
        for line in strategy.act_translation:
            print(f"  {line}")
    if args.until and args.until not in stage_names(strategy):
        raise PPLiteFormerError(f"--until {args.until}: this strategy has no such stage. Its stages: "
                                f"{', '.join(stage_names(strategy))}.")
    check_strategy_inputs(strategy)
    _import_paddle_quietly()
    run_strategy(strategy, workdir=strategy.workdir, until=args.until)


def _cmd_search(args):
    from .search.driver import Search

    search = Search(args.search, args.workdir)  # validates every candidate's strategy before paddle's import
    _import_paddle_quietly()
    search.run()


def _cmd_convert(args):
    from .runtimes.lite_convert import REWRITES_FILE, convert_model

    for target in args.target:
        nb = convert_model(args.model, os.path.join(args.out, target), target)
        rewrites = nb.parent / REWRITES_FILE
        done = f"; program rewritten first: {rewrites.read_text()}" if rewrites.is_file() else ""
        print(f"{target}: {nb} ({os.path.getsize(nb)} bytes{done})")


def _bench_engines(value: str) -> list:
    from .bench.side_by_side import ENGINES

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown engine {','.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(ENGINES)} (comma-separated)")
    return names


def _write_json_atomically(path: str, data: dict, force: bool) -> None:
    """--out: written whole; without --force never over a file, even one that appeared during the run."""
    from .atomic import write_json_atomic

    try:
        write_json_atomic(path, data, overwrite=force)
    except FileExistsError:
        raise PPLiteFormerError(f"--out {path} appeared while the benchmark ran; not overwritten. "
                                "Use --force to overwrite it.") from None


def _cmd_bench(args):
    import json

    from .bench.side_by_side import bench_side_by_side, format_table
    from .errors import ConfigError

    if args.out:  # check before minutes of benchmarking
        folder = os.path.dirname(os.path.abspath(args.out))
        if os.path.exists(args.out) and not args.force:
            raise ConfigError(f"--out {args.out} already exists. Use --force to overwrite it, or choose "
                              "another file.")
        if not os.path.isdir(folder):
            raise ConfigError(f"--out {args.out}: the folder {folder} does not exist. Create it first.")
    result = bench_side_by_side(args.model, batch_size=args.batch_size, seq_len=args.seq_len,
                                warmup=args.warmup, repeats=args.repeats, threads=args.threads,
                                engines=args.engines, work_dir=args.work_dir, measure_peak=args.peak)
    print(format_table(result))
    print(json.dumps(result, indent=2))
    if args.out:
        _write_json_atomically(args.out, result, args.force)
        print(f"wrote {args.out}", file=sys.stderr)
    failed = [engine for engine, r in result["engines"].items() if "error" in r]
    return 1 if failed else 0


def _cmd_bundle(args):
    from .arm.toolchain import optional_toolchain
    from .pipeline.bundle import make_bundle

    _import_paddle_quietly()
    arm = optional_toolchain(without_it="the arm bundle's self-check is made without ARM kernels and it gets no lib/.")
    arm_fp16 = optional_toolchain(fp16=True)  # for an arm_fp16 .nb; without it that bundle is made as without arm's
    for folder in make_bundle(args.workdir, args.artifact, args.out, args.samples, arm_toolchain=arm,
                              arm_fp16_toolchain=arm_fp16):
        print(f"bundle: {folder}")


def _cmd_arm_setup(args):
    from .arm.toolchain import ensure_toolchain

    toolchain = ensure_toolchain(args.lite_dir or "")
    print(f"Paddle Lite ARM build: {toolchain.lite_dir}\nqemu: {toolchain.qemu}\nbuilt: {toolchain.runner}, "
          f"{toolchain.shim}, {toolchain.counter}")


def _cmd_report(args):
    from .report.render import render_report

    for path in render_report(args.workdir, args.device_results):
        print(path)


def _cmd_predict(args):
    from .device.predictor import main as predict_main

    return predict_main(args.rest)


def _chain_steps_text() -> str:
    """The tasks a strategy can name, and the compression steps its chain can list in their order, each with
    its summary."""
    from .steps import all_steps

    from .tasks import get_task, task_names

    return ("tasks (the strategy's task:, default seq_cls):\n" + "\n".join(
        f"  {name:<15} {get_task(name).summary}" for name in task_names()) +
        "\n\nchain steps, in this order (qat and ptq are alternatives):\n" + "\n".join(
        f"  {step.name:<15} {step.summary}" for step in all_steps()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppliteformer", description=(
        "Compress a PaddleNLP Transformer and deploy it with Paddle Lite."))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a strategy YAML: data -> teacher -> export -> convert -> evaluate -> bench",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_chain_steps_text())
    run.add_argument("strategy", help="strategy YAML, e.g. strategies/baseline.yaml, or an unmodified PaddleSlim ACT "
                     "config (Global, TransformerPrune, QuantAware, QuantPost, ...), translated and printed first")
    run.add_argument("--workdir", help="work directory (default: the YAML's workdir, else work/<name>)")
    run.add_argument("--until", help="stop after this stage (data, teacher, export, convert, evaluate, bench, "
                     "then <step>, <step>_export, ... for each chain step)")
    run.set_defaults(func=_cmd_run)

    search = sub.add_parser("search", help="search compression recipes for the most accurate model within a "
                            "budget of .nb bytes, ARM instructions and accuracy drop (a SEARCH.yaml)")
    search.add_argument("search", help="SEARCH.yaml: a strategy without chain, plus a search section (constraints, "
                        "space, budget), e.g. strategies/search_mobile.yaml")
    search.add_argument("--workdir", help="work directory (default: the YAML's workdir, else work/<name>)")
    search.set_defaults(func=_cmd_search)

    convert = sub.add_parser("convert", help="convert an exported inference model to Paddle Lite .nb")
    convert.add_argument("--model", required=True, help="folder with model.pdmodel and model.pdiparams")
    convert.add_argument("--target", choices=("arm", "x86"), action="append", required=True,
                         help="target (repeatable)")
    convert.add_argument("--out", required=True, help="output folder; one sub-folder per target")
    convert.set_defaults(func=_cmd_convert)

    bench = sub.add_parser("bench", help="time a model side by side on Paddle Lite x86, Paddle Inference and "
                           "ONNX Runtime: latency, peak memory, FLOPs and GFLOP/s")
    bench.add_argument("--model", required=True, help="an inference model folder (all three engines; converted "
                       "to .nb and .onnx on the fly) or a .nb file (Paddle Lite only)")
    bench.add_argument("--batch-size", type=int, default=1)
    bench.add_argument("--seq-len", type=int, default=128, help="tokens per input, no padding")
    bench.add_argument("--warmup", type=int, default=5)
    bench.add_argument("--repeats", type=int, default=30)
    bench.add_argument("--threads", type=int, default=1, help="CPU threads for Paddle Inference and ONNX "
                       "Runtime (Paddle Lite's x86 Python API runs 1)")
    bench.add_argument("--engines", type=_bench_engines, default=None, help="comma-separated subset of "
                       "paddle_lite,paddle_inference,onnxruntime (default: all three)")
    bench.add_argument("--out", help="also write the JSON result to this file (written atomically)")
    bench.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    bench.add_argument("--work-dir", help="keep the converted .nb and .onnx here and reuse them (default: a "
                       "temporary folder, removed afterwards)")
    bench.add_argument("--peak", action="store_true", help="also measure this CPU's fp32 peak, 1 core (compiles "
                       "and runs an AVX2 FMA loop with the system's C compiler, and times an sgemm) for a "
                       "'%% of peak' per engine; without it the peak is derived from /proc/cpuinfo's clock")
    bench.set_defaults(func=_cmd_bench)

    bundle = sub.add_parser("bundle", help="make deploy folders (.nb, vocab, predictor, self-check, scripts) "
                            "for one artifact of a finished run")
    bundle.add_argument("workdir", help="work directory of a finished run (has report.json)")
    bundle.add_argument("--artifact", help="artifact name from the report (default: the final one)")
    bundle.add_argument("--out", help="where to write <artifact>-<target>/ folders (default: WORKDIR/bundle)")
    bundle.add_argument("--samples", type=int, default=8, help="texts in selfcheck.json")
    bundle.set_defaults(func=_cmd_bundle)

    arm_setup = sub.add_parser("arm-setup", help="build ppliteformer's ARM pieces (C shim, runner, instruction "
                               "counter) against a Paddle Lite ARM build, or say what is missing")
    arm_setup.add_argument("--lite-dir", help="a Paddle Lite ARM build (include/, lib/libpaddle_light_api_shared.so); "
                           "default: $PPLITEFORMER_LITE_ARM, then ../shared/lite-armv8 beside the checkout")
    arm_setup.set_defaults(func=_cmd_arm_setup)

    report = sub.add_parser("report", help="render a finished run's report.json as report.html (self-contained, "
                            "with plots) and report.md")
    report.add_argument("workdir", help="work directory of a finished run (has report.json)")
    report.add_argument("--device-results", nargs="+", action="extend", default=[], metavar="FILE",
                        help="JSON written by deploy/arm/run_on_board.py or run_on_android.py --out; an "
                        "\"artifact\" key names the artifact measured (default: the final one)")
    report.set_defaults(func=_cmd_report)

    predict = sub.add_parser("predict", help="classify texts with a .nb (same as deploy/python/predict.py)",
                             add_help=False)
    predict.add_argument("rest", nargs=argparse.REMAINDER)
    predict.set_defaults(func=_cmd_predict)
    return parser


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (a test's capture, a redirect made later)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _):
        pass


def _log_to_stdout() -> None:
    """What the stages log (the package's ``ppliteformer`` logger) is this command's output."""
    logger = logging.getLogger("ppliteformer")
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["predict"]:  # the predictor's own options, --help included, go to it untouched
        return _cmd_predict(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    _log_to_stdout()
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
    except RuntimeError as exc:
        lost = ranks.lost_peer_message(exc)
        if lost is None:
            raise
        print(f"error: {lost}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished stages are kept and reused by the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
