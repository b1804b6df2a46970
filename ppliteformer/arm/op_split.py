"""Where an arm `.nb`'s aarch64 instructions go, by Lite kernel (op type).

The instruction counter (native/insn_count.c) snapshots its count each time Paddle Lite's
RuntimeProgram::Run loop head runs: once per op of the program, in the order the `.nb`'s topology
lists them (last first), and once when the loop ends. The differences are the ops' own counts; they
sum exactly to one Run() of the program. What one inference costs besides (the light API's feed and
fetch, up to the next run's start) is kept as its own group, so the groups sum to the inference's count.

The loop head is found in the Lite library by its bytes (v2.13-rc's RuntimeProgram::Run). A Lite
build where they are not found exactly once gets no split, only the total.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

# ldp x19, x20, [x0]; cmp x20, x19 (the loop head); b.ne; ldp; ldp; ret -- RuntimeProgram::Run's first lines
LOOP_SIGNATURE = bytes.fromhex("135040a9" "9f0213eb" "81000054" "f57b41a9" "f353c7a8" "c0035fd6")
LOOP_OFFSET_ENV = "PPL_LOOP_PAGE_OFFSET"  # read by the counter plugin
GROUPS = (("fc", ("fc",)), ("matmul", ("matmul", "matmul_v2", "mul")), ("softmax", ("softmax",)),
          ("layer_norm", ("layer_norm",)), ("gelu", ("gelu",)),
          ("lookup", ("lookup_table", "lookup_table_v2", "lookup_table_dequant")),
          ("casts/calib", ("calib", "cast")))
REST, OUTSIDE = "the rest", "feed/fetch"
GROUP_NAMES = tuple(name for name, _ in GROUPS) + (REST, OUTSIDE)


@functools.lru_cache(maxsize=None)
def loop_page_offset(library: Path) -> int | None:
    """The page offset of RuntimeProgram::Run's loop head in ``library``; None where it is not found once."""
    found = [m.start() for m in re.finditer(re.escape(LOOP_SIGNATURE), Path(library).read_bytes())]
    return (found[0] + 4) & 0xFFF if len(found) == 1 else None


def ops_in_order(nb_path) -> list:
    """The op types of the `.nb`'s program in execution order (its topology stores them last first)."""
    data = Path(nb_path).read_bytes()
    topology = data[:int.from_bytes(data[18:26], "little") + 64]
    return [m.decode() for m in re.findall(rb"([A-Za-z0-9_]+)/[A-Za-z0-9_]+/\d{1,2}/\d{1,2}/\d{1,2}", topology)][::-1]


def group_of(op: str) -> str:
    return next((name for name, ops in GROUPS if op in ops), REST)


def split_from_marks(marks: list, ops: list, runs: int) -> dict | None:
    """{group: instructions} of one inference, averaged over the cycles from the start of run 2 to the start
    of run ``runs``: each op's own count, and what the cycle spends outside the program (fetch, feed);
    None when the marks are not one per op and one more per run (the split would be wrong)."""
    turns = len(ops) + 1
    if not ops or runs < 3 or len(marks) != runs * turns:
        return None
    warm = np.asarray(marks[turns:(runs - 1) * turns + 1], dtype=np.int64)  # runs 2..runs-1, and run runs' start
    cycles = runs - 2
    groups = dict.fromkeys(GROUP_NAMES, 0)
    for run in range(cycles):
        for op, count in zip(ops, np.diff(warm[run * turns:(run + 1) * turns])):
            groups[group_of(op)] += int(count)
    groups[OUTSIDE] = int(warm[-1] - warm[0]) - sum(groups.values())
    return {group: int(round(count / cycles)) for group, count in groups.items()}
