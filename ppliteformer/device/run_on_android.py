#!/usr/bin/env python3
"""Benchmark a ppliteformer Paddle Lite model (.nb) on an Android phone over adb.

It uses Paddle Lite's own C++ benchmark tool, ``benchmark_bin`` (no Python on the phone):

    adb devices                                            # is a phone connected?
    adb -s SERIAL shell getprop ro.product.model           # for the results file
    adb -s SERIAL shell mkdir -p DEVICE_DIR
    adb -s SERIAL push model.nb DEVICE_DIR/model.nb
    adb -s SERIAL push benchmark_bin DEVICE_DIR/benchmark_bin
    adb -s SERIAL shell chmod +x DEVICE_DIR/benchmark_bin
    adb -s SERIAL shell 'cd DEVICE_DIR && rm -f DEVICE_DIR/benchmark_result.txt && ./benchmark_bin
        --optimized_model_file=DEVICE_DIR/model.nb --input_shape=1,L:1,L:1,L:1,L  (L: max_seq_len of the meta beside the .nb)
        --input_data_type=int64:int64:int64:float32 --backend=arm --warmup=10 --repeats=30
        --threads=1 --power_mode=0 --result_path=DEVICE_DIR/benchmark_result.txt'
    adb -s SERIAL pull DEVICE_DIR/benchmark_result.txt LOCAL_TMP/benchmark_result.txt

and writes --out as JSON:

    {"device": {"kind": "android", "serial": ..., "model": <getprop ro.product.model>, ...},
     "selfcheck": null,
     "latency": {"median_ms": null, "p90_ms": null, "min_ms": ..., "avg_ms": ..., "max_ms": ...,
                 "first_ms": ..., "init_ms": ..., "threads": ..., "warmup": ..., "repeats": ...,
                 "power_mode": ..., "input_shape": ..., "engine": "paddle_lite_arm_benchmark_bin"},
     "source": "run_on_android"}

benchmark_bin reports min/max/avg (no median or percentiles), so median_ms/p90_ms are
null here; compare avg_ms/min_ms with other engines, not median_ms. benchmark_bin fills
every input with 1s (it cannot tokenize text), so there is no accuracy self-check on
Android; run the self-check on an ARM Linux board (run_on_board.py) or on the workstation.

Flags of benchmark_bin used here (Paddle Lite release/v2.13,
lite/api/tools/benchmark/utils/flags.cc): --optimized_model_file, --input_shape (shapes
separated by ':'), --input_data_type (float32|int32|int64 per input, ':'-separated; new in
v2.13, older benchmark_bin builds reject it -- pass --input-data-type '' to leave it out,
but then every input is fed as float32), --backend (required; "arm"), --warmup, --repeats,
--threads, --power_mode (0 LITE_POWER_HIGH, 1 LOW, 2 FULL, 3 NO_BIND), --result_path (text
is appended, hence the rm -f first). Output format: see benchmark_bin_output.py.

Getting benchmark_bin (an Android arm64-v8a or armeabi-v7a executable):
  * build it from Paddle Lite source (same version as the opt/paddlelite that made the .nb,
    2.13 for ppliteformer), in Paddle Lite's Docker build image or with the Android NDK:
        git clone -b release/v2.13 https://github.com/PaddlePaddle/Paddle-Lite.git
        cd Paddle-Lite
        ./lite/tools/build_android.sh --arch=armv8 --toolchain=clang --with_benchmark=ON full_publish
    the binary is build.lite.android.armv8.clang/lite/api/tools/benchmark/benchmark_bin
    (use --arch=armv7 for 32-bit phones);
  * or download a prebuilt one if the Paddle Lite GitHub releases page
    (https://github.com/PaddlePaddle/Paddle-Lite/releases) offers one for your version.

Standard library only; Python 3.8+. Exit codes: 0 ok, 2 user-fixable error (message on
stderr, starting "error:").
"""
from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import ToolError, quote_command  # noqa: E402
from benchmark_bin_output import parse_benchmark_bin_output  # noqa: E402

