#!/usr/bin/env python3
"""Standalone Paddle Lite text classifier and token tagger: the file that ships to a phone or an ARM board.

A text classifier prints each text's label and probability; a token model (task token_cls) prints
its entities with their character offsets (decoded by tag_spans.py, shipped beside this file).

It imports only numpy and the `tokenizers` library, plus the `paddlelite` package where one
exists (no paddle, no paddlenlp, which do not install on ARM boards), so it can be copied on
its own next to a model folder made by `ppliteformer convert`:

    model.nb  vocab.txt  ppliteformer_meta.json  [lib/libppl_lite.so  lib/libpaddle_light_api_shared.so]

Where `paddlelite` is not importable (every ARM Linux board: PyPI has no aarch64 build), the
`.nb` runs through Paddle Lite's own C++ library by way of ppliteformer's small C shim
(`lib/libppl_lite.so`, loaded with ctypes; a bundle for arm ships both libraries, and
$PPLITEFORMER_LITE_SHIM may name another copy of the shim).

Usage:
    python predict.py --model DIR_OR_NB --text "质量很好" [--text ...] [--file texts.txt] [--json]
    python predict.py --model DIR --selfcheck selfcheck.json [--json]   # on-device check, exit 1 on mismatch
    python predict.py --model DIR --bench [--threads N --warmup W --repeats R] [--json]

ppliteformer imports `encode_batch_arrays` and `LiteModel` from here too, so the pipeline
and the device run the same input code.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

META_FILE = "ppliteformer_meta.json"
SHIM_LIBRARY = "libppl_lite.so"
SHIM_ENV = "PPLITEFORMER_LITE_SHIM"
VOCAB_FILE = "vocab.txt"
INPUT_NAMES = ("input_ids", "token_type_ids", "position_ids", "attention_mask")
ID_INPUTS = INPUT_NAMES[:3]
ID_DTYPES = ("int64", "int32")  # int32: what ERNIE 3.0 Tiny deploys on phones (export --input_dtype int32)


class PredictorError(Exception):
    """A user-facing problem with the model folder or the input texts."""


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


META_MAX_BYTES = 1 << 20
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]")


def item_output(outputs: list, position: int, length: int):
    """Item ``position``'s output from every output of a batch: an array for a model with one output, a
    tuple for a model with several; an output with a token axis is cut to the item's ``length``."""
    cut = [o[position] if o.ndim == 2 else o[position, :length] for o in outputs]
    return cut[0] if len(cut) == 1 else tuple(cut)


def read_meta(folder) -> dict:
    """The model folder's ppliteformer_meta.json, checked for what the predictor reads; a PredictorError
    naming the file and the key otherwise."""
    path = Path(folder) / META_FILE
    again = "Copy the model folder whole again, or convert the model again ('ppliteformer convert')."
    try:
        if path.stat().st_size > META_MAX_BYTES:
            raise PredictorError(f"{path}: larger than {META_MAX_BYTES} bytes, so not a model's meta file. {again}")
        meta = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:
        raise PredictorError(f"{path}: not a readable JSON meta file ({str(exc)[:100]}). {again}") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    checks = (("labels", isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels),
               "a list of at least 2 label names"),
              ("max_seq_len", isinstance(meta.get("max_seq_len") if isinstance(meta, dict) else None, int)
               and not isinstance(meta.get("max_seq_len"), bool) and 3 <= meta["max_seq_len"] <= 65536,
               "a whole number of tokens"),
              ("do_lower_case", isinstance(meta.get("do_lower_case", True) if isinstance(meta, dict) else None, bool),
               "true or false"),
              ("id_dtype", isinstance(meta, dict) and meta.get("id_dtype", "int64") in ID_DTYPES,
               f"one of {', '.join(ID_DTYPES)}"))
    for key, ok, expected in checks:
        if not ok:
            raise PredictorError(f"{path}: '{key}' must be {expected}. {again}")
    return meta


def read_id_dtype(folder) -> str:
    """The dtype the model's id inputs were exported with (``id_dtype`` in its meta file; int64 when absent)."""
    return read_meta(folder).get("id_dtype", "int64") if (Path(folder) / META_FILE).is_file() else "int64"


