"""Paddle Lite on the device and the host: the model's input arrays, the `.nb` checks, and the two
ways to run a `.nb` (the `paddlelite` package's light predictor, or Lite's C++ library through
ppliteformer's C shim), each ``run(inputs) -> list`` of every output (runtimes/host.py's interface).

Standard library and numpy only (plus `paddlelite` where it exists): it ships flat beside
predict.py in a bundle, and the host's evaluation, bundle and bench import it, so the pipeline
and the device feed models the same way.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

try:  # inside the ppliteformer package
    from .model_files import META_FILE, PredictorError, read_id_dtype
except ImportError:  # a bundle's flat folder: the sibling file
    from model_files import META_FILE, PredictorError, read_id_dtype

SHIM_LIBRARY = "libppl_lite.so"
SHIM_ENV = "PPLITEFORMER_LITE_SHIM"
INPUT_NAMES = ("input_ids", "token_type_ids", "position_ids", "attention_mask")
ID_INPUTS = INPUT_NAMES[:3]


def cpu_vendor() -> str:
    """/proc/cpuinfo's vendor_id of this machine ("" where there is none, e.g. on ARM)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def mkl_avx2_env() -> dict:
    """Environment that makes Lite x86 fast on AMD CPUs ({} elsewhere).

    The MKL 2019.0.1 bundled with Paddle Lite x86 runs its SSE code on non-Intel CPUs;
    MKL_DEBUG_CPU_TYPE=5 makes it use its AVX2 code, about 2x faster here
    (benchmarks/README.md). MKL reads it when it starts, so it must be set before the first
    Lite run of a process: ``main`` sets it for this script's own process, and ppliteformer
    sets it for the child processes that time Lite.
    """
    return {"MKL_DEBUG_CPU_TYPE": "5"} if cpu_vendor() == "AuthenticAMD" else {}


class SegmentedIds(list):
    """The token ids of a sentence pair, with ``type_ids``: 0 for [CLS], the first text and its [SEP],
    1 for the second text and its [SEP]. A plain list of ids is one text (type ids all 0)."""

    def __init__(self, ids, type_ids):
        super().__init__(ids)
        self.type_ids = list(type_ids)


def batch_arrays(ids_list, pad_id: int = 0, pad_to: int | None = None, id_dtype: str = "int64") -> dict:
    """Pad token-id lists (or ``SegmentedIds`` of pairs) into the four model inputs, in the exported
    input order; the three id inputs in ``id_dtype`` (the model's, see ``read_id_dtype``), the mask in float32."""
    length = pad_to or max(len(ids) for ids in ids_list)
    input_ids = np.full((len(ids_list), length), pad_id, dtype=id_dtype)
    type_ids = np.zeros_like(input_ids)
    mask = np.zeros((len(ids_list), length), dtype="float32")
    for row, ids in enumerate(ids_list):
        input_ids[row, :len(ids)] = ids
        if isinstance(ids, SegmentedIds):
            type_ids[row, :len(ids)] = ids.type_ids
        mask[row, :len(ids)] = 1.0
    positions = np.broadcast_to(np.arange(length, dtype=id_dtype), input_ids.shape).copy()
    return {"input_ids": input_ids, "token_type_ids": type_ids, "position_ids": positions, "attention_mask": mask}


def item_output(outputs: list, position: int, length: int):
    """Item ``position``'s output from every output of a batch: an array for a model with one output, a
    tuple for a model with several; an output with a token axis is cut to the item's ``length``."""
    cut = [o[position] if o.ndim == 2 else o[position, :length] for o in outputs]
    return cut[0] if len(cut) == 1 else tuple(cut)


def check_feed_dtypes(inputs: dict, id_dtype: str, model) -> None:
    """Refuse id arrays of another dtype than the model's: Paddle Lite does not convert them, it reads their
    bytes as its own dtype and looks up the wrong tokens (garbage predictions, PaddleNLP issue #6549)."""
    for name in ID_INPUTS:
        got = np.asarray(inputs[name]).dtype
        if got != np.dtype(id_dtype):
            raise PredictorError(f"{name} is {got}, but {model} was exported for {id_dtype} ids (id_dtype in "
                                 f"{META_FILE}). Paddle Lite would read the bytes as {id_dtype} and look up the "
                                 f"wrong tokens. Feed {id_dtype} arrays (batch_arrays(..., id_dtype='{id_dtype}')), "
                                 f"or export the model with export.input_dtype: {got}.")


# Paddle Lite TargetType values that appear in a .nb's kernel keys ("fc/def/4/1/1": ARM).
_LITE_TARGETS = {1: "host", 2: "x86", 4: "arm", 5: "opencl", 8: "npu", 18: "nnadapter"}
_NB_HEADER_BYTES = 2 + 16 + 8  # meta version (uint16), opt version (16 chars), topology size (uint64)
_PROBE = ("import sys\nfrom paddlelite.lite import MobileConfig, create_paddle_predictor\n"
          "c = MobileConfig()\nc.set_model_from_file(sys.argv[1])\ncreate_paddle_predictor(c)\n")


