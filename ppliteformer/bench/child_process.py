"""Run a child process that prints one JSON object as its last JSON line, and read it.

Engines, opt and the CPU-peak probes run in children of their own: a native abort (Paddle
Lite's SIGABRT on a fatal error) then ends only the child, each measures its own peak
memory, and what went wrong comes back as one clear ``StageError``.
"""
from __future__ import annotations

import json
import subprocess

from ..errors import StageError


def last_line(text: str) -> str:
    """The last non-empty line of a child's output (its error, usually), shortened."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:400] if lines else "(no message)"


def run_json_child(command: list, what: str, timeout: float, env: dict | None = None) -> dict:
    """``command``'s last stdout line that starts with ``{``, parsed; a ``StageError`` naming ``what``
    when it times out, fails, or prints no JSON."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise StageError(f"{what} did not finish within {timeout:.0f} s.") from None
    if proc.returncode != 0:
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
        raise StageError(f"{what} {how}: {last_line(proc.stderr)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise StageError(f"{what} printed no result: {last_line(proc.stderr or proc.stdout)}")
