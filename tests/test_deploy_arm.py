"""deploy/arm: the adb / ssh deployment scripts and the benchmark_bin output parser.

No phone here: run_on_android.py is run as a subprocess in --dry-run, with an empty PATH, or
with a fake `adb` first on PATH that simulates a phone. run_on_board.py meets the real ssh
client here (dry runs, an unreachable port); its runs against a board, over real ssh to an
emulated aarch64 Debian, are in tests/test_board.py. Fast (a few seconds).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ppliteformer.device import DEVICE_DIR

pytestmark = pytest.mark.unit

ARM = DEVICE_DIR  # the scripts ship inside the package (and in every bundle)
ANDROID = ARM / "run_on_android.py"
BOARD = ARM / "run_on_board.py"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"deploy_arm_{name}", ARM / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


parser_mod = _load("benchmark_bin_output")
android_mod = _load("run_on_android")

# benchmark_bin's result text exactly as lite/api/tools/benchmark/benchmark.cc (release/v2.13)
# writes it on Android: timings are std::fixed, precision 3, setw(12) left-aligned.
RESULT_TEXT = textwrap.dedent("""\

    ======= Device Info =======
    Brand: google
    Device: panther
    Model: Pixel 7
    Android Version: 14
    Android API Level: 34

    ======= Model Info =======
    optimized_model_file: /data/local/tmp/ppliteformer/model.nb
    input_data_path: All 1.f
    input_shape: 1,128:1,128:1,128:1,128
    output tensor num: 1
    --- output tensor 0 ---
    output shape(NCHW): 1 2
    output tensor 0 elem num: 2
    output tensor 0 mean value: 0.012
    output tensor 0 standard deviation: 0.0431

    ======= Runtime Info =======
    benchmark_bin version: 7f8d2a1
    threads: 4
    power_mode: 0
    warmup: 10
    repeats: 30
    result_path: /data/local/tmp/ppliteformer/benchmark_result.txt

    ======= Backend Info =======
    backend: arm
    cpu precision: fp32

    ======= Perf Info =======
    Time(unit: ms):
    init  = 15.305      
    first = 43.670      
    min   = 32.577      
    max   = 32.895      
    avg   = 32.723      
    """)


# ---------------------------------------------------------------- helpers

def run_script(script, args, env_path=None, extra_env=None, timeout=30):
    env = dict(os.environ)
    if env_path is not None:
        env["PATH"] = str(env_path)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, str(script)] + [str(a) for a in args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def assert_user_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stderr.lstrip().startswith(("error:", "usage:")), proc.stderr
    message = " ".join(proc.stderr.split())  # the paragraph is wrapped for the terminal
    for needle in needles:
        assert needle in message, (needle, proc.stderr)


def make_fake(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


FAKE_ADB = """\
import json, os, shutil, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "sleep":
    time.sleep(30)
if args[:1] == ["-s"]:
    args = args[2:]
if args == ["devices"]:
    print("List of devices attached")
    if mode == "ok":
        print("FAKE123\\tdevice")
    elif mode == "unauthorized":
        print("FAKE123\\tunauthorized")
    print()
elif args[:1] == ["push"]:
    if not os.path.isfile(args[1]):
        sys.exit("adb: error: cannot stat '%s': No such file or directory" % args[1])
    print("%s: 1 file pushed." % args[1])
elif args[:1] == ["pull"]:
    shutil.copy(os.environ["FAKE_RESULT"], args[2])
    print("%s: 1 file pulled." % args[1])
elif args[:3] == ["shell", "getprop", "ro.product.model"]:
    print("Pixel 7")
elif args[:1] == ["shell"] and "./benchmark_bin" in args[-1]:
    with open(os.environ["FAKE_RESULT"]) as f:
        print(f.read())
