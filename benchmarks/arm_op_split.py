"""Where each arm .nb's aarch64 instructions go, by Lite kernel (#20 item 1, as a benchmark for now).

For every artifact of a finished run (its arm .nb, and its arm_fp16 .nb where there is one), runs
Paddle Lite's ARM kernels under qemu with a counting plugin (arm_op_split.c) that snapshots the
instruction count at each turn of RuntimeProgram::Run's loop: one turn per op, in the order the .nb's
topology lists them, so the per-op counts sum exactly to the span of one Run(). Groups them (fc, matmul,
softmax, layer_norm, gelu, lookup, casts/calib, the rest) at the bench length and the test split's median
length, with the A55 and the generic CPU identity (fp16 .nb files: A55 only).

    .venv/bin/python benchmarks/arm_op_split.py work/full_mobile --out benchmarks/arm_op_split.json

Tied to Paddle Lite v2.13-rc's RuntimeProgram::Run (the loop head is found in the library by its
bytes); the script stops if the marks do not come to one per op per run. Figures are instruction
counts under emulation, not times.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ppliteformer.arm.emulator import ArmEmulator, write_requests
from ppliteformer.arm.toolchain import ensure_toolchain
from ppliteformer.bench.latency import synthetic_inputs
from ppliteformer.device.model_files import read_id_dtype
from ppliteformer.layout import NB_FILE, convert_folder
from ppliteformer.models.modeling import load_tokenizer
from ppliteformer.steps import model_folder

HERE = Path(__file__).resolve().parent
# ldp x19, x20, [x0]; cmp x20, x19 (the loop head); b.ne; ldp; ldp; ret -- RuntimeProgram::Run's first lines
LOOP_SIGNATURE = bytes.fromhex("135040a9" "9f0213eb" "81000054" "f57b41a9" "f353c7a8" "c0035fd6")
GROUPS = (("fc", ("fc",)), ("matmul", ("matmul", "matmul_v2", "mul")), ("softmax", ("softmax",)),
          ("layer_norm", ("layer_norm",)), ("gelu", ("gelu",)),
          ("lookup", ("lookup_table", "lookup_table_v2", "lookup_table_dequant")), ("casts/calib", ("calib", "cast")))
RUNS = 3


def build_plugin(folder: Path) -> Path:
    plugin = folder / "arm_op_split.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(plugin), str(HERE / "arm_op_split.c")], check=True)
    return plugin


def loop_page_offset(library: Path) -> int:
    data = library.read_bytes()
    found = [m.start() for m in re.finditer(re.escape(LOOP_SIGNATURE), data)]
    if len(found) != 1:
        sys.exit(f"{library}: RuntimeProgram::Run's loop found {len(found)} times (expected once): not Lite v2.13-rc?")
    return (found[0] + 4) & 0xFFF


def ops_in_order(nb: Path) -> list:
    """op types of the .nb's program in execution order (its topology stores them last first)."""
    data = nb.read_bytes()
    topology = data[:int.from_bytes(data[18:26], "little") + 64]
    return [m.decode() for m in re.findall(rb"([A-Za-z0-9_]+)/[A-Za-z0-9_]+/\d{1,2}/\d{1,2}/\d{1,2}", topology)][::-1]


def group_of(op: str) -> str:
    return next((name for name, ops in GROUPS if op in ops), "the rest")


def split(nb: Path, toolchain, plugin: Path, cpu: str, seq_len: int, vocab: int, id_dtype: str) -> dict:
    emulator = ArmEmulator(toolchain, cpu)
    with tempfile.TemporaryDirectory(prefix="ppl-split-") as tmp:
        requests, responses = Path(tmp) / "r.req", Path(tmp) / "r.res"
        write_requests(requests, [synthetic_inputs(1, seq_len, vocab, id_dtype=id_dtype)])
        command = [str(plugin) if part == str(toolchain.counter) else part
                   for part in emulator._command(nb, requests, responses, RUNS, count=True)]
        env = {**os.environ, "PPL_LOOP_PAGE_OFFSET": hex(loop_page_offset(toolchain.lite_library))}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    found = re.search(r"op_marks:(.*)", done.stderr)
    ops = ops_in_order(nb)
    marks = [int(x) for x in found.group(1).split()] if found else []
    if len(marks) != RUNS * (len(ops) + 1):
        sys.exit(f"{nb}: {len(marks)} loop marks for {len(ops)} ops x {RUNS} runs; the split would be wrong.")
    last = marks[-(len(ops) + 1):]  # the last run: warm
    groups = {name: 0 for name, _ in GROUPS} | {"the rest": 0}
    for op, count in zip(ops, np.diff(last)):
        groups[group_of(op)] += int(count)
    return {"cpu_identity": emulator.cpu, "seq_len": seq_len, "ops": len(ops), "run_instructions": last[-1] - last[0],
            "groups": groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = json.loads((args.workdir / "report.json").read_text())
    lengths = sorted({report["artifacts"][0]["latency_x86_lite"]["seq_len"],
                      report["artifacts"][0]["median_length_tokens"]})
    tools = {False: ensure_toolchain(), True: ensure_toolchain(fp16=True)}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        plugin = build_plugin(Path(tmp))
        for artifact in report["artifacts"]:
            folder = model_folder(args.workdir, artifact["name"])
            vocab, id_dtype = len(load_tokenizer(str(folder))), read_id_dtype(folder)
            for target, fp16 in (("arm", False), ("arm_fp16", True)):
                nb = convert_folder(args.workdir, artifact["name"]) / target / NB_FILE
                if not nb.is_file():
                    continue
                for cpu in (("a55",) if fp16 else ("a55", "emulator")):
                    for seq_len in lengths:
                        row = {"artifact": artifact["name"], "target": target,
                               **split(nb, tools[fp16], plugin, cpu, seq_len, vocab, id_dtype)}
                        results.append(row)
                        shares = "  ".join(f"{k} {v / row['run_instructions']:.0%}" for k, v in row["groups"].items())
                        print(f"{row['artifact']:15s} {target:8s} {row['cpu_identity']:8s} seq {seq_len:3d}: "
                              f"{row['run_instructions'] / 1e6:6.2f} M  {shares}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"workdir": str(args.workdir), "runtime": "paddle_lite_arm_kernels_qemu",
                                        "splits": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
