"""Where each arm .nb's aarch64 instructions go, by Lite kernel, for a finished run's work directory.

Every run's report has this split already (stage *arm_evaluate, report.json's arm_split); this script
measures it again for a work directory made before it did, or at other lengths, with the product's own
counter (ppliteformer/arm/op_split.py: a qemu plugin marks each turn of RuntimeProgram::Run's loop, so
each op's count is its kernel's). For every artifact (its arm .nb, and its arm_fp16 .nb where there is
one), at the bench length and the test split's median length, with the A55 and the generic CPU identity
(fp16 .nb files: A55 only).

    .venv/bin/python benchmarks/arm_op_split.py work/full_mobile --out benchmarks/arm_op_split.json

Figures are instruction counts under emulation, not times.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ppliteformer.arm.emulator import ArmEmulator
from ppliteformer.arm.toolchain import ensure_toolchain
from ppliteformer.bench.latency import synthetic_inputs
from ppliteformer.device.model_files import read_id_dtype
from ppliteformer.layout import NB_FILE, convert_folder
from ppliteformer.models.modeling import load_tokenizer
from ppliteformer.steps import model_folder

RUNS = 5


def split(nb: Path, toolchain, cpu: str, seq_len: int, vocab: int, id_dtype: str) -> dict:
    counted = ArmEmulator(toolchain, cpu).instructions(nb, synthetic_inputs(1, seq_len, vocab, id_dtype=id_dtype), RUNS)
    if counted["split"] is None:
        sys.exit(f"{nb}: the counter found no turns of Lite's program loop (not Paddle Lite v2.13-rc?).")
    return {"cpu_identity": counted["cpu_identity"], "seq_len": seq_len,
            "instructions_per_inference": counted["instructions_per_inference"], "groups": counted["split"]}


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
                           **split(nb, tools[fp16], cpu, seq_len, vocab, id_dtype)}
                    results.append(row)
                    total = row["instructions_per_inference"]
                    shares = "  ".join(f"{k} {v / total:.0%}" for k, v in row["groups"].items())
                    print(f"{row['artifact']:15s} {target:8s} {row['cpu_identity']:8s} seq {seq_len:3d}: "
                          f"{total / 1e6:6.2f} M  {shares}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"workdir": str(args.workdir), "runtime": "paddle_lite_arm_kernels_qemu",
                                        "splits": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
