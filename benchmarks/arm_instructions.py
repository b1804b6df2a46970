"""aarch64 instructions per inference of a run's arm `.nb` files, with both CPU identities.

    .venv/bin/python benchmarks/arm_instructions.py WORKDIR ARTIFACT [ARTIFACT ...] [--seq-len 128 --runs 5]

For each artifact of a finished ppliteformer work directory, counts the instructions Paddle
Lite's ARM kernels execute under qemu-aarch64 (ArmEmulator.instructions: the average of runs
2..RUNS of one process) on the bench's synthetic input, once with Lite's generic
kernels ("emulator" identity) and once with a Cortex-A55's ("a55", needs root). Prints one
JSON line per artifact and identity. Instruction counts, not times.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppliteformer.arm.emulator import ArmEmulator
from ppliteformer.arm.toolchain import ensure_toolchain
from ppliteformer.bench.latency import synthetic_inputs
from ppliteformer.layout import NB_FILE
from ppliteformer.device.model_files import VOCAB_FILE
from ppliteformer.pipeline.workflow import artifact_stage_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    toolchain = ensure_toolchain()
    for cpu in ("emulator", "a55"):
        emulator = ArmEmulator(toolchain, cpu)
        for artifact in args.artifacts:
            folder = args.workdir / artifact_stage_name(artifact, "convert") / "arm"
            vocab = len((folder / VOCAB_FILE).read_text(encoding="utf-8").splitlines())
            result = emulator.instructions(folder / NB_FILE, synthetic_inputs(1, args.seq_len, vocab), args.runs)
            print(json.dumps({"artifact": artifact, **result}), flush=True)


if __name__ == "__main__":
    main()