"""

ARM_META = {"target": "arm", "max_seq_len": 48, "id_dtype": "int64"}


@pytest.fixture
def model_files(tmp_path):
    nb = tmp_path / "model.nb"
    nb.write_bytes(b"\x00v fake nb")
    (tmp_path / "ppliteformer_meta.json").write_text(json.dumps(ARM_META))
    bench_bin = tmp_path / "benchmark_bin"
    bench_bin.write_bytes(b"\x7fELF fake")
    return nb, bench_bin


@pytest.fixture
def bundle(tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name in ("model.nb", "vocab.txt", "predict.py", "lite_runtime.py", "model_files.py", "tag_spans.py",
                 "selfcheck.json"):
        (folder / name).write_text("x")
    (folder / "ppliteformer_meta.json").write_text(json.dumps(ARM_META))
    return folder


@pytest.fixture
def fake_env(tmp_path):
    """A bin folder for fake tools, put first on PATH, and the env vars they read."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    result = tmp_path / "canned_result.txt"
    result.write_text(RESULT_TEXT)
    log = tmp_path / "fake_calls.log"
    env = {"FAKE_LOG": str(log), "FAKE_RESULT": str(result)}
    return bin_dir, f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", env, log


def calls(log: Path):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# ---------------------------------------------------------------- parser

def test_parser_reads_real_format():
    parsed = parser_mod.parse_benchmark_bin_output(RESULT_TEXT)
    assert parsed["avg_ms"] == pytest.approx(32.723)
    assert parsed["min_ms"] == pytest.approx(32.577)
    assert parsed["max_ms"] == pytest.approx(32.895)
    assert parsed["first_ms"] == pytest.approx(43.670)
    assert parsed["init_ms"] == pytest.approx(15.305)
    assert parsed["threads"] == 4 and parsed["warmup"] == 10 and parsed["repeats"] == 30
    assert parsed["power_mode"] == 0 and parsed["backend"] == "arm" and parsed["version"] == "7f8d2a1"
    assert parsed["input_shape"] == "1,128:1,128:1,128:1,128"
    assert parsed["device_info"]["model"] == "Pixel 7"


def test_parser_memory_block_and_appended_runs():
    second = RESULT_TEXT.replace("avg   = 32.723", "avg   = 30.001").replace("threads: 4", "threads: 2")
    second += "\nMemory Usage(unit: MB):\ninit  = 12.500      \npeak  = 80.250      \n"
    parsed = parser_mod.parse_benchmark_bin_output(RESULT_TEXT + second)  # --result_path appends
    assert parsed["avg_ms"] == pytest.approx(30.001)
    assert parsed["threads"] == 2
    assert parsed["init_ms"] == pytest.approx(15.305)  # Memory "init" does not clobber the time "init"
    assert parsed["memory_init_mb"] == pytest.approx(12.5)
    assert parsed["memory_peak_mb"] == pytest.approx(80.25)


@pytest.mark.parametrize("text", ["", "Segmentation fault\n", "Must set --backend option!\nusage: ...",
                                  RESULT_TEXT.split("avg   =")[0]])
def test_parser_rejects_text_without_timings(text):
    with pytest.raises(ValueError, match="Perf Info"):
        parser_mod.parse_benchmark_bin_output(text)


def test_parser_rejects_nan():
    with pytest.raises(ValueError, match="avg"):
        parser_mod.parse_benchmark_bin_output(RESULT_TEXT.replace("32.723", "nan"))


# ---------------------------------------------------------------- dry runs

