"""Shared plumbing for deploy/arm/run_on_board.py and deploy/arm/run_on_android.py.

Standard library only (Python 3.8+): these scripts run on the user's workstation, which
need not have ppliteformer, Paddle or numpy installed.

What lives here:
  * ToolError + main_guard: a user-facing problem becomes one "error: ..." paragraph on
    stderr and exit code 2, never a Python traceback.
  * Runner: runs (or, with --dry-run, only prints) one external command with a timeout;
    a command that runs too long is killed with its whole process group.
  * require_tools / require_files: clear messages for a missing adb/ssh/scp or input file.
  * check_out_path / write_json_atomic: the --out / --force contract (temp file + rename).
  * last_json_object: the JSON a remote predictor printed, picked out of captured stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # the run worked but the self-check reported a mismatch
EXIT_USER_ERROR = 2


class ToolError(Exception):
    """A problem the user can fix (missing tool/file/device, timeout, bad output)."""


def main_guard(main, argv=None) -> int:
    """Run ``main(argv)``; turn ToolError / Ctrl-C into a message and an exit code."""
    try:
        return main(argv)
    except ToolError as exc:
        print(format_error(str(exc)), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130


def format_error(message: str) -> str:
    """One paragraph (one line; the terminal wraps it) starting with "error: "."""
    return "error: " + " ".join(message.split())


def quote_command(cmd) -> str:
    """The command as a POSIX shell would need it typed (what --dry-run prints)."""
    return " ".join(shlex.quote(str(part)) for part in cmd)


# ---------------------------------------------------------------- argument types

def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def add_common_arguments(parser: argparse.ArgumentParser, default_timeout: float) -> None:
    """--out, --force, --timeout, --dry-run: the same meaning in both scripts."""
    parser.add_argument("--out", required=True,
                        help="where to write the results JSON (refused if it exists, unless --force)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--timeout", type=positive_float, default=default_timeout,
                        help="seconds each external command may run before it is killed")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands that would run, one per line, and exit 0; "
                             "needs no device, no tools and no input files")


# ---------------------------------------------------------------- preflight checks

def require_tools(names, hints: dict) -> None:
    """Every program in ``names`` must be on PATH (or be an existing path)."""
    missing = [name for name in names if not _find_program(name)]
    if missing:
        fixes = " ".join(dict.fromkeys(hints.get(name, "") for name in missing)).strip()
        raise ToolError(f"{' and '.join(repr(m) for m in missing)} not found on PATH "
                        f"(PATH={os.environ.get('PATH', '')!r}). {fixes} Or run with --dry-run to only "
                        "print the commands.")


def _find_program(name: str) -> bool:
    if os.sep in name or (os.altsep and os.altsep in name):
        return os.path.isfile(name) and os.access(name, os.X_OK)
    return shutil.which(name) is not None


def require_files(paths_and_hints) -> None:
    """Each (path, hint) pair: the path must be an existing regular file."""
    for path, hint in paths_and_hints:
        if not os.path.isfile(path):
            raise ToolError(f"{path} not found. {hint}")


def check_out_path(out: str, force: bool) -> None:
    """Refuse early (before any device time is spent) to clobber an existing --out."""
    if os.path.isdir(out):
        raise ToolError(f"--out {out} is a directory; give a file name such as {os.path.join(out, 'results.json')}.")
    if os.path.exists(out) and not force:
        raise ToolError(f"--out {out} already exists. Pass --force to overwrite it, or choose another --out.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ToolError(f"the folder of --out {out} ({parent}) does not exist; create it first.")


def write_json_atomic(out: str, payload: dict, force: bool) -> None:
    """Write ``payload`` to a temp file next to ``out`` and rename it into place.

    A crash mid-write never leaves a half-written results file. Without ``force`` the final
    step is a hard link, which fails if ``out`` appeared meanwhile, so nothing is clobbered.
    """
    parent = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(out), suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, out)
        else:
            try:
                os.link(tmp, out)
            except FileExistsError:
                raise ToolError(f"--out {out} already exists (it appeared while the run was going). "
                                "Pass --force to overwrite it, or choose another --out.") from None
            except OSError:  # file systems without hard links: check-then-rename instead
                if os.path.exists(out):
                    raise ToolError(f"--out {out} already exists. Pass --force to overwrite it.") from None
                os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- the model's meta file

META_NAME = "ppliteformer_meta.json"
META_MAX_BYTES = 1 << 20


def read_model_meta(folder: str) -> dict:
    """The ppliteformer_meta.json of a converted model folder, checked for what the device scripts use:
    ``target`` ("arm" or "x86", written by 'ppliteformer convert') and ``max_seq_len``."""
    path = os.path.join(folder, META_NAME)
    again = "Convert the model again with 'ppliteformer convert --target arm' (or rebuild the bundle with 'ppliteformer bundle')."
    try:
        if os.path.getsize(path) > META_MAX_BYTES:
            raise ToolError(f"{path} is larger than {META_MAX_BYTES} bytes, so it is not a model's meta file. {again}")
        with open(path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ToolError(f"{path} not found: the device scripts read the model's target and length from it. "
                        f"{again}") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ToolError(f"{path} cannot be read as JSON ({str(exc)[:120]}). {again}") from None
    if not isinstance(meta, dict):
        raise ToolError(f"{path} does not hold a JSON object. {again}")
    target = meta.get("target")
    if target not in ("arm", "x86"):
        raise ToolError(f"{path} does not say which CPU the .nb was converted for ('target' is {str(target)[:40]!r}; "
                        f"models converted before ppliteformer wrote it lack it). {again}")
    length = meta.get("max_seq_len")
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 65536:
        raise ToolError(f"{path}: 'max_seq_len' is {str(length)[:40]!r}, not a whole number of tokens. {again}")
    return meta


def require_arm_model(folder: str) -> dict:
    """The meta of an arm model folder; an x86 one is refused before anything touches a device."""
    meta = read_model_meta(folder)
    if meta["target"] != "arm":
        raise ToolError(f"the model in {folder} was converted for {meta['target']} (target in "
                        f"{os.path.join(folder, META_NAME)}), so an ARM device cannot run it. Use the arm "
                        "conversion (convert/arm, or the '<artifact>-arm' bundle), or convert with --target arm.")
    return meta


# ---------------------------------------------------------------- running commands

class Result:
    """What a finished command left: its exit status and its text output."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class Runner:
    """Runs external commands with a timeout, or (dry run) prints them instead.

    Each command gets its own process group, so a timeout kills what it started too (an
    `ssh` and its `ProxyCommand`, a shell script and its `sleep`), not only the parent.
    """

    def __init__(self, timeout: float, dry_run: bool, out=None):
        self.timeout = timeout
        self.dry_run = dry_run
        self.out = out or sys.stdout

    def run(self, cmd, what: str, dry_stdout: str = "") -> Result:
        """Run ``cmd``; return its Result whatever the exit status (callers judge it).

        ``what`` names the step for error messages ("copying the bundle"). In a dry run the
        command is printed and ``dry_stdout`` stands in for its output.
        """
        cmd = [str(part) for part in cmd]
        if self.dry_run:
            print(quote_command(cmd), file=self.out, flush=True)
            return Result(0, dry_stdout, "")
        popen_kwargs = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        if os.name == "posix":
            popen_kwargs["start_new_session"] = True
        try:
            proc = subprocess.Popen(cmd, **popen_kwargs)
        except OSError as exc:
            raise ToolError(f"could not start {cmd[0]!r} while {what}: {exc.strerror or exc}. "
                            f"Check that {cmd[0]} is installed and on PATH.") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            raise ToolError(f"timed out after {self.timeout:g} s while {what}: `{quote_command(cmd)}` did not "
                            "finish and was killed. Check that the device is connected and responsive; if the "
                            "step is just slow (a large model over a slow link, a long benchmark), raise "
                            "--timeout.") from None
        except BaseException:  # Ctrl-C: do not leave the child running
            _kill_tree(proc)
            raise
        return Result(proc.returncode, _text(out), _text(err))

    def check(self, cmd, what: str, hint: str = "", dry_stdout: str = "") -> Result:
        """Like run(), but a non-zero exit status is a ToolError quoting the command's output."""
        result = self.run(cmd, what, dry_stdout=dry_stdout)
        if result.returncode != 0:
            raise ToolError(f"{what} failed (exit status {result.returncode}) running `{quote_command(cmd)}`. "
                            f"{said(result)} {hint}")
        return result


def said(result: Result, limit: int = 400) -> str:
    """"It said: ..." with the last meaningful output lines, for an error message."""
    text = (result.stderr.strip() or result.stdout.strip())
    if not text:
        return "It printed nothing."
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tail = " | ".join(lines[-4:])
    if len(tail) > limit:
        tail = "..." + tail[-limit:]
    return f"It said: {tail}" + ("" if tail.endswith((".", "!", "?")) else ".")


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        pass  # something outside the group still holds the pipes; do not wait for it


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def last_json_object(text: str):
    """The last stdout line that is a JSON object, or None (warnings may precede it)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
