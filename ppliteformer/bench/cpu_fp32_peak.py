"""Single-core fp32 peak of this CPU: derived from what the CPU reports, and (when asked,
``ppliteformer bench --peak``) measured.

Derived: peak = clock (GHz) x fp32 FLOPs per cycle, where FLOPs per cycle = FMA units x
SIMD lanes x 2 (an FMA is a multiply and an add). The SIMD width alone does not settle it:
AMD Zen 4 has AVX-512 but runs each 512-bit FMA as two halves on its two 256-bit FMA pipes,
so it peaks at 32 fp32 FLOPs/cycle like AVX2 parts; Intel Xeons with AVX-512 have one or
two 512-bit FMA units depending on the SKU. The rules used are spelled out in
``flops_per_cycle`` and in the derivation text.

Measured, twice:

* FMA throughput: a C loop of 12 independent AVX2 FMA chains (compiled here with the system's
  C compiler, run in a child process), the most fp32 FLOPs one core does per second at the
  clock it really runs. A VM reports the nominal (TSC) clock, not the boost, so this can be
  well above the derived figure (here 117 against 83 GFLOP/s). A core with two 512-bit FMA
  units would need a 512-bit loop to show its peak; the derived figure covers that case.
* sgemm: the best of a few large single-thread sgemm calls through numpy's BLAS, what a
  good GEMM reaches here.

``gflops_peak_fp32_1core`` is the larger of the derived and the FMA-measured peak, so a
"% of peak" is never flattered by a clock the VM under-reports.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

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


_FMA_LOOP_C = r"""
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  __m256 acc[12], mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  long iterations = 50000000; double best = 1e30; float sink = 0.f;
  for (int round = 0; round < 5; round++) {
    for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_ps((float)k);
    double start = now();
    for (long i = 0; i < iterations; i++) {  /* written out: the 12 chains must stay in registers */
#define FMA(k) acc[k] = _mm256_fmadd_ps(acc[k], mul, add);
      FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) FMA(10) FMA(11)
    }
    double took = now() - start;
    if (took < best) best = took;
    for (int k = 0; k < 12; k++) sink += _mm256_cvtss_f32(acc[k]);
  }
  printf("{\"gflops\": %.3f, \"sink\": %g}\n", iterations * 12.0 * 8 * 2 / best / 1e9, sink);
  return 0;
}
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
    from .child_process import run_json_child
    from ..errors import StageError

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        return run_json_child([sys.executable, "-c", _SGEMM_CHILD, str(n), str(repeats)], "sgemm", timeout, env)
    except StageError:
        return None


def measure_fma_gflops(info: dict, timeout: float = 120) -> float | None:
    """One core's AVX2 FMA throughput in GFLOP/s (``_FMA_LOOP_C``); None without AVX2+FMA or a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler or not {"avx2", "fma"} <= info["flags"]:
        return None
    with tempfile.TemporaryDirectory(prefix="ppliteformer-fma-") as tmp:
        source, program = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(source, "w", encoding="ascii") as f:
            f.write(_FMA_LOOP_C)
        try:
            subprocess.run([compiler, "-O2", "-mavx2", "-mfma", source, "-o", program], check=True,
                           capture_output=True, timeout=timeout)
            proc = subprocess.run([program], capture_output=True, text=True, timeout=timeout, check=True)
            return round(float(json.loads(proc.stdout)["gflops"]), 1)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError):
            return None


def cpu_peak(measure: bool = True) -> dict:
    """Single-core fp32 peak (the larger of derived and FMA-measured), the sgemm figure, and the
    text that explains them."""
    info = read_cpu_info()
    derived, text = derive_peak(info)
    per_cycle = flops_per_cycle(info)[0]
    fma = measure_fma_gflops(info) if measure else None
    measured = measure_sgemm_gflops() if measure else None
    sgemm = round(measured["gflops"], 1) if measured else None
    peak = max(value for value in (derived, fma, 0) if value is not None) or None
    if fma:
        text += (f" Measured: a loop of independent AVX2 FMAs runs {fma:.1f} GFLOP/s on one core, i.e. the core "
                 f"runs at {fma / per_cycle:.2f} GHz x {per_cycle}")
        text += ("; above the derived figure (the reported clock is not the boost clock), so the peak used is "
                 f"this measured {fma:.1f} GFLOP/s." if fma > (derived or 0) else
                 f"; the derived {derived} GFLOP/s is used as the peak.")
    else:
        text += " No FMA loop was measured (no C compiler or no AVX2+FMA): the peak is the derived figure."
    if sgemm and peak:
        text += (f" Single-thread numpy ({measured['blas'] or 'BLAS'}) sgemm {measured['n']}^3, best of "
                 f"{measured['repeats']}: {sgemm:.1f} GFLOP/s = {sgemm / peak:.0%} of the peak.")
    return {"gflops_peak_fp32_1core": peak, "gflops_peak_fp32_1core_derived": derived,
            "gflops_fma_1core_measured": fma, "gflops_sgemm_1thread_measured": sgemm, "peak_derivation": text,
            "cpu": {"model_name": info["model_name"], "vendor": info["vendor"], "family": info["family"],
                    "model": info["model"], "cpu_mhz": info["cpu_mhz"], "max_mhz": info["max_mhz"],
                    "avx2": "avx2" in info["flags"], "fma": "fma" in info["flags"],
                    "avx512f": "avx512f" in info["flags"]}}


if __name__ == "__main__":
    print(json.dumps(cpu_peak(), indent=2))