def test_android_dry_run_prints_adb_commands(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()  # no adb anywhere, and model/benchmark_bin do not exist: dry run needs neither
    proc = run_script(ANDROID, ["--nb", "out/model.nb", "--benchmark-bin", "bin/benchmark_bin", "--serial", "SER1",
                                "--threads", "4", "--power-mode", "2", "--warmup", "3", "--repeats", "7",
                                "--out", tmp_path / "r.json", "--dry-run"], env_path=empty)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "adb devices"
    assert "adb -s SER1 shell getprop ro.product.model" in lines
    assert "adb -s SER1 push out/model.nb /data/local/tmp/ppliteformer/model.nb" in lines
    assert "adb -s SER1 push bin/benchmark_bin /data/local/tmp/ppliteformer/benchmark_bin" in lines
    assert "adb -s SER1 shell chmod +x /data/local/tmp/ppliteformer/benchmark_bin" in lines
    bench = next(line for line in lines if "./benchmark_bin" in line)
    assert bench.startswith("adb -s SER1 shell '")
    for flag in ("--optimized_model_file=/data/local/tmp/ppliteformer/model.nb",
                 "--input_shape=1,128:1,128:1,128:1,128", "--input_data_type=int64:int64:int64:float32",
                 "--backend=arm", "--warmup=3", "--repeats=7", "--threads=4", "--power_mode=2",
                 "--result_path=/data/local/tmp/ppliteformer/benchmark_result.txt"):
        assert flag in bench
    assert "rm -f /data/local/tmp/ppliteformer/benchmark_result.txt" in bench  # benchmark_bin appends
    assert lines[-1].startswith("adb -s SER1 pull /data/local/tmp/ppliteformer/benchmark_result.txt ")
    assert not (tmp_path / "r.json").exists()


def test_android_dry_run_validates_arguments(tmp_path):
    base = ["--nb", "m.nb", "--benchmark-bin", "b", "--out", tmp_path / "r.json", "--dry-run"]
    assert_user_error(run_script(ANDROID, base + ["--power-mode", "4"]), "--power-mode")
    assert_user_error(run_script(ANDROID, base + ["--input-shape", "1,128:1,128"]), "4 inputs")
    proc = run_script(ANDROID, base + ["--input-shape", "1,64", "--device-dir", "/data/local/tmp/x"])
    assert proc.returncode == 0 and "--input_shape=1,64:1,64:1,64:1,64" in proc.stdout


def test_board_dry_run_prints_ssh_and_scp_commands(tmp_path, bundle):
    empty = tmp_path / "empty"
    empty.mkdir()
    (bundle / "bench.py").write_text("x")
    proc = run_script(BOARD, ["--bundle", bundle, "--host", "pi@board", "--threads", "4", "--warmup", "2",
                              "--repeats", "9", "--python", "python3.9", "--remote-dir", "/tmp/plf",
                              "--ssh-opt", "Port=2222", "--out", tmp_path / "r.json", "--dry-run"], env_path=empty)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    ssh = "ssh -o BatchMode=yes -o ConnectTimeout=10 -o Port=2222 pi@board "
    assert lines[0] == ssh + "'uname -a'"
    assert ssh + "'mkdir -p /tmp/plf'" in lines
    scp = next(line for line in lines if line.startswith("scp "))
    assert scp.startswith("scp -r -o BatchMode=yes -o ConnectTimeout=10 -o Port=2222 ")
    for name in ("model.nb", "vocab.txt", "ppliteformer_meta.json", "predict.py", "lite_runtime.py", "model_files.py",
                 "tag_spans.py", "selfcheck.json", "bench.py"):
        assert str(bundle / name) in scp
    assert scp.endswith(" pi@board:/tmp/plf/")
    assert ssh + "'cd /tmp/plf && python3.9 predict.py --model . --selfcheck selfcheck.json --threads 4 --json'" \
        in lines
    assert ssh + "'cd /tmp/plf && python3.9 predict.py --model . --bench --threads 4 --warmup 2 --repeats 9 --json'" \
        in lines


# ---------------------------------------------------------------- missing tools / files / devices

def test_android_without_adb_on_path(tmp_path, model_files):
    nb, bench_bin = model_files
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json"], env_path=empty)
    assert_user_error(proc, "'adb' not found on PATH", "platform-tools")


def test_board_without_ssh_on_path(tmp_path, bundle):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_script(BOARD, ["--bundle", bundle, "--host", "pi@board", "--out", tmp_path / "r.json"], env_path=empty)
    assert_user_error(proc, "'ssh' and 'scp' not found on PATH", "openssh-client")


def test_board_missing_bundle_file(tmp_path, bundle):
    (bundle / "selfcheck.json").unlink()
    proc = run_script(BOARD, ["--bundle", bundle, "--host", "pi@board", "--out", tmp_path / "r.json"])
    assert_user_error(proc, "selfcheck.json not found")


def test_android_missing_benchmark_bin(tmp_path, model_files):
    nb, _ = model_files
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", tmp_path / "nope" / "benchmark_bin",
                                "--out", tmp_path / "r.json"])
    assert_user_error(proc, "benchmark_bin not found", "build_android.sh", "--with_benchmark=ON")


