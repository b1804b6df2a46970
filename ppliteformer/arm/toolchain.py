"""Finding and building what runs an arm `.nb` on this machine: Paddle Lite's ARM library, the
aarch64 cross compiler, qemu-aarch64, and the project's own native pieces built against them.

The pieces (sources in ``native/``):
    libppl_lite.so   a C interface to Lite's light API: what ``predict.py`` loads with ctypes on
                     an ARM board, where no ``paddlelite`` Python package exists
    ppl_run          many inputs through one `.nb` with one load (evaluation, instruction counts)
    insn_count.so    a qemu plugin (x86) that counts the aarch64 instructions a program executes
    libfixed_clock.so  a fixed wall clock for the counted runs (Lite's log lines format the time)

They are built once per Paddle Lite build into a cache folder and rebuilt when their sources or
the library change. Nothing here is needed by the rest of ppliteformer: without it the ARM
stages are left out and the reason is printed (``missing_parts``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..atomic import temporary_name
from ..errors import StageError

LITE_ENV = "PPLITEFORMER_LITE_ARM"  # a Paddle Lite ARM build: include/paddle_api.h, lib/libpaddle_light_api_shared.so
LITE_FP16_ENV = "PPLITEFORMER_LITE_ARM_FP16"  # the same, built with ARMv8.2 FP16 kernels (for arm_fp16 .nb files)
CACHE_ENV = "PPLITEFORMER_CACHE"
LITE_LIBRARY = "libpaddle_light_api_shared.so"
SHIM_LIBRARY = "libppl_lite.so"
RUNNER = "ppl_run"
COUNTER = "insn_count.so"
FIXED_CLOCK = "libfixed_clock.so"
# GCC's OpenMP runtime, which Lite's library needs and a minimal Debian/Ubuntu board lacks (package libgomp1):
# shipped in every arm bundle's lib/ from the cross compiler's runtime, which Lite was built against.
OPENMP_RUNTIME = "libgomp.so.1"
NATIVE = Path(__file__).resolve().parent / "native"
QEMU = "qemu-aarch64"
CROSS_CXX = "aarch64-linux-gnu-g++"
SYSROOT = Path("/usr/aarch64-linux-gnu")  # Debian's aarch64 C/C++ runtime, from the cross compiler packages
# The shared builds next to a source checkout (../shared/lite-armv8[-fp16] from the repository root).
CHECKOUT_LITE = Path(__file__).resolve().parents[3] / "shared" / "lite-armv8"
CHECKOUT_LITE_FP16 = CHECKOUT_LITE.with_name("lite-armv8-fp16")
# Per build kind: (environment variable, default folder, strategy setting, how to make one)
_BUILDS = {False: (LITE_ENV, CHECKOUT_LITE, "arm.lite_dir", "../shared/lite-armv8/build.sh"),
           True: (LITE_FP16_ENV, CHECKOUT_LITE_FP16, "arm.lite_dir_fp16", "FP16=ON ../shared/lite-armv8/build.sh")}
HOW_TO_INSTALL = ("install them with 'apt-get install qemu-user g++-aarch64-linux-gnu' (scripts/setup.sh does "
                  "this when run as root)")


class ArmToolchainMissing(StageError):
    """Something needed to run arm `.nb` files here is not installed or not found."""


@dataclass(frozen=True)
class ArmToolchain:
    lite_dir: Path   # the Paddle Lite ARM build the native pieces are linked against
    build_dir: Path  # ppl_run, libppl_lite.so, insn_count.so and a copy of Lite's library
    qemu: str
    fp16: bool = False  # Lite built with ARMv8.2 FP16 kernels: runs arm_fp16 .nb files on cores with FP16 only

    @property
    def runner(self) -> Path:
        return self.build_dir / RUNNER

    @property
    def shim(self) -> Path:
        return self.build_dir / SHIM_LIBRARY

    @property
    def lite_library(self) -> Path:
        return self.build_dir / LITE_LIBRARY

    @property
    def board_libraries(self) -> tuple:
        """What an arm bundle's lib/ holds so that predict.py runs on a board without paddlelite."""
        return (self.shim, self.lite_library, self.build_dir / OPENMP_RUNTIME)

    @property
    def counter(self) -> Path:
        return self.build_dir / COUNTER

    @property
    def fixed_clock(self) -> Path:
        return self.build_dir / FIXED_CLOCK


def lite_dir(setting: str = "", fp16: bool = False) -> Path | None:
    """The Paddle Lite ARM build to use: the strategy's setting, then $PPLITEFORMER_LITE_ARM (or _FP16), then
    the shared build beside a source checkout. None when none of them names one."""
    env, default, _, _ = _BUILDS[fp16]
    for candidate in (setting, os.environ.get(env, ""), str(default)):
        if candidate:
            return Path(candidate).expanduser().resolve()
    return None