def check_vocab(path) -> None:
    """A WordPiece vocabulary with the special tokens the predictor needs, or a PredictorError."""
    try:
        with open(path, "rb") as f:
            tokens = {line.strip() for line in f.read(64 << 20).decode("utf-8", "replace").splitlines()}
    except OSError as exc:
        raise PredictorError(f"{path}: cannot be read ({exc.strerror}).") from None
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise PredictorError(f"{path}: not the model's vocabulary ({len(tokens)} tokens, without "
                             f"{', '.join(missing)}). Copy the model folder's vocab.txt whole again.")


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


def nb_targets(nb_path) -> set:
    """The hardware targets a `.nb` file's kernels were chosen for, e.g. {"arm", "host"}.

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
    found = {int(m.group(1)) for m in re.finditer(rb"[A-Za-z0-9_]+/[A-Za-z0-9_]+/(\d{1,2})/\d{1,2}/\d{1,2}",
                                                   topology)}
    return {_LITE_TARGETS.get(t, f"target {t}") for t in found}


def this_machine_target() -> str:
    machine = platform.machine().lower()
    return "arm" if machine.startswith(("arm", "aarch64")) else "x86"


def check_nb_target(nb_path) -> None:
    """A complete `.nb` converted for this machine's kind of CPU, or a PredictorError saying what to do."""
    targets = nb_targets(nb_path)
    here = this_machine_target()
    foreign = targets - {"host", here}
    if foreign:
        raise PredictorError(f"{nb_path} was converted for {', '.join(sorted(foreign))} and cannot run on this "
                             f"{here} machine. Convert the model with '--target {here}' to run it here, or "
                             "copy this file to a device of its own kind.")


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


def load_tokenizer(vocab_path, lowercase: bool, max_seq_len: int):
    """PaddleNLP's BERT/ERNIE tokenizer rebuilt from `tokenizers` parts.

    PaddleNLP's BasicTokenizer also splits off every Unicode symbol (category S*, e.g.
    ～ and ￥) and a few listed code points, which the stock BERT pre-tokenizer does not.
    """
    from tokenizers import BertWordPieceTokenizer, Regex, pre_tokenizers

    tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=lowercase, strip_accents=None,
                                       clean_text=True, handle_chinese_chars=True)
    symbols = Regex(r"[\p{S}\x{00AD}\x{00B2}\x{00BA}\x{3007}\x{00B5}\x{00D8}\x{014B}\x{01B1}]")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Split(symbols, behavior="isolated")])
    tokenizer.enable_truncation(max_length=max_seq_len)
    return tokenizer


