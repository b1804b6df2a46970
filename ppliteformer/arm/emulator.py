"""Running an arm `.nb` on Paddle Lite's real ARM kernels here, under qemu-aarch64 (user-mode
emulation), through the project's ``ppl_run``.

Emulation proves numerics and counts instructions; it says nothing about time on a phone
(qemu runs AArch64 float SIMD in software, integer SIMD on host vector units), so no time
is measured here.

CPU identity: qemu shows the host's /proc/cpuinfo, in which Lite finds no ARM core it knows,
so it picks its generic kernels ("emulator"), which no real board runs. "a55" bind-mounts a
Cortex-A55's cpuinfo over /proc/cpuinfo in a private mount namespace (root only), so Lite
picks the kernels it would on such a board (the dotprod int8 ones; fp32 is the same). "auto"
is a55 where that mount works, else emulator.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import StageError
from .op_split import LOOP_OFFSET_ENV, loop_page_offset, ops_in_order, split_from_marks
from .toolchain import SYSROOT, ArmToolchain, NATIVE

CPU_IDENTITIES = ("auto", "emulator", "a55")
_DTYPE_CODES = {np.dtype("float32"): 0, np.dtype("int64"): 1, np.dtype("int32"): 2}


def _with_cpuinfo(cpu: str, command: list) -> list:
    """``command`` seeing NATIVE/cpuinfo_<cpu>.txt as /proc/cpuinfo (a private mount namespace)."""
    cpuinfo = NATIVE / f"cpuinfo_{cpu}.txt"
    return ["unshare", "-m", "sh", "-c", f'mount --bind "{cpuinfo}" /proc/cpuinfo && exec "$@"', "sh", *command]


@functools.lru_cache(maxsize=None)
def _cpuinfo_mount_works(cpu: str) -> bool:
    try:
        proc = subprocess.run(_with_cpuinfo(cpu, ["true"]), capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def write_requests(path: Path, feeds_list: list) -> None:
    """``feeds_list``: one {input name: array} per request, in ppl_run's requests format."""
    with open(path, "wb") as f:
        f.write(b"PPLREQ1\0" + struct.pack("<I", len(feeds_list)))
        for feeds in feeds_list:
            f.write(struct.pack("<I", len(feeds)))
            for name, array in feeds.items():
                array = np.ascontiguousarray(array)
                encoded = name.encode()
                f.write(struct.pack("<I", len(encoded)) + encoded)
                f.write(struct.pack("<II", _DTYPE_CODES[array.dtype], array.ndim))
                f.write(struct.pack(f"<{array.ndim}q", *array.shape))
                f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def read_responses(path: Path) -> list:
    """Every output of each request (a list of float32 arrays per request, in the model's output order)."""
    data = Path(path).read_bytes()
    if data[:8] != b"PPLRES2\0":
        raise StageError(f"{path} is not a ppl_run responses file (of this ppliteformer's ppl_run).")
    (count,), offset, responses = struct.unpack_from("<I", data, 8), 12, []
    for _ in range(count):
        (outputs,), offset, arrays = struct.unpack_from("<I", data, offset), offset + 4, []
        for _ in range(outputs):
            (rank,) = struct.unpack_from("<I", data, offset)
            dims = struct.unpack_from(f"<{rank}q", data, offset + 4)
            offset += 4 + 8 * rank
            numel = int(np.prod(dims)) if rank else 1
            arrays.append(np.frombuffer(data, "<f4", numel, offset).reshape(dims).copy())
            offset += 4 * numel
        responses.append(arrays)
    return responses


