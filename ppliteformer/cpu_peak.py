"""Single-core fp32 peak of this CPU: derived from what the CPU reports, and measured.

Derived: peak = clock (GHz) x fp32 FLOPs per cycle, where FLOPs per cycle = FMA units x
SIMD lanes x 2 (an FMA is a multiply and an add). The SIMD width alone does not settle it:
AMD Zen 4 has AVX-512 but runs each 512-bit FMA as two halves on its two 256-bit FMA pipes,
so it peaks at 32 fp32 FLOPs/cycle like AVX2 parts; Intel Xeons with AVX-512 have one or
two 512-bit FMA units depending on the SKU. The rules used are spelled out in
``flops_per_cycle`` and in the derivation text.

Measured: the best of a few large single-thread sgemm calls through numpy's BLAS in a child
process (OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1), a sanity check of the
peak that a good GEMM actually reaches here. Above the derived peak means the core runs
faster than the clock the CPU reports (a VM shows the nominal/TSC clock, not the boost).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

_SGEMM_CHILD = """
import json, sys, time
import numpy as np
n, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
c = a @ b
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    np.matmul(a, b, out=c)
    best = min(best, time.perf_counter() - start)
blas = ""
try:
    blas = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
except Exception:
    pass
print(json.dumps({"gflops": 2.0 * n ** 3 / best / 1e9, "n": n, "repeats": repeats, "blas": blas}))
"""


def read_cpu_info() -> dict:
    """Vendor, family, model, model name, flags and clocks of CPU 0 (/proc/cpuinfo, lscpu)."""
    info = {"vendor": "", "family": None, "model": None, "model_name": "", "flags": set(),
            "cpu_mhz": None, "max_mhz": None}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            block = f.read().split("\n\n")[0]
    except OSError:
        block = ""
    fields = {}
    for line in block.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    info["vendor"] = fields.get("vendor_id", "")
    info["model_name"] = fields.get("model name", "")
    info["flags"] = set(fields.get("flags", "").split())
    for key, name in (("cpu family", "family"), ("model", "model")):
        if fields.get(key, "").isdigit():
            info[name] = int(fields[key])
    try:
        info["cpu_mhz"] = float(fields["cpu MHz"])
    except (KeyError, ValueError):
        pass
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    match = re.search(r"^CPU max MHz:\s*([\d.]+)", lscpu, re.MULTILINE)
    if match:
        info["max_mhz"] = float(match.group(1))
    return info


def _amd_core(family, model) -> str:
    if family == 0x17:
        return "Zen 2" if model is not None and model >= 0x30 else "Zen/Zen+"
    if family == 0x19:
        zen4 = model is not None and (0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF)
        return "Zen 4" if zen4 else "Zen 3"
    if family == 0x1A:
        return "Zen 5"
    return ""


def flops_per_cycle(info: dict) -> tuple:
    """(fp32 FLOPs per cycle of one core, why): FMA units x lanes x 2."""
    flags, vendor, name = info["flags"], info["vendor"], info["model_name"]
    fma, avx2, avx512 = "fma" in flags, "avx2" in flags, "avx512f" in flags
    if vendor == "AuthenticAMD":
        core = _amd_core(info["family"], info["model"])
        where = f"AMD family {info['family']:#x} model {info['model']:#x} is {core}" if core else "this AMD core"
        if core == "Zen 4":
            return 32, (f"{where}: it has AVX-512 but executes a 512-bit FMA as two 256-bit halves on its two "
                        "256-bit FMA pipes, so fp32 peak is 2 FMA pipes x 8 lanes x 2 = 32 FLOPs/cycle "
                        "(not the 64 of a core with two 512-bit FMA units)")
        if core == "Zen 5" and avx512:
            return 64, (f"{where}: server/desktop Zen 5 has a full 512-bit datapath with two FMA pipes, "
                        "2 x 16 lanes x 2 = 64 FLOPs/cycle (mobile Zen 5 double-pumps: 32)")
        if core in ("Zen 2", "Zen 3"):
            return 32, f"{where}: two 256-bit FMA pipes, 2 x 8 lanes x 2 = 32 FLOPs/cycle"
        if core == "Zen/Zen+":
            return 16, f"{where}: two 128-bit FMA pipes (AVX2 split in halves), 2 x 4 x 2 = 16 FLOPs/cycle"
    if avx512 and fma:
        one_unit = re.search(r"\b(Silver|Bronze)\b|Gold 5\d{3}", name)
        if one_unit:
            return 32, (f"'{name}' is a Xeon SKU with one 512-bit FMA unit per core: 1 x 16 lanes x 2 = "
                        "32 FLOPs/cycle")
        return 64, ("AVX-512 with two 512-bit FMA units assumed (true for Xeon Gold 6xxx/Platinum and "
                    "later server cores; Silver/Bronze and Gold 5xxx have one): 2 x 16 lanes x 2 = 64 FLOPs/cycle")
    if avx2 and fma:
        return 32, "AVX2 + FMA with two 256-bit FMA units (Haswell and later): 2 x 8 lanes x 2 = 32 FLOPs/cycle"
    if "avx" in flags:
        return 16, "AVX without FMA: one 256-bit add + one 256-bit multiply per cycle = 16 FLOPs/cycle"
    return 8, "SSE only: one 128-bit add + one 128-bit multiply per cycle = 8 FLOPs/cycle"


def derive_peak(info: dict | None = None) -> tuple:
    """(GFLOP/s, derivation text) of one core from the reported clock and flops_per_cycle."""
    info = info or read_cpu_info()
    per_cycle, why = flops_per_cycle(info)
    if info["max_mhz"]:
        mhz, clock = info["max_mhz"], f"{info['max_mhz']:.0f} MHz ('CPU max MHz' in lscpu)"
    elif info["cpu_mhz"]:
        mhz = info["cpu_mhz"]
        clock = (f"{mhz:.0f} MHz ('cpu MHz' in /proc/cpuinfo; lscpu gives no max MHz, as in a VM, so this is "
                 "the nominal/TSC clock and boost clocks can be higher)")
    else:
        return None, f"{why}; the clock is unknown (no 'cpu MHz' in /proc/cpuinfo), so no peak is derived"
    peak = mhz / 1e3 * per_cycle
    isa = "+".join(f for f in ("avx512f", "avx2", "fma") if f in info["flags"]) or "no AVX"
    text = (f"CPU '{info['model_name']}' ({info['vendor']}, family {info['family']}, model {info['model']}), "
            f"flags {isa}. {why}. Clock {clock}. Peak = {mhz / 1e3:.3f} GHz x {per_cycle} = {peak:.1f} GFLOP/s "
            "fp32 per core.")
    return round(peak, 1), text


def measure_sgemm_gflops(n: int = 1024, repeats: int = 5, timeout: float = 120) -> dict | None:
    """Best single-thread numpy sgemm GFLOP/s (n x n x n) in a child process; None if it fails."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", _SGEMM_CHILD, str(n), str(repeats)], capture_output=True,
                              text=True, timeout=timeout, env=env)
        return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def cpu_peak(measure: bool = True) -> dict:
    """Derived and measured single-core fp32 peak with the text that explains the derivation."""
    info = read_cpu_info()
    peak, text = derive_peak(info)
    measured = measure_sgemm_gflops() if measure else None
    sgemm = round(measured["gflops"], 1) if measured else None
    if sgemm and peak:
        text += (f" Measured: single-thread numpy ({measured['blas'] or 'BLAS'}) sgemm {measured['n']}^3, best of "
                 f"{measured['repeats']}: {sgemm:.1f} GFLOP/s = {sgemm / peak:.0%} of the derived peak")
        per_cycle = flops_per_cycle(info)[0]
        if sgemm > peak:
            text += (f"; above it, so the core runs at >= {sgemm / per_cycle:.2f} GHz, faster than the "
                     "reported clock (boost)")
        text += "."
    return {"gflops_peak_fp32_1core": peak, "gflops_sgemm_1thread_measured": sgemm, "peak_derivation": text,
            "cpu": {"model_name": info["model_name"], "vendor": info["vendor"], "family": info["family"],
                    "model": info["model"], "cpu_mhz": info["cpu_mhz"], "max_mhz": info["max_mhz"],
                    "avx2": "avx2" in info["flags"], "fma": "fma" in info["flags"],
                    "avx512f": "avx512f" in info["flags"]}}


if __name__ == "__main__":
    print(json.dumps(cpu_peak(), indent=2))
