"""Parse what Paddle Lite's ``benchmark_bin`` prints (and writes to ``--result_path``).

Format source: PaddlePaddle/Paddle-Lite, branch release/v2.13,
``lite/api/tools/benchmark/benchmark.cc`` (function ``Run``, the "Save benchmark info"
block) and ``lite/api/tools/benchmark/benchmark.h`` (``PerfData``, ``GetDeviceInfo``,
``StoreBenchmarkResult``). The same text goes to stdout and, when ``--result_path`` is
set, is *appended* (``std::ios::app``) to that file. It is a series of blocks, each
headed ``======= <name> =======``: "Device Info" (brand, device, model, Android version;
Android builds only), "Model Info" (``optimized_model_file``, ``input_shape``, output
tensors), "Runtime Info" (``threads``, ``power_mode``, ``warmup``, ``repeats``,
``result_path``), "Backend Info" (``backend``, ``cpu precision``), "Memory Usage" (only
with ``--enable_memory_profile``) and "Perf Info", which ends the block with
``Time(unit: ms):`` and one line each for ``init``, ``first``, ``min``, ``max`` and
``avg``, e.g. ``min   = 32.577``. tests/test_deploy_arm.py holds a whole sample.

Each timing is printed ``std::fixed`` with precision 3 and left-aligned in a 12-wide field
(so lines may carry trailing spaces). Semantics (``PerfData``): ``init`` is predictor
creation time; ``first`` is the very first Run() (a warm-up run when --warmup > 0);
``min``/``max``/``avg`` are over the last ``--repeats`` runs only. benchmark_bin reports
no median or percentiles.

Standard library only; Python 3.8+.
"""
from __future__ import annotations

import math
import re

_SECTION = re.compile(r"^=+\s*(.*?)\s*=+$")
_ASSIGN = re.compile(r"^([A-Za-z_]+)\s*=\s*(\S+)\s*$")
_TIME_KEYS = {"init": "init_ms", "first": "first_ms", "min": "min_ms", "max": "max_ms", "avg": "avg_ms"}
_MEMORY_KEYS = {"init": "memory_init_mb", "peak": "memory_peak_mb"}
_INFO_KEYS = {  # "key: value" lines outside the Perf Info block -> output field
    "benchmark_bin version": "version", "threads": "threads", "power_mode": "power_mode",
    "warmup": "warmup", "repeats": "repeats", "backend": "backend", "cpu precision": "cpu_precision",
    "input_shape": "input_shape", "optimized_model_file": "optimized_model_file",
}
_INT_FIELDS = {"threads", "power_mode", "warmup", "repeats"}
_DEVICE_KEYS = {"Brand": "brand", "Device": "device", "Model": "model",
                "Android Version": "android_version", "Android API Level": "android_api_level"}
REQUIRED = ("min_ms", "max_ms", "avg_ms")

EXPECTED_FORMAT = ('a "======= Perf Info =======" block with "Time(unit: ms):" followed by lines '
                   '"init  = <ms>", "first = <ms>", "min   = <ms>", "max   = <ms>", "avg   = <ms>"')


def parse_benchmark_bin_output(text: str) -> dict:
    """Timing (and run info) from benchmark_bin output or its --result_path file.

    Returns ``{"avg_ms", "min_ms", "max_ms"}`` always, plus ``"init_ms"``, ``"first_ms"``,
    ``"memory_init_mb"``, ``"memory_peak_mb"``, ``"version"``, ``"threads"``,
    ``"power_mode"``, ``"warmup"``, ``"repeats"``, ``"backend"``, ``"cpu_precision"``,
    ``"input_shape"``, ``"optimized_model_file"`` and ``"device_info"`` (Android
    getprop values) when the text has them. When the text holds several runs (the result
    file is appended to), the last complete run wins.

    Raises ValueError naming the expected format when there are no timing lines.
    """
    if not isinstance(text, str):
        raise ValueError("benchmark_bin output must be text (str)")
    runs, current = [], None
    section, sub = None, None
    info, device = {}, {}
    for raw in text.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header and "=" not in header.group(1):
            section, sub = header.group(1), None
            if section == "Perf Info":
                current = {}
                runs.append((current, dict(info), dict(device)))
            continue
        if section == "Perf Info":
            if line.startswith("Time(unit: ms)"):
                sub = "time"
                continue
            if line.startswith("Memory Usage(unit: MB)"):
                sub = "memory"
                continue
            match = _ASSIGN.match(line)
            if match and sub in ("time", "memory"):
                key, value = match.groups()
                field = (_TIME_KEYS if sub == "time" else _MEMORY_KEYS).get(key)
                if field:
                    current[field] = _number(value, key, raw)
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if section == "Device Info" and key in _DEVICE_KEYS and value:
                device[_DEVICE_KEYS[key]] = value
            elif key in _INFO_KEYS:
                field = _INFO_KEYS[key]
                info[field] = int(value) if field in _INT_FIELDS and re.fullmatch(r"-?\d+", value) else value

    complete = [run for run in runs if all(k in run[0] for k in REQUIRED)]
    if not complete:
        found = ("a Perf Info block without all of min/max/avg" if runs else "no Perf Info block")
        raise ValueError(f"no benchmark_bin timing lines found ({found}); expected {EXPECTED_FORMAT}. "
                         f"The text starts with: {text.strip()[:200]!r}")
    timings, run_info, run_device = complete[-1]
    result = dict(run_info)
    result.update(timings)
    if run_device:
        result["device_info"] = run_device
    return result


def _number(value: str, key: str, line: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"benchmark_bin timing line {line.strip()!r}: {key} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"benchmark_bin timing line {line.strip()!r}: {key} is {value} (was --repeats 0?)")
    return number