INPUT_NAMES = ("input_ids", "token_type_ids", "position_ids", "attention_mask")
# dtypes of the four inputs as ppliteformer exports them by default (attention_mask float32, the ids int64);
# a model exported with export.input_dtype: int32 says so in its meta file, which sets the default instead
DEFAULT_INPUT_DATA_TYPE = "int64:int64:int64:float32"
POWER_MODES = {0: "LITE_POWER_HIGH", 1: "LITE_POWER_LOW", 2: "LITE_POWER_FULL", 3: "LITE_POWER_NO_BIND"}
RESULT_NAME = "benchmark_result.txt"
META_NAME = _common.META_NAME
DEFAULT_INPUT_SHAPE = "1,128"  # a dry run without the model's meta file
ENGINE = "paddle_lite_arm_benchmark_bin"

GET_BENCHMARK_BIN = (
    "Get benchmark_bin by building Paddle Lite 2.13 from source: `./lite/tools/build_android.sh --arch=armv8 "
    "--toolchain=clang --with_benchmark=ON full_publish` (the binary lands in "
    "build.lite.android.armv8.clang/lite/api/tools/benchmark/benchmark_bin; --arch=armv7 for 32-bit phones), "
    "or download one from https://github.com/PaddlePaddle/Paddle-Lite/releases if your version offers it.")
ADB_HINT = ("Install the Android SDK platform-tools (https://developer.android.com/tools/releases/platform-tools, "
            "or `sudo apt install adb`) and put adb on PATH, or pass --adb /path/to/adb.")