class ArmEmulator:
    """ppl_run under qemu-aarch64, with one CPU identity."""

    def __init__(self, toolchain: ArmToolchain, cpu: str = "emulator"):
        if cpu not in CPU_IDENTITIES:
            raise StageError(f"Unknown ARM CPU identity '{cpu}'; use one of {', '.join(CPU_IDENTITIES)}.")
        self.toolchain = toolchain
        if cpu == "auto":
            cpu = "a55" if _cpuinfo_mount_works("a55") else "emulator"
        elif cpu != "emulator" and not _cpuinfo_mount_works(cpu):
            raise StageError(f"The ARM CPU identity '{cpu}' needs a private mount namespace (unshare -m, as root) "
                             "to show its cpuinfo to Paddle Lite, and that failed here. Run as root, or set "
                             "arm.cpu to auto or emulator.")
        self.cpu = cpu

    def _command(self, nb_path, requests: Path, responses: Path, repeat: int, count: bool) -> list:
        qemu = ["setarch", platform.machine(), "-R", self.toolchain.qemu, "-cpu", "max", "-L", str(SYSROOT)]
        if count:  # one thread, no spinning, a fixed clock: the same count every time
            qemu += ["-plugin", str(self.toolchain.counter), "-E", f"LD_PRELOAD={self.toolchain.fixed_clock}",
                     "-E", "OMP_NUM_THREADS=1", "-E", "GOMP_SPINCOUNT=0"]
        command = [*qemu, str(self.toolchain.runner), str(nb_path), str(requests), str(responses), "1", str(repeat)]
        return command if self.cpu == "emulator" else _with_cpuinfo(self.cpu, command)

    def _start(self, nb_path, feeds_list: list, folder: Path, tag: str, repeat: int = 1, count: bool = False):
        requests, responses = folder / f"{tag}.req", folder / f"{tag}.res"
        write_requests(requests, feeds_list)
        command = self._command(nb_path, requests, responses, repeat, count)
        loop = loop_page_offset(self.toolchain.lite_library) if count else None
        env = {**os.environ, LOOP_OFFSET_ENV: hex(loop)} if loop is not None else None
        return (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env),
                responses)

    @staticmethod
    def _finish(proc, nb_path) -> str:
        _, stderr = proc.communicate()
        if proc.returncode != 0:
            said = [line for line in stderr.splitlines() if line.strip() and not line.startswith("[I")][-1:]
            raise StageError(f"Paddle Lite's ARM kernels could not run {nb_path} under qemu (exit "
                             f"{proc.returncode}: {(said or ['no message'])[0][:400]}). If the file is an x86 .nb, "
                             "convert it for arm; if it is damaged, convert it again.")
        return stderr

    def run(self, nb_path, feeds_list: list, workers: int | None = None) -> list:
        """Every output of each feeds dict (a list of arrays per dict), computed by the ARM kernels;
        ``workers`` qemu processes in parallel."""
        workers = max(1, min(workers or os.cpu_count() or 1, len(feeds_list)))
        shards = [list(range(w, len(feeds_list), workers)) for w in range(workers)]
        with tempfile.TemporaryDirectory(prefix="ppl-arm-") as tmp:
            started = [self._start(nb_path, [feeds_list[i] for i in shard], Path(tmp), f"shard{w}")
                       for w, shard in enumerate(shards)]
            outputs = [None] * len(feeds_list)
            for (proc, responses), shard in zip(started, shards):
                self._finish(proc, nb_path)
                for index, response in zip(shard, read_responses(responses)):
                    outputs[index] = response
        return outputs

    def instructions(self, nb_path, feeds: dict, runs: int) -> dict:
        """aarch64 instructions per inference, loading the model and the first run's one-off work left out.

        Where the counter marks each turn of Lite's program loop (op_split.py): the average cycle (feed, the
        program, fetch) from the start of run 2 to the start of run ``runs``, within one process, split by op
        type. Elsewhere: (count of ``runs`` runs - count of 1 run) / (runs - 1), two processes, no split
        (processes differ by some 10,000 instructions at start-up, which one process leaves out).
        Deterministic either way."""
        if runs < 3:
            raise StageError("Counting instructions needs at least 3 runs (the first is left out, and a run's "
                             "cycle ends where the next one starts).")
        with tempfile.TemporaryDirectory(prefix="ppl-arm-") as tmp:
            said = {runs: self._count(nb_path, feeds, Path(tmp), runs)}
            split = split_from_marks(_numbers(r"op_marks:(.*)", said[runs]), ops_in_order(nb_path), runs)
            if split is None:
                said[1] = self._count(nb_path, feeds, Path(tmp), 1)
        counts = {repeat: int(_numbers(r"guest_instructions: (\d+)", text)[-1]) for repeat, text in said.items()}
        per_inference = sum(split.values()) if split else round((counts[runs] - counts[1]) / (runs - 1))
        return {"instructions_per_inference": int(per_inference), "runs": runs, "method":
                "one process, runs 2.." + str(runs) if split else f"count of {runs} runs - count of 1 run",
                **{f"instructions_{repeat}_run{'s' if repeat > 1 else ''}": n for repeat, n in counts.items()},
                "cpu_identity": self.cpu, "split": split}

    def _count(self, nb_path, feeds: dict, folder: Path, repeat: int) -> str:
        """What the counter printed for ``repeat`` runs of one inference."""
        proc, _ = self._start(nb_path, [feeds], folder, f"count{repeat}", repeat=repeat, count=True)
        said = self._finish(proc, nb_path)
        if "guest_instructions:" not in said:
            raise StageError("The qemu instruction-counting plugin printed no count; rebuild the ARM "
                             "tools (ppliteformer arm-setup) and check that qemu-user supports plugins.")
        return said


def _numbers(pattern: str, text: str) -> list:
    found = re.findall(pattern, text)
    return [int(n) for n in " ".join(found).split()]


class ArmKernelsModel:
    """One arm `.nb` on the ARM kernels behind the runtimes' interface (``runtimes.outputs_over``): each
    ``run_many`` is one qemu process per worker, so a caller hands over many batches at once."""

    def __init__(self, emulator: ArmEmulator, nb_path, id_dtype: str):
        self.emulator, self.nb_path, self.id_dtype = emulator, nb_path, id_dtype

    def run(self, inputs: dict) -> list:
        return self.run_many([inputs])[0]

    def run_many(self, feeds_list: list) -> list:
        return self.emulator.run(self.nb_path, feeds_list)