@pytest.mark.parametrize("mode, messages", [("nodevices", ("no Android device connected", "USB debugging")),
                                           ("unauthorized", ("unauthorized", "Allow USB debugging"))])
def test_android_without_a_usable_device(tmp_path, model_files, fake_env, mode, messages):
    nb, bench_bin = model_files
    bin_dir, path, env, log = fake_env
    make_fake(bin_dir, "adb", FAKE_ADB)
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json"],
                      env_path=path, extra_env=dict(env, FAKE_MODE=mode))
    assert_user_error(proc, *messages)
    assert calls(log) == [["devices"]]  # stopped before pushing anything


def test_android_adb_timeout_does_not_hang(tmp_path, model_files, fake_env):
    nb, bench_bin = model_files
    bin_dir, path, env, _ = fake_env
    make_fake(bin_dir, "adb", FAKE_ADB)
    start = time.monotonic()
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json",
                                "--timeout", "1"], env_path=path, extra_env=dict(env, FAKE_MODE="sleep"), timeout=20)
    assert time.monotonic() - start < 10
    assert_user_error(proc, "timed out after 1 s", "adb devices", "--timeout")


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client here")
def test_board_unreachable(tmp_path, bundle):
    """The real ssh client against a loopback port nobody listens on: ssh's exit 255 becomes the hint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    proc = run_script(BOARD, ["--bundle", bundle, "--host", "pi@127.0.0.1", "--ssh-opt", f"Port={closed_port}",
                              "--out", tmp_path / "r.json"])
    assert_user_error(proc, "cannot reach pi@127.0.0.1 over ssh", "Connection refused", "ssh-copy-id")


# ---------------------------------------------------------------- full simulated runs

def test_android_full_fake_run(tmp_path, model_files, fake_env):
    nb, bench_bin = model_files
    bin_dir, path, env, log = fake_env
    make_fake(bin_dir, "adb", FAKE_ADB)
    out = tmp_path / "android.json"
    args = ["--nb", nb, "--benchmark-bin", bench_bin, "--threads", "4", "--out", out]
    proc = run_script(ANDROID, args, env_path=path, extra_env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result) >= {"device", "selfcheck", "latency", "source"}
    assert result["source"] == "run_on_android"
    assert result["device"]["kind"] == "android"
    assert result["device"]["serial"] == "FAKE123" and result["device"]["model"] == "Pixel 7"
    latency = result["latency"]
    assert latency["engine"] == "paddle_lite_arm_benchmark_bin"
    assert latency["avg_ms"] == pytest.approx(32.723) and latency["min_ms"] == pytest.approx(32.577)
    assert latency["max_ms"] == pytest.approx(32.895)
    assert latency["median_ms"] is None and latency["p90_ms"] is None
    assert (latency["threads"], latency["warmup"], latency["repeats"], latency["power_mode"]) == (4, 10, 30, 0)
    made = calls(log)
    assert made[0] == ["devices"]
    assert all(call[:2] == ["-s", "FAKE123"] for call in made[1:])
    assert ["-s", "FAKE123", "push", str(nb), "/data/local/tmp/ppliteformer/model.nb"] in made
    assert [c[2] for c in made[1:]] == ["shell", "shell", "push", "push", "shell", "shell", "pull"]
    assert not list(tmp_path.glob(".android.json.*"))  # no temp file left behind

    again = run_script(ANDROID, args, env_path=path, extra_env=env)
    assert_user_error(again, "already exists", "--force")
    assert run_script(ANDROID, args + ["--force"], env_path=path, extra_env=env).returncode == 0


def test_android_benchmark_bin_usage_output_is_an_error(tmp_path, model_files, fake_env):
    nb, bench_bin = model_files
    bin_dir, path, env, _ = fake_env
    make_fake(bin_dir, "adb", FAKE_ADB)
    Path(env["FAKE_RESULT"]).write_text("Must set --backend option!\nUsage: ./benchmark_bin ...\n")
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json"],
                      env_path=path, extra_env=env)
    assert_user_error(proc, "benchmark_bin ran but its result could not be read")
    assert not (tmp_path / "r.json").exists()


def test_scripts_are_executable_stdlib_only():
    for script in (ANDROID, BOARD):
        assert os.access(script, os.X_OK)
        assert script.read_text().startswith("#!/usr/bin/env python3\n")
    # run with isolated mode (-I: no site-packages, no user site): standard library only
    for script in (ANDROID, BOARD):
        proc = subprocess.run([sys.executable, "-I", "-S", str(script), "--help"], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0 and "--dry-run" in proc.stdout, proc.stderr
    help_text = subprocess.run([sys.executable, "-I", "-S", str(ANDROID), "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    assert "./lite/tools/build_android.sh --arch=armv8 --toolchain=clang --with_benchmark=ON full_publish" \
        in " ".join(help_text.split())
    assert "github.com/PaddlePaddle/Paddle-Lite/releases" in help_text


# ---------------------------------------------------------------- adb devices parsing

def test_parse_adb_devices_and_pick_serial():
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
            "List of devices attached\nAAA\tdevice\nBBB\tunauthorized\nCCC\tno permissions (user in plugdev)\n\n")
    devices = android_mod.parse_adb_devices(text)
    assert devices == {"AAA": "device", "BBB": "unauthorized", "CCC": "no"}
    assert android_mod.pick_serial(devices, None) == "AAA"
    with pytest.raises(android_mod.ToolError, match="unauthorized"):
        android_mod.pick_serial(devices, "BBB")
    with pytest.raises(android_mod.ToolError, match="--serial"):
        android_mod.pick_serial({"AAA": "device", "DDD": "device"}, None)
    with pytest.raises(android_mod.ToolError, match="no device with serial"):
        android_mod.pick_serial(devices, "ZZZ")


@pytest.mark.unit
def test_android_input_data_type_follows_the_models_id_dtype():
    """A model exported with int32 ids must be fed int32 by benchmark_bin too, or it times garbage lookups."""
    assert android_mod.model_input_data_type(None) == "int64:int64:int64:float32"
    assert android_mod.model_input_data_type({"id_dtype": "int32"}) == "int32:int32:int32:float32"


def test_android_input_shape_follows_the_models_length(tmp_path, model_files):
    nb, bench_bin = model_files
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json", "--dry-run"])
    assert proc.returncode == 0 and "--input_shape=1,48:1,48:1,48:1,48" in proc.stdout, proc.stderr


@pytest.mark.parametrize("meta, message", [({**ARM_META, "target": "x86"}, "converted for x86"),
                                           ({"max_seq_len": 48}, "does not say which CPU"), (None, "not found")])
def test_android_refuses_a_model_not_known_to_be_arm_before_adb_runs(tmp_path, model_files, fake_env, meta, message):
    nb, bench_bin = model_files
    bin_dir, path, env, log = fake_env
    make_fake(bin_dir, "adb", FAKE_ADB)
    meta_file = nb.parent / "ppliteformer_meta.json"
    meta_file.unlink()
    if meta is not None:
        meta_file.write_text(json.dumps(meta))
    proc = run_script(ANDROID, ["--nb", nb, "--benchmark-bin", bench_bin, "--out", tmp_path / "r.json"],
                      env_path=path, extra_env=env)
    assert_user_error(proc, message)
    assert not log.exists() or calls(log) == []