def missing_parts(setting: str = "", fp16: bool = False) -> list:
    """What is missing to run arm `.nb` files here, each with how to get it ([] when nothing is)."""
    missing = []
    found = lite_dir(setting, fp16)
    if found is None or not (found / "lib" / LITE_LIBRARY).is_file() or not (found / "include" / "paddle_api.h").is_file():
        where = found or "(none given)"
        env, _, strategy_setting, how = _BUILDS[fp16]
        missing.append(f"a Paddle Lite ARM build{' with FP16 kernels' if fp16 else ''} ({where} has no "
                       f"lib/{LITE_LIBRARY} and include/paddle_api.h): set {env} or the strategy's "
                       f"'{strategy_setting}' to one ({how} makes one from the Paddle-Lite sources)")
    tools = [tool for tool in (QEMU, CROSS_CXX, "gcc") if shutil.which(tool) is None]
    if tools or not SYSROOT.is_dir():
        missing.append(f"{', '.join(tools) or SYSROOT}: {HOW_TO_INSTALL}")
    return missing


def _cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ppliteformer")


def _build_key(lite: Path) -> str:
    """Changes when a native source or the Lite library changes."""
    digest = hashlib.sha256(str(lite).encode())
    for path in sorted(NATIVE.iterdir()) + [lite / "lib" / LITE_LIBRARY, SYSROOT / "lib" / OPENMP_RUNTIME]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _compile(command: list, what: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArmToolchainMissing(f"Building {what} failed ({' '.join(command[:1])} said: "
                                  f"{proc.stderr.strip()[-600:]}). Check that the Paddle Lite ARM build's headers "
                                  "match its library and that the cross compiler is Debian's aarch64-linux-gnu-g++.")


def _build(lite: Path, dest: Path) -> None:
    """Compile into a temporary folder, then rename: a build folder that exists is complete."""
    tmp = temporary_name(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(lite / "lib" / LITE_LIBRARY, tmp / LITE_LIBRARY)
    shutil.copy(SYSROOT / "lib" / OPENMP_RUNTIME, tmp / OPENMP_RUNTIME)
    cxx = [CROSS_CXX, "-O2", "-std=c++14", f"-I{lite / 'include'}", f"-I{NATIVE}", f"-L{tmp}", "-Wl,-rpath,$ORIGIN"]
    _compile([*cxx, "-shared", "-fPIC", str(NATIVE / "ppl_lite.cc"), "-lpaddle_light_api_shared",
              "-o", str(tmp / SHIM_LIBRARY)], SHIM_LIBRARY)
    _compile([*cxx, str(NATIVE / "ppl_run.cc"), "-lppl_lite", "-lpaddle_light_api_shared", "-o", str(tmp / RUNNER)],
             RUNNER)
    _compile([CROSS_CXX, "-O2", "-shared", "-fPIC", str(NATIVE / "fixed_clock.cc"), "-o", str(tmp / FIXED_CLOCK)],
             FIXED_CLOCK)
    _compile(["gcc", "-O2", "-shared", "-fPIC", str(NATIVE / "insn_count.c"), "-o", str(tmp / COUNTER)], COUNTER)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def ensure_toolchain(setting: str = "", fp16: bool = False) -> ArmToolchain:
    """The toolchain, its native pieces built (once per Lite build); ArmToolchainMissing says what to install.
    ``fp16``: with the Lite build that has ARMv8.2 FP16 kernels."""
    missing = missing_parts(setting, fp16)
    if missing:
        raise ArmToolchainMissing(f"Cannot run arm{'_fp16' if fp16 else ''} .nb files on this machine. Missing: "
                                  + "; ".join(missing) + ".")
    lite = lite_dir(setting, fp16)
    dest = _cache_root() / f"arm-{_build_key(lite)}"
    if not (dest / RUNNER).is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _build(lite, dest)
    return ArmToolchain(lite_dir=lite, build_dir=dest, qemu=shutil.which(QEMU), fp16=fp16)


def optional_toolchain(setting: str = "", required: bool = False, without_it: str = "",
                       fp16: bool = False) -> ArmToolchain | None:
    """``ensure_toolchain``, or None when something is missing and the caller can go on without it;
    ``without_it`` (what the user loses) is then logged once with the fix. ``required``: raise instead."""
    try:
        return ensure_toolchain(setting, fp16)
    except ArmToolchainMissing as exc:
        if required:
            raise
        if without_it:
            logging.getLogger("ppliteformer").warning("note: %s %s", without_it, exc)
        return None