@functools.lru_cache(maxsize=None)
def _tag_spans():
    """tag_spans.py, the file beside this one (in ppliteformer/device/, and beside predict.py in a bundle),
    loaded from its path so that neither a package import nor sys.path is needed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tag_spans", Path(__file__).resolve().with_name("tag_spans.py"))
    if spec is None or not Path(spec.origin).is_file():
        raise PredictorError(f"tag_spans.py is missing beside {Path(__file__).name}: a token model's bundle ships "
                             "it. Copy the bundle whole again.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entity_line(entities: list) -> str:
    """Entities as one printable string: 江泽民/PER@3-6 北京/LOC@10-12 ("-" when there are none)."""
    return " ".join(f"{e['text']}/{e['type']}@{e['start']}-{e['end']}" for e in entities) or "-"


class TextClassifier:
    """Tokenizer + `.nb` model + label names, read from one model folder."""

    def __init__(self, model_path, threads: int = 1, load_model: bool = True):
        """``load_model=False`` reads only the tokenizer and labels (for an arm `.nb` on x86)."""
        model_path = Path(model_path)
        folder = model_path if model_path.is_dir() else model_path.parent
        nb_path = model_path if model_path.is_file() else folder / "model.nb"
        for needed in (nb_path, folder / VOCAB_FILE, folder / META_FILE):
            if not needed.is_file():
                raise PredictorError(
                    f"{needed} not found. --model must be a model folder made by 'ppliteformer convert' "
                    f"(model.nb, {VOCAB_FILE}, {META_FILE}) or the .nb file inside one.")
        self.meta = read_meta(folder)
        check_vocab(folder / VOCAB_FILE)
        self.labels = self.meta["labels"]
        self.max_seq_len = int(self.meta["max_seq_len"])
        self.tokenizer = load_tokenizer(folder / VOCAB_FILE, self.meta.get("do_lower_case", True), self.max_seq_len)
        self.pad_id = self.tokenizer.token_to_id(self.meta.get("pad_token", "[PAD]")) or 0
        self.text_pair = bool(self.meta.get("text_pair", False))  # a sentence-pair model: two texts in
        self.task = self.meta.get("task", "seq_cls")  # token_cls: a tag per token, entities out
        self.token_unit = self.meta.get("token_unit", "char")  # token_cls: what one token of the text is
        self.scheme = self.meta.get("scheme", "BIO")
        self._pieces_of = {}
        self.id_dtype = read_id_dtype(folder)
        self.model = open_model(nb_path, threads, self.id_dtype) if load_model else None

    def arrays(self, ids_list) -> dict:
        """The model's four inputs for token-id lists, ids in the dtype the model was exported with."""
        return batch_arrays(ids_list, self.pad_id, id_dtype=self.id_dtype)

    def encode(self, text: str, text_pair: str | None = None, warn: bool = True) -> list:
        """Token ids of one text, or ``SegmentedIds`` of a pair (truncated longest first, as PaddleNLP does);
        ``warn``: say so on stderr when the input was truncated."""
        if (text_pair is not None) != self.text_pair:
            raise PredictorError("this model classifies sentence pairs: give each text with its second text "
                                 "(--text with --text-pair, or text_a<TAB>text_b lines in --file)" if self.text_pair
                                 else "this model classifies single texts; --text-pair is for sentence-pair models")
        if self.task == "token_cls":
            ids, first_pieces, tokens = self.encode_tokens(text)
            truncated = len(first_pieces) < len(tokens)
        elif text_pair is None:
            encoding = self.tokenizer.encode(text)
            ids, truncated = encoding.ids, bool(encoding.overflowing)
        else:
            ids, truncated = self._encode_pair(text, text_pair)
        if truncated and warn:
            print(f"warning: input longer than {self.max_seq_len} tokens was truncated: "
                  f"{text[:30]!r}...", file=sys.stderr)
        return ids

    def _encode_pair(self, text: str, text_pair: str):
        """PaddleNLP's pair encoding: both texts' pieces cut one at a time from the longer one (the second on
        a tie) until [CLS] a [SEP] b [SEP] fits max_seq_len. (`tokenizers`' own pair truncation breaks ties the
        other way, so it is done here.)"""
        first, second = (self.tokenizer.encode(t, add_special_tokens=False) for t in (text, text_pair))
        a, b = first.ids, second.ids
        truncated = bool(first.overflowing or second.overflowing)
        budget = self.max_seq_len - 3
        while len(a) + len(b) > budget:
            truncated = True
            if len(a) > len(b):
                a = a[:-1]
            else:
                b = b[:-1]
        cls, sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        return SegmentedIds([cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)), truncated

    def tokens_of(self, text: str) -> list:
        """(token, start, end) of each token of the text: its characters (spaces left out) for a model
        trained on characters, else its whitespace-separated words; offsets index ``text``."""
        if self.token_unit == "char":
            return [(c, i, i + 1) for i, c in enumerate(text) if not c.isspace()]
        return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    def encode_tokens(self, text: str) -> tuple:
        """(ids, position of each token's first piece, tokens) as ppliteformer's token task encodes a
        sentence: every token tokenized on its own ([UNK] if it gives no piece), [CLS] pieces [SEP];
        tokens past max_seq_len are left out."""
        tokens = self.tokens_of(text)
        ids, first = [self.tokenizer.token_to_id("[CLS]")], []
        for token, _, _ in tokens:
            if token not in self._pieces_of:
                self._pieces_of[token] = self.tokenizer.encode(token, add_special_tokens=False).ids or \
                    [self.tokenizer.token_to_id("[UNK]")]
            pieces = self._pieces_of[token]
            if len(ids) + len(pieces) > self.max_seq_len - 1:
                break
            first.append(len(ids))
            ids += pieces
        return ids + [self.tokenizer.token_to_id("[SEP]")], first, tokens

    def _entities(self, text: str, logits) -> dict:
        """A token model's entities in ``text`` from its logits ([pieces, tags]): type, text, character
        offsets (end exclusive) and the lowest probability among its tokens' tags; with every token's tag."""
        spans = _tag_spans()
        _, first, tokens = self.encode_tokens(text)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        best = [int(probs[p].argmax()) for p in first]
        tags = [self.labels[b] for b in best]
        entities = []
        for chunk in spans.chunks(tags, self.scheme):
            start, end = tokens[chunk.start][1], tokens[chunk.end - 1][2]
            entities.append({"type": chunk.kind, "text": text[start:end], "start": start, "end": end,
                             "probability": float(min(probs[first[k], best[k]] for k in range(chunk.start, chunk.end)))})
        return {"text": text, "entities": entities, "tags": tags}

    def predict(self, text: str, text_pair: str | None = None, warn: bool = True) -> dict:
        """The label (or a token model's entities) of one input; ``warn``: say on stderr when it was truncated."""
        if not text.strip() or (text_pair is not None and not text_pair.strip()):
            raise PredictorError("The text is empty; give at least one non-space character.")
        if self.task == "token_cls" and text_pair is not None:
            raise PredictorError("this model tags the tokens of single texts; --text-pair is for sentence-pair models")
        ids = self.encode(text, text_pair, warn)
        return self.decode(text, text_pair, item_output(self.model.run(self.arrays([ids])), 0, len(ids)))

    def decode(self, text: str, text_pair: str | None, logits) -> dict:
        """The printed result of one input from the model's output for it (here, or a reference runtime's)."""
        if self.task == "token_cls":
            return {**self._entities(text, logits), "logits": [[float(x) for x in row] for row in logits]}
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        pair = {} if text_pair is None else {"text_pair": text_pair}
        return {"text": text, **pair, "label": self.labels[best], "probability": float(probs[best]),
                "logits": [float(x) for x in logits]}