_KERNEL_KEY = rb"[A-Za-z0-9_]+/[A-Za-z0-9_]+/(\d{1,2})/(\d{1,2})/\d{1,2}"  # op/alias/target/precision/layout
_FP16_PRECISION = 5  # Lite's PrecisionType::kFP16
# aarch64 AT_HWCAP bits for half-precision arithmetic (Linux arch/arm64 uapi hwcap.h) and their cpuinfo names
FP16_HWCAPS = {"fphp": 1 << 9, "asimdhp": 1 << 10}
_AT_HWCAP = 16


def _kernel_places(nb_path) -> set:
    """(target, precision) codes of every kernel a `.nb` file's topology names.

    Raises PredictorError when the file is not a complete Paddle Lite naive-buffer model.
    """
    nb_path = Path(nb_path)
    size = nb_path.stat().st_size
    with open(nb_path, "rb") as f:
        header = f.read(_NB_HEADER_BYTES)
        topology_size = int.from_bytes(header[18:26], "little") if len(header) == _NB_HEADER_BYTES else -1
        if not header[2:3] == b"v" or not 0 < topology_size < size - _NB_HEADER_BYTES:
            raise PredictorError(f"{nb_path} is not a Paddle Lite .nb model (or it is truncated). Make one "
                                 "with 'ppliteformer convert' or Paddle Lite's opt, and copy it whole.")
        topology = f.read(topology_size)
    return {(int(m.group(1)), int(m.group(2))) for m in re.finditer(_KERNEL_KEY, topology)}


def nb_targets(nb_path, places=None) -> set:
    """The hardware targets a `.nb` file's kernels were chosen for, e.g. {"arm", "host"} (``places``: its
    ``_kernel_places``, when already read)."""
    return {_LITE_TARGETS.get(target, f"target {target}") for target, _ in places or _kernel_places(nb_path)}


def nb_uses_fp16(nb_path, places=None) -> bool:
    """Whether the `.nb` has half-precision kernels (opt --enable_fp16): it needs a core with FP16 arithmetic."""
    return any(precision == _FP16_PRECISION for _, precision in places or _kernel_places(nb_path))