NO_DEVICE_HINT = ("Connect the phone by USB, enable Developer options > USB debugging, accept the "
                  "'Allow USB debugging' prompt on the phone, and check that `adb devices` lists it as 'device'.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark a ppliteformer .nb model on an Android phone over adb with Paddle Lite's "
                    "benchmark_bin, and write the latency as JSON.",
        epilog="benchmark_bin: " + GET_BENCHMARK_BIN + " Example: %(prog)s --nb out/model.nb "
               "--benchmark-bin benchmark_bin --out android.json --dry-run",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--nb", help="the .nb model file to benchmark")
    model.add_argument("--bundle", help="a model folder made by 'ppliteformer convert'; its model.nb is used")
    parser.add_argument("--benchmark-bin", required=True,
                        help="Paddle Lite's benchmark_bin built for Android armv8 (or armv7). "
                             "Build: ./lite/tools/build_android.sh --arch=armv8 --toolchain=clang "
                             "--with_benchmark=ON full_publish, or see the Paddle Lite GitHub releases page")
    parser.add_argument("--serial", help="the phone's adb serial (adb -s); needed when several are connected")
    parser.add_argument("--adb", default="adb", help="the adb program")
    parser.add_argument("--input-shape", default=None,
                        help="shape of each of the 4 inputs (input_ids, token_type_ids, position_ids, "
                             "attention_mask), e.g. 1,128; or all four separated by ':'; default: batch 1 of the "
                             f"model's exported length (max_seq_len in {META_NAME} beside the .nb)")
    parser.add_argument("--input-data-type", default=None,
                        help="benchmark_bin --input_data_type (v2.13+); default: the model's (id_dtype in "
                             f"{META_NAME} beside the .nb, else {DEFAULT_INPUT_DATA_TYPE}); '' leaves the flag out "
                             "for older builds")
    parser.add_argument("--threads", type=_common.positive_int, default=1, help="CPU threads")
    parser.add_argument("--power-mode", type=_power_mode, default=0,
                        help="0 LITE_POWER_HIGH (big cores), 1 LITE_POWER_LOW, 2 LITE_POWER_FULL, 3 LITE_POWER_NO_BIND")
    parser.add_argument("--warmup", type=_common.non_negative_int, default=10, help="untimed runs first")
    parser.add_argument("--repeats", type=_common.positive_int, default=30, help="timed runs")
    parser.add_argument("--device-dir", default="/data/local/tmp/ppliteformer",
                        help="folder on the phone to copy the model and benchmark_bin to")
    _common.add_common_arguments(parser, default_timeout=300)
    return parser


def _power_mode(text: str) -> int:
    value = _common.non_negative_int(text)
    if value not in POWER_MODES:
        raise argparse.ArgumentTypeError(f"must be 0, 1, 2 or 3 ({', '.join(f'{k}={v}' for k, v in POWER_MODES.items())}), "
                                         f"got {text!r}")
    return value


def input_shape_flag(text: str) -> str:
    """"1,128" -> "1,128:1,128:1,128:1,128" (one shape per model input)."""
    shapes = [part.strip() for part in text.split(":")]
    if len(shapes) == 1:
        shapes = shapes * len(INPUT_NAMES)
    if len(shapes) != len(INPUT_NAMES):
        raise ToolError(f"--input-shape {text!r} gives {len(shapes)} shapes; the model has {len(INPUT_NAMES)} "
                        f"inputs ({', '.join(INPUT_NAMES)}). Give one shape such as 1,128 for all of them, "
                        "or four separated by ':'.")
    for shape in shapes:
        if not re.fullmatch(r"[1-9]\d*(,[1-9]\d*)*", shape):
            raise ToolError(f"--input-shape {text!r}: {shape!r} is not a shape; use positive whole numbers "
                            "separated by commas, e.g. 1,128 (batch 1, 128 tokens).")
    return ":".join(shapes)


def model_input_data_type(meta) -> str:
    """benchmark_bin's --input_data_type for the model: its id dtype from its meta (None: the default)."""
    if meta is None:
        return DEFAULT_INPUT_DATA_TYPE
    id_dtype = meta.get("id_dtype", "int64")
    if id_dtype not in ("int64", "int32"):
        raise ToolError(f"{META_NAME} beside the .nb gives id_dtype {str(id_dtype)[:20]!r}, not int64 or int32; "
                        "convert the model again with 'ppliteformer convert --target arm'.")
    return ":".join([id_dtype] * 3 + ["float32"])


def model_meta(nb_path: str, dry_run: bool):
    """The meta file beside the .nb, which must say it is an arm model: an x86 .nb is refused before
    anything is pushed. A dry run without one (no files needed) gets None and the defaults."""
    folder = os.path.dirname(os.path.abspath(nb_path))
    if dry_run and not os.path.isfile(os.path.join(folder, META_NAME)):
        return None
    return _common.require_arm_model(folder)


def validate(args) -> None:
    args.nb_path = args.nb or os.path.join(args.bundle, "model.nb")
    meta = model_meta(args.nb_path, args.dry_run)
    if args.input_shape is None:
        args.input_shape = f"1,{meta['max_seq_len']}" if meta else DEFAULT_INPUT_SHAPE
    args.input_shape_flag = input_shape_flag(args.input_shape)
    if args.input_data_type is None:
        args.input_data_type = model_input_data_type(meta)
    if args.input_data_type:
        types = args.input_data_type.split(":")
        if len(types) != len(INPUT_NAMES) or any(t not in ("float32", "int32", "int64") for t in types):
            raise ToolError(f"--input-data-type {args.input_data_type!r} must be four of float32/int32/int64 "
                            f"separated by ':' (default {DEFAULT_INPUT_DATA_TYPE}), or '' to leave it out.")
    if not args.device_dir.startswith("/") or not re.fullmatch(r"[A-Za-z0-9_./-]+", args.device_dir):
        raise ToolError(f"--device-dir {args.device_dir!r} must be an absolute path on the phone made of "
                        "letters, digits and _ . / - (e.g. /data/local/tmp/ppliteformer).")
    if args.serial is not None and not re.fullmatch(r"[A-Za-z0-9_.:\-]+", args.serial):
        raise ToolError(f"--serial {args.serial!r} does not look like an adb serial; copy it from `adb devices`.")


def benchmark_command(args, device_dir: str) -> str:
    """The shell command line run on the phone (one string: adb shell hands it to sh)."""
    nb = posixpath.join(device_dir, "model.nb")
    result = posixpath.join(device_dir, RESULT_NAME)
    flags = [f"--optimized_model_file={nb}", f"--input_shape={args.input_shape_flag}"]
    if args.input_data_type:
        flags.append(f"--input_data_type={args.input_data_type}")
    flags += ["--backend=arm", f"--warmup={args.warmup}", f"--repeats={args.repeats}",
              f"--threads={args.threads}", f"--power_mode={args.power_mode}", f"--result_path={result}"]
    return (f"cd {quote_command([device_dir])} && rm -f {quote_command([result])} && "
            + quote_command(["./benchmark_bin"] + flags))


def parse_adb_devices(text: str) -> dict:
    """`adb devices` output -> {serial: state} ("device", "unauthorized", "offline", ...)."""
    devices, listing = {}, False
    for line in text.splitlines():
        if line.startswith("List of devices attached"):
            listing = True
            continue
        if listing and line.strip() and not line.startswith("*"):
            parts = line.split()
            devices[parts[0]] = parts[1] if len(parts) > 1 else "unknown"
    return devices


def pick_serial(devices: dict, wanted) -> str:
    ready = [serial for serial, state in devices.items() if state == "device"]
    if wanted:
        state = devices.get(wanted)
        if state is None:
            listed = ", ".join(f"{s} ({st})" for s, st in devices.items()) or "none"
            raise ToolError(f"no device with serial {wanted!r} is connected (adb devices lists: {listed}). "
                            f"Check --serial against `adb devices`. {NO_DEVICE_HINT}")
        if state != "device":
            raise ToolError(_state_problem(wanted, state))
        return wanted
    if not devices:
        raise ToolError(f"no Android device connected: `adb devices` lists none. {NO_DEVICE_HINT}")
    if not ready:
        serial, state = next(iter(devices.items()))
        raise ToolError(_state_problem(serial, state))
    if len(ready) > 1:
        raise ToolError(f"{len(ready)} Android devices are connected ({', '.join(ready)}); choose one with "
                        "--serial SERIAL.")
    return ready[0]


def _state_problem(serial: str, state: str) -> str:
    if state == "unauthorized":
        return (f"device {serial} is 'unauthorized': unlock the phone and accept the 'Allow USB debugging' "
                "prompt (tick 'Always allow'), then run again.")
    if state == "no":  # "no permissions" split on whitespace
        state = "no permissions"
    return (f"device {serial} is '{state}', not ready. Reconnect the USB cable, run `adb kill-server` and "
            f"`adb devices`, and try again. {NO_DEVICE_HINT}")


def run(args, runner: _common.Runner, local_tmp: str) -> dict:
    adb = args.adb
    if args.dry_run:
        runner.run([adb, "devices"], "listing adb devices")
        serial = args.serial
    else:
        listing = runner.check([adb, "devices"], "listing adb devices (`adb devices`)", ADB_HINT)
        serial = pick_serial(parse_adb_devices(listing.stdout), args.serial)
    base = [adb] + (["-s", serial] if serial else [])
    dev_dir = args.device_dir
    dev_nb, dev_bin = posixpath.join(dev_dir, "model.nb"), posixpath.join(dev_dir, "benchmark_bin")
    dev_result = posixpath.join(dev_dir, RESULT_NAME)
    local_result = os.path.join(local_tmp, RESULT_NAME)

    model = runner.run(base + ["shell", "getprop", "ro.product.model"], "reading the phone model").stdout.strip()
    runner.check(base + ["shell", "mkdir", "-p", dev_dir], f"creating {dev_dir} on the phone",
                 "Choose a writable --device-dir (under /data/local/tmp).")
    runner.check(base + ["push", args.nb_path, dev_nb], "pushing the model to the phone",
                 "Check the free space on the phone and the USB connection.")
    runner.check(base + ["push", args.benchmark_bin, dev_bin], "pushing benchmark_bin to the phone")
    runner.check(base + ["shell", "chmod", "+x", dev_bin], "making benchmark_bin executable")
    bench = runner.check(base + ["shell", benchmark_command(args, dev_dir)], "running benchmark_bin on the phone",
                         "Check that benchmark_bin was built for this phone's ABI (armv8 = arm64-v8a, "
                         "armv7 = armeabi-v7a) from the same Paddle Lite version that made the .nb.")
    runner.check(base + ["pull", dev_result, local_result], "pulling the benchmark result from the phone",
                 "benchmark_bin probably failed before writing it; see its output above. " + _said_bench(bench))
    if args.dry_run:
        return {}
    timing = _parse_result(local_result, bench)
    latency = {"median_ms": None, "p90_ms": None, "min_ms": timing["min_ms"], "avg_ms": timing["avg_ms"],
               "max_ms": timing["max_ms"], "first_ms": timing.get("first_ms"), "init_ms": timing.get("init_ms"),
               "threads": args.threads, "warmup": args.warmup, "repeats": args.repeats,
               "power_mode": args.power_mode, "power_mode_name": POWER_MODES[args.power_mode],
               "input_shape": args.input_shape_flag, "input_data_type": args.input_data_type or None,
               "engine": ENGINE, "benchmark_bin_version": timing.get("version"),
               "note": "benchmark_bin reports min/avg/max over the timed runs only; median_ms and p90_ms "
                       "are not available from it"}
    device = {"kind": "android", "serial": serial, "model": model or None}
    device.update({k: v for k, v in timing.get("device_info", {}).items() if k != "model"})
    return {"device": device, "selfcheck": None, "latency": latency, "source": "run_on_android",
            "model_file": os.path.abspath(args.nb_path)}


def _said_bench(bench) -> str:
    return _common.said(_common.Result(0, bench.stdout, bench.stderr)) if bench.stdout or bench.stderr else ""


def _parse_result(local_result: str, bench) -> dict:
    try:
        with open(local_result, encoding="utf-8", errors="replace") as f:
            return parse_benchmark_bin_output(f.read())
    except (OSError, ValueError) as file_problem:
        try:  # benchmark_bin prints the same block to stdout
            return parse_benchmark_bin_output(bench.stdout)
        except ValueError:
            raise ToolError(f"benchmark_bin ran but its result could not be read ({file_problem}). Its output: "
                            f"{_said_bench(bench)} It prints its usage and exits 0 when a flag is wrong; an "
                            "older benchmark_bin (before Paddle Lite 2.13) does not know --input_data_type.") from None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    validate(args)
    _common.check_out_path(args.out, args.force)
    if not args.dry_run:
        _common.require_files([
            (args.nb_path, "Give the .nb made by 'ppliteformer convert' (--nb FILE) or its folder (--bundle DIR)."),
            (args.benchmark_bin, GET_BENCHMARK_BIN)])
        _common.require_tools([args.adb], {args.adb: ADB_HINT})
    runner = _common.Runner(args.timeout, args.dry_run)
    with tempfile.TemporaryDirectory(prefix="ppliteformer_android_") as local_tmp:
        results = run(args, runner, local_tmp)
    if args.dry_run:
        return _common.EXIT_OK
    _common.write_json_atomic(args.out, results, args.force)
    lat = results["latency"]
    print(f"{results['device']['model'] or results['device']['serial']}: avg {lat['avg_ms']:.3f} ms, "
          f"min {lat['min_ms']:.3f} ms, max {lat['max_ms']:.3f} ms ({lat['threads']} thread(s), "
          f"{lat['repeats']} runs) -> {args.out}")
    return _common.EXIT_OK


if __name__ == "__main__":
    sys.exit(_common.main_guard(main))