def _numbers(values, count: int) -> bool:
    return (isinstance(values, list) and len(values) == count and
            all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values))


def read_selfcheck(check_file, classes: int, token_task: bool = False):
    """(samples, atol) of a selfcheck.json; a PredictorError naming the file and the sample otherwise.
    A file with no samples is refused: a check of nothing must not pass. A token model's sample has
    'entities' (the line ``entity_line`` prints) and one row of logits per piece."""
    fix = "Use the selfcheck.json of a bundle made by 'ppliteformer bundle' (make the bundle again)."
    try:
        spec = json.loads(Path(check_file).read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:
        raise PredictorError(f"{check_file}: not a readable JSON self-check file ({str(exc)[:120]}). {fix}") from None
    samples = spec.get("samples") if isinstance(spec, dict) else None
    if not isinstance(samples, list) or not samples:
        raise PredictorError(f"{check_file}: no samples to check ('samples' must be a non-empty list); a self-check "
                             f"of nothing cannot pass. {fix}")
    atol = spec.get("atol", 1e-3)
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < float("inf"):
        raise PredictorError(f"{check_file}: 'atol' is {str(atol)[:30]!r}, not a tolerance (a number >= 0). {fix}")
    for number, sample in enumerate(samples, start=1):
        logits = sample.get("logits") if isinstance(sample, dict) else None
        label = "entities" if token_task else "label"
        shape = (isinstance(logits, list) and logits and all(_numbers(row, classes) for row in logits)) \
            if token_task else _numbers(logits, classes)
        ok = (isinstance(sample, dict) and isinstance(sample.get("text"), str) and isinstance(sample.get(label), str)
              and isinstance(sample.get("text_pair", ""), str) and shape)
        if not ok:
            rows = f"one row of {classes} numbers per piece" if token_task else f"{classes} numbers, one per label"
            raise PredictorError(f"{check_file}: sample {number} needs 'text' (a string), '{label}' (a string) and "
                                 f"'logits' ({rows}). {fix}")
    return samples, float(atol)


def self_check(classifier: TextClassifier, check_file) -> dict:
    """Compare this device's labels and logits with those the bundle was made with.

    ``check_file``: {"atol": float, "samples": [{"text", "label", "logits"}]}, written by
    ``ppliteformer bundle`` from the x86 run of the same model.
    """
    token_task = classifier.task == "token_cls"
    samples, atol = read_selfcheck(check_file, len(classifier.labels), token_task)
    results = []
    for sample in samples:
        got = classifier.predict(sample["text"], sample.get("text_pair"), warn=False)
        expected = sample["entities"] if token_task else sample["label"]
        label = entity_line(got["entities"]) if token_task else got["label"]
        ours, theirs = np.asarray(got["logits"]), np.asarray(sample["logits"])
        diff = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")
        results.append({"text": sample["text"], "expected_label": expected, "label": label,
                        "max_abs_logit_diff": diff, "ok": label == expected and diff <= atol})
    passed = sum(r["ok"] for r in results)
    return {"passed": passed == len(results), "n": len(results), "n_passed": passed, "atol": atol,
            "max_abs_logit_diff": max((r["max_abs_logit_diff"] for r in results), default=0.0),
            "failures": failed_samples(results), "results": results}


def failed_samples(results: list, limit: int = 3) -> str:
    """Which samples failed, each with the expected and actual label and its largest logit difference
    ("" when none did); run_on_board.py shows this line from the board's JSON."""
    failed = [(i, r) for i, r in enumerate(results, start=1) if not r["ok"]]
    parts = [f"sample {i} ({r['text'][:20]!r}): expected {r['expected_label']}, got {r['label']}, largest logit "
             f"difference {r['max_abs_logit_diff']:.2e}" for i, r in failed[:limit]]
    return "; ".join(parts) + (f"; and {len(failed) - limit} more" if len(failed) > limit else "")


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


class _EndToEnd:
    """One input through tokenizer, input arrays, the model and the softmax: what an app waits for."""

    def __init__(self, classifier: TextClassifier, text: str, text_pair: str | None):
        self.classifier, self.text, self.text_pair = classifier, text, text_pair

    def run(self, _inputs):
        return self.classifier.predict(self.text, self.text_pair)


def benchmark(classifier: TextClassifier, threads: int, warmup: int, repeats: int) -> dict:
    """Latency of batch 1 at the model's max_seq_len (full-length input, no padding): the model
    alone (top-level figures), and end to end from a text of that many tokens (``end_to_end``)."""
    ids = list(np.random.RandomState(0).randint(5, 100, size=classifier.max_seq_len))
    result = measure_latency(classifier.model, classifier.arrays([ids]), warmup, repeats)
    vocab = [t for t, _ in sorted(classifier.tokenizer.get_vocab().items(), key=lambda item: item[1])
             if len(t) == 1 and "\u4e00" <= t <= "\u9fff"] or ["a"]
    if classifier.text_pair:  # two halves: + [CLS] and two [SEP]
        chars = "".join(vocab[i % len(vocab)] for i in range(classifier.max_seq_len - 3))
        text, text_pair = chars[:len(chars) // 2], chars[len(chars) // 2:]
    else:  # + [CLS] and [SEP]
        text, text_pair = "".join(vocab[i % len(vocab)] for i in range(classifier.max_seq_len - 2)), None
    end_to_end = measure_latency(_EndToEnd(classifier, text, text_pair), {}, warmup, repeats)
    end_to_end["tokens"] = len(classifier.encode(text, text_pair))
    result.update({"threads": threads, "batch_size": 1, "seq_len": classifier.max_seq_len,
                   "machine": platform.machine(), "timed": "model", "end_to_end": end_to_end})
    return result


def _command_line_text(text: str, flag: str) -> str:
    """A --text / --text-pair value; bytes that are not UTF-8 (Python keeps them as surrogates) are refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PredictorError(f"{flag} {text.encode('utf-8', 'surrogateescape')[:30]!r} is not valid UTF-8. Give "
                             "the text in UTF-8 (check the terminal's or the calling program's encoding).") from None
    return text


def _iter_inputs(args, pairs: bool):
    """(text, text_pair or None) from --text [--text-pair] and --file (text_a<TAB>text_b lines for pairs)."""
    texts = [_command_line_text(t, "--text") for t in args.text or []]
    seconds = [_command_line_text(t, "--text-pair") for t in args.text_pair or []]
    if seconds and len(seconds) != len(texts):
        raise PredictorError(f"{len(texts)} --text but {len(seconds)} --text-pair: give one --text-pair after "
                             "each --text.")
    yield from zip(texts, seconds or [None] * len(texts))
    if args.file:
        with open(args.file, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise PredictorError(f"{args.file}, line {lineno}: not valid UTF-8. "
                                         "Re-save the file as UTF-8.") from None
                if not line.strip():
                    continue
                if not pairs:
                    yield line, None
                elif line.count("\t") != 1:
                    raise PredictorError(f"{args.file}, line {lineno}: a sentence-pair model reads "
                                         "text_a<TAB>text_b lines (one tab); this line has "
                                         f"{line.count(chr(9))}.")
                else:
                    yield tuple(line.split("\t"))


def _summary(result: dict) -> str:
    if "passed" in result:
        line = (f"self-check {'passed' if result['passed'] else 'FAILED'}: {result['n_passed']}/{result['n']} samples, "
                f"largest logit difference {result['max_abs_logit_diff']:.2e} (allowed {result['atol']:.0e})")
        return line if result["passed"] else f"{line}. Failed: {result['failures']}"
    e2e = result["end_to_end"]
    return (f"model: median {result['median_ms']} ms, p90 {result['p90_ms']} ms, min {result['min_ms']} ms; "
            f"end to end (tokenizer, model, softmax; {e2e['tokens']} tokens): median {e2e['median_ms']} ms, "
            f"p90 {e2e['p90_ms']} ms (batch 1, seq {result['seq_len']}, {result['threads']} threads, "
            f"{result['repeats']} runs)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Classify texts, or tag their tokens (entities with character "
                                     "offsets), with a Paddle Lite .nb model.")
    parser.add_argument("--model", required=True, help="model folder (model.nb, vocab.txt, "
                        f"{META_FILE}) or the .nb file inside it")
    parser.add_argument("--text", action="append", help="a text to classify (repeatable)")
    parser.add_argument("--text-pair", action="append", help="the second text of a sentence pair, one after "
                        "each --text (sentence-pair models)")
    parser.add_argument("--file", help="a UTF-8 file of texts, one per line (text_a<TAB>text_b for a "
                        "sentence-pair model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (ARM builds)")
    parser.add_argument("--selfcheck", help="a bundle's selfcheck.json: compare labels and logits, exit 1 on mismatch")
    parser.add_argument("--bench", action="store_true", help="time batch 1 at the model's max_seq_len: the "
                        "model alone, and end to end from a text (tokenizer and softmax included)")
    parser.add_argument("--warmup", type=int, default=10, help="--bench: untimed runs first")
    parser.add_argument("--repeats", type=int, default=50, help="--bench: timed runs")
    args = parser.parse_args(argv)
    if not (args.text or args.file or args.selfcheck or args.bench):
        parser.error("give --text, --file, --selfcheck or --bench")
    if args.threads < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1, --warmup at least 0")
    if args.file and (not os.path.exists(args.file) or os.path.isdir(args.file)):
        parser.error(f"--file {args.file}: " + ("a folder, not a file" if os.path.isdir(args.file) else "no such file"))
    os.environ.update(mkl_avx2_env())
    try:
        classifier = TextClassifier(args.model, args.threads)
        if args.selfcheck or args.bench:
            result = self_check(classifier, args.selfcheck) if args.selfcheck else \
                benchmark(classifier, args.threads, args.warmup, args.repeats)
            print(json.dumps(result, ensure_ascii=False) if args.json else _summary(result), flush=True)
            return 1 if args.selfcheck and not result["passed"] else 0
        for text, text_pair in _iter_inputs(args, classifier.text_pair):
            result = classifier.predict(text, text_pair)
            if args.json:
                print(json.dumps(result, ensure_ascii=False), flush=True)
            elif "entities" in result:
                print(f"{entity_line(result['entities'])}\t{text}", flush=True)
            else:
                shown = text if text_pair is None else f"{text}\t{text_pair}"
                print(f"{result['label']}\t{result['probability']:.4f}\t{shown}", flush=True)
    except PredictorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