def cpu_fp16_features(auxv: str = "/proc/self/auxv", cpuinfo: str = "/proc/cpuinfo") -> set:
    """Which of fphp / asimdhp this CPU has: the kernel's AT_HWCAP (what Lite itself reads), else the
    Features line of /proc/cpuinfo."""
    try:
        data = Path(auxv).read_bytes()
        pairs = np.frombuffer(data[:len(data) // 16 * 16], dtype="<u8").reshape(-1, 2)
        hwcap = [int(value) for key, value in pairs if key == _AT_HWCAP]
        if hwcap:
            return {name for name, bit in FP16_HWCAPS.items() if hwcap[0] & bit}
    except OSError:
        pass
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    features = {word for line in text.splitlines() if line.lower().startswith("features")
                for word in line.split(":", 1)[1].split()}
    return features & set(FP16_HWCAPS)


def this_machine_target() -> str:
    machine = platform.machine().lower()
    return "arm" if machine.startswith(("arm", "aarch64")) else "x86"


def check_nb_target(nb_path) -> None:
    """A complete `.nb` converted for this machine's kind of CPU, or a PredictorError saying what to do."""
    places = _kernel_places(nb_path)  # the file's topology, read once for both checks
    targets = nb_targets(nb_path, places)
    here = this_machine_target()
    foreign = targets - {"host", here}
    if foreign:
        raise PredictorError(f"{nb_path} was converted for {', '.join(sorted(foreign))} and cannot run on this "
                             f"{here} machine. Convert the model with '--target {here}' to run it here, or "
                             "copy this file to a device of its own kind.")
    if here == "arm" and nb_uses_fp16(nb_path, places):
        lacking = sorted(set(FP16_HWCAPS) - cpu_fp16_features())
        if lacking:
            raise PredictorError(f"{nb_path} is an fp16 model: it needs an ARMv8.2-A core with FP16 arithmetic "
                                 f"(Cortex-A55, A75, A76 or later), and this CPU lacks {' and '.join(lacking)}; "
                                 "running it would die of an illegal instruction. Use the fp32 arm bundle of the "
                                 "same model here.")


def check_nb_loads(nb_path) -> None:
    """Refuse a `.nb` that Paddle Lite would abort the whole process on.

    Lite ends the process (SIGABRT) on a fatal load error instead of raising, so after the
    cheap header and target checks the model is loaded once in a child process first.
    """
    check_nb_target(nb_path)
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(nb_path)], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        fatal = [line for line in proc.stderr.splitlines() if line.strip()][-1:] or ["(no message)"]
        raise PredictorError(f"Paddle Lite cannot load {nb_path} (it said: {fatal[0].strip()[:300]}). "
                             "The file is damaged or was made by a different Paddle Lite version; "
                             "convert the model again with this Paddle Lite.")


def paddlelite_available() -> bool:
    try:
        import paddlelite.lite  # noqa: F401
    except ImportError:
        return False
    return True


def open_model(nb_path, threads: int = 1, id_dtype: str | None = None):
    """The `.nb` on the `paddlelite` package where it is installed, else on the C shim."""
    return (LiteModel if paddlelite_available() else ShimLiteModel)(nb_path, threads, id_dtype)


def find_shim(nb_path) -> Path:
    """$PPLITEFORMER_LITE_SHIM, else lib/libppl_lite.so beside the model or beside this script."""
    candidates = [os.environ.get(SHIM_ENV, "")] + [str(folder / "lib" / SHIM_LIBRARY) for folder in
                                                   (Path(nb_path).resolve().parent, Path(__file__).resolve().parent)]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return Path(candidate)
    raise PredictorError(
        f"Neither the paddlelite Python package nor ppliteformer's Lite library ({SHIM_LIBRARY}) was found, so "
        f"there is nothing to run {nb_path} with. On an ARM board, copy the whole bundle folder made by "
        f"'ppliteformer bundle' (its lib/ holds {SHIM_LIBRARY} and Paddle Lite's library), or set {SHIM_ENV} to "
        "the path of a libppl_lite.so built for this machine (deploy/cpp/README.md); elsewhere, pip install "
        "paddlelite.")


# Shared libraries Lite's library needs that a minimal board may lack, with the Debian/Ubuntu package that
# provides each. A bundle's lib/ ships the OpenMP runtime; the others come with every Debian userland.
RUNTIME_LIBRARIES = {"libgomp.so.1": "libgomp1 (GCC's OpenMP runtime)", "libstdc++.so.6": "libstdc++6",
                     "libgcc_s.so.1": "libgcc-s1", "libm.so.6": "libc6", "libc.so.6": "libc6"}
SHIPPED_RUNTIME = ("libgomp.so.1",)


def load_library(path):
    """ctypes.CDLL(path), with a missing shared library or C library version as one PredictorError
    that names it and the package that provides it (instead of ctypes' OSError and a traceback)."""
    import ctypes

    try:
        return ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        text = str(exc)
    missing = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", text)
    version = re.search(r"version `([^']+)' not found", text)
    if missing:
        name = missing.group(1)
        package = RUNTIME_LIBRARIES.get(name)
        fix = (f"install it (Debian/Ubuntu: sudo apt install {package.split()[0]}), " if package else
               "install the package that provides it (Debian/Ubuntu: apt-file search " + name + "), ")
        raise PredictorError(f"{path} (or Paddle Lite's library it loads) needs {name}"
                             f"{f', from the package {package}' if package else ''}, which this "
                             f"machine does not have: {fix}or copy {name} from a machine of the same kind into "
                             f"{Path(path).parent}.") from None
    if version:
        raise PredictorError(f"{path} needs {version.group(1)}, newer than this machine's C/C++ runtime ({text[:200]}). "
                             "Paddle Lite's ARM library was built against Debian 12 (glibc 2.36, GCC 12): use a "
                             "board system at least that new, or rebuild Lite for it (../shared/lite-armv8/build.sh)."
                             ) from None
    raise PredictorError(f"cannot load {path}: {text[:300]}. Copy the bundle's lib/ whole; the library must be "
                         "built for this machine's CPU (aarch64 for an arm bundle).") from None


class _LiteLogFilter:
    """Keeps Paddle Lite's informational log lines ("[I ...]", printed to stderr by its C++ code at
    every predictor creation) off the user's screen while a Lite call runs; its warnings and
    errors are passed on. Works on the file descriptor, since Lite writes past Python's sys.stderr."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self._saved = os.dup(2)
        self._capture = tempfile.TemporaryFile()
        os.dup2(self._capture.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._capture.seek(0)
        kept = [line for line in self._capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not line.startswith("[I ")]
        self._capture.close()
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
        return False


class ShimLiteModel:
    """A Paddle Lite `.nb` model run by Paddle Lite's C++ light API through libppl_lite.so (ctypes).

    Lite built with exceptions (as ppliteformer's is) reports load and run errors instead of
    aborting, so no load probe in a child process is needed here.
    """

    _DTYPES = {np.dtype("float32"): 0, np.dtype("int64"): 1, np.dtype("int32"): 2}

    def __init__(self, nb_path, threads: int = 1, id_dtype: str | None = None, library=None):
        import ctypes

        check_nb_target(nb_path)
        self.nb_path = nb_path
        self.id_dtype = id_dtype or read_id_dtype(Path(nb_path).parent)
        shim = Path(library or find_shim(nb_path))
        for name in SHIPPED_RUNTIME:  # loaded first, so that Lite's library finds it without LD_LIBRARY_PATH
            if (shim.parent / name).is_file():
                load_library(shim.parent / name)
        lib = load_library(shim)
        lib.ppl_create.restype = ctypes.c_void_p
        lib.ppl_create.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.ppl_destroy.argtypes = [ctypes.c_void_p]
        lib.ppl_set_input.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_void_p]
        lib.ppl_run.argtypes = [ctypes.c_void_p]
        lib.ppl_output.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.POINTER(ctypes.c_float))]
        lib.ppl_last_error.restype = ctypes.c_char_p
        self._outputs = 1  # the count of a shim from before ppl_output_count, which read output 0 only
        if hasattr(lib, "ppl_output_count"):
            lib.ppl_output_count.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        self._ctypes, self._lib = ctypes, lib
        with _LiteLogFilter():
            self._handle = lib.ppl_create(str(nb_path).encode(), threads)
        if not self._handle:
            raise PredictorError(f"{self._error()} The file is damaged, was converted for another target, or "
                                 "was made by a different Paddle Lite version; convert the model again.")
        if hasattr(lib, "ppl_output_count"):
            count = ctypes.c_int()
            self._check(lib.ppl_output_count(self._handle, ctypes.byref(count)))
            self._outputs = count.value

    def _error(self) -> str:
        return self._lib.ppl_last_error().decode(errors="replace")

    def _check(self, status: int) -> None:
        if status != 0:
            raise PredictorError(f"Paddle Lite failed: {self._error()}")

    def run(self, inputs: dict) -> list:
        """Every output of the model, in its order."""
        check_feed_dtypes(inputs, self.id_dtype, self.nb_path)
        c = self._ctypes
        for name in INPUT_NAMES:
            array = np.ascontiguousarray(inputs[name])
            dims = (c.c_int64 * array.ndim)(*array.shape)
            self._check(self._lib.ppl_set_input(self._handle, name.encode(), self._DTYPES[array.dtype], dims,
                                                array.ndim, array.ctypes.data_as(c.c_void_p)))
        self._check(self._lib.ppl_run(self._handle))
        return [self._output(index) for index in range(self._outputs)]

    def _output(self, index: int) -> np.ndarray:
        c = self._ctypes
        ndim, dims, data = c.c_int(), (c.c_int64 * 8)(), c.POINTER(c.c_float)()
        self._check(self._lib.ppl_output(self._handle, index, c.byref(ndim), dims, c.byref(data)))
        shape = tuple(dims[:ndim.value])
        return np.ctypeslib.as_array(data, shape=(int(np.prod(shape)),)).reshape(shape).copy()

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.ppl_destroy(self._handle)
            self._handle = None


class LiteModel:
    """A Paddle Lite `.nb` model run through the light (mobile) predictor of the `paddlelite` package.
    ``threads`` is what Lite really uses (x86 Lite has no thread setting: 1)."""

    def __init__(self, nb_path, threads: int = 1, id_dtype: str | None = None, probe: bool = True):
        """``probe=False`` skips the load in a child process first: for a caller that is itself a child
        process whose crash is reported (ppliteformer bench)."""
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        if probe:
            check_nb_loads(nb_path)
        self.nb_path = nb_path
        self.id_dtype = id_dtype or read_id_dtype(Path(nb_path).parent)
        config = MobileConfig()
        config.set_model_from_file(str(nb_path))
        self.threads = 1
        if hasattr(config, "set_threads"):  # ARM builds only; x86 Lite runs one math thread
            config.set_threads(threads)
            self.threads = threads
        with _LiteLogFilter():
            self.predictor = create_paddle_predictor(config)

    def run(self, inputs: dict) -> list:
        """Every output of the model, in its order."""
        check_feed_dtypes(inputs, self.id_dtype, self.nb_path)
        for name in INPUT_NAMES:
            self.predictor.get_input_by_name(name).from_numpy(np.ascontiguousarray(inputs[name]))
        self.predictor.run()
        return [self.predictor.get_output(index).numpy().copy()
                for index in range(len(self.predictor.get_output_names()))]


def measure_latency(model, inputs: dict, warmup: int, repeats: int) -> dict:
    """Times ``model.run(inputs)``; wall-clock milliseconds per call (here so that the device
    and ppliteformer's bench time models the same way)."""
    import time

    for _ in range(warmup):
        model.run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    times = np.asarray(times)
    return {"median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "min_ms": round(float(times.min()), 3), "repeats": repeats, "warmup": warmup}
