#!/usr/bin/env python3
"""Self-check and benchmark a ppliteformer model on an ARM Linux board over ssh/scp.

The board needs Python 3 with numpy and tokenizers, and key-based ssh login: ssh runs with
BatchMode=yes, so it never asks for a password (set up keys with ssh-copy-id). The model runs
through the bundle's lib/ (Paddle Lite's ARM library, ppliteformer's C shim and GCC's OpenMP
runtime), so no paddlelite package is needed there (PyPI has none for aarch64); a bundle
without lib/ needs one. The bundle must be an arm one (target in ppliteformer_meta.json):
an x86 model is refused before anything touches the board.

Steps (every command has --timeout seconds, default 300):

    ssh -o BatchMode=yes -o ConnectTimeout=10 HOST 'uname -a'          # can we log in?
    ssh ... HOST 'python3 -c "import numpy, tokenizers"'                  # (+ paddlelite.lite without lib/)
    ssh ... HOST 'mkdir -p REMOTE_DIR'
    scp -r -o BatchMode=yes -o ConnectTimeout=10 BUNDLE/model.nb ... BUNDLE/lib HOST:REMOTE_DIR/
    ssh ... HOST 'cd REMOTE_DIR && python3 predict.py --model . --selfcheck selfcheck.json --threads N --json'
    ssh ... HOST 'cd REMOTE_DIR && python3 predict.py --model . --bench --threads N --warmup W --repeats R --json'

The JSON the predictor prints comes back through ssh's stdout; --out gets

    {"device": {"kind": "arm_linux", "host": HOST, "uname": "<uname -a>"},
     "selfcheck": {<predict.py --selfcheck JSON>},
     "latency": {"median_ms", "p90_ms", "min_ms", "threads", "warmup", "repeats",
                 "engine": "paddle_lite_arm"},
     "source": "run_on_board"}

The bundle folder (--bundle DIR, an '<artifact>-arm' folder made by `ppliteformer bundle`) holds:
    model.nb, vocab.txt, ppliteformer_meta.json   the model converted for arm
    predict.py                                    the standalone predictor, with the files it imports:
    lite_runtime.py, model_files.py, tag_spans.py   input arrays and Lite; the model's files; entity decoding
    selfcheck.json                                sample texts with the expected labels/logits
    lib/                                          libppl_lite.so, libpaddle_light_api_shared.so, libgomp.so.1
    bench.py                                      optional; copied when present

Contract this script assumes of predict.py (it builds the commands, predict.py implements it):

  python3 predict.py --model DIR --selfcheck FILE [--threads N] --json
      FILE is JSON: {"atol": <float, optional>,
                     "samples": [{"text": str, "label": str, "logits": [float, ...]}, ...]}.
      Classifies every sample and prints ONE JSON object on the last stdout line:
        {"passed": bool, "n": int, "n_passed": int, "max_abs_logit_diff": float,
         "atol": float, "results": [{"text": str, "expected_label": str, "label": str,
                                     "max_abs_logit_diff": float, "ok": bool}, ...]}
      A sample is ok when its label equals the expected label and every logit is within
      atol of the expected one. Exit status: 0 all ok, 1 some sample not ok (JSON still
      printed), 2 usage / model error ("error: ..." on stderr, no JSON).

  python3 predict.py --model DIR --bench [--threads N] [--warmup W] [--repeats R] --json
      Times the model on batch 1 of max_seq_len tokens (ppliteformer_meta.json) after W
      untimed runs and prints ONE JSON object on the last stdout line:
        {"median_ms": float, "p90_ms": float, "min_ms": float, "threads": int,
         "warmup": int, "repeats": int, "batch_size": int, "seq_len": int}
      Exit status: 0 ok, 2 error ("error: ..." on stderr).

  Only the last stdout line that parses as a JSON object is read; log lines may precede it.
  This script needs "passed" (selfcheck) and "median_ms", "p90_ms", "min_ms" (bench).

--ssh-opt KEY=VALUE (repeatable) is passed as `-o KEY=VALUE` to both ssh and scp, e.g.
--ssh-opt Port=2222 --ssh-opt IdentityFile=~/.ssh/board_key.

Standard library only; Python 3.8+. Exit codes: 0 ok, 1 the self-check found a mismatch
(results still written), 2 user-fixable error (message on stderr, starting "error:").
"""
from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import ToolError, quote_command  # noqa: E402

BUNDLE_FILES = ("model.nb", "vocab.txt", "ppliteformer_meta.json", "predict.py", "lite_runtime.py", "model_files.py",
                "tag_spans.py", "selfcheck.json")
OPTIONAL_FILES = ("bench.py",)
BASE_SSH_OPTS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")
ENGINE = "paddle_lite_arm"
SSH_UNREACHABLE = 255  # ssh's own exit status for connection/authentication failures

SSH_HINT = "Install an OpenSSH client (ssh and scp; `sudo apt install openssh-client`) and put it on PATH."
LOGIN_HINT = ("ssh runs with BatchMode=yes and never asks for a password: set up key login with "
              "`ssh-copy-id HOST` and check that `ssh HOST true` works without a prompt. Pass extra ssh "
              "options with --ssh-opt KEY=VALUE (e.g. --ssh-opt Port=2222).")
BOARD_DEPS_HINT = ("Install them on the board (Debian/Ubuntu: `sudo apt install python3-numpy` and "
                   "`python3 -m pip install tokenizers`), or pick another interpreter with --python. The model "
                   "runs through the bundle's lib/ (Paddle Lite's ARM library), so the board needs no paddlelite "
                   "package, which PyPI does not have for aarch64.")
NO_LIB_HINT = ("The bundle has no lib/ with Paddle Lite's ARM library, so predict.py would need the paddlelite "
               "package on the board, which PyPI does not have for aarch64. Make the bundle where the ARM "
               "toolchain is set up ('ppliteformer arm-setup', then 'ppliteformer bundle WORKDIR'), so that "
               "lib/ ships libppl_lite.so and libpaddle_light_api_shared.so.")
LIB_DIR = "lib"
SHIM_IN_BUNDLE = "lib/libppl_lite.so"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Copy a ppliteformer model bundle to an ARM Linux board over scp, run the accuracy "
                    "self-check and the latency benchmark there with predict.py, and write the results as JSON.",
        epilog="Example: %(prog)s --bundle out/arm_bundle --host pi@raspberrypi.local --threads 4 "
               "--out board.json --dry-run",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--bundle", required=True,
                        help="folder with " + ", ".join(BUNDLE_FILES) + " (and optionally bench.py)")
    parser.add_argument("--host", required=True, help="the board as ssh knows it: user@host or a ~/.ssh/config alias")
    parser.add_argument("--remote-dir", default="/tmp/ppliteformer_bundle", help="folder on the board to copy to")
    parser.add_argument("--python", default="python3", help="Python interpreter on the board")
    parser.add_argument("--threads", type=_common.positive_int, default=1, help="CPU threads for Paddle Lite")
    parser.add_argument("--warmup", type=_common.non_negative_int, default=10, help="untimed benchmark runs")
    parser.add_argument("--repeats", type=_common.positive_int, default=30, help="timed benchmark runs")
    parser.add_argument("--ssh-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="extra ssh option, passed as -o KEY=VALUE to ssh and scp (repeatable)")
    parser.add_argument("--ssh", default="ssh", help="the ssh program")
    parser.add_argument("--scp", default="scp", help="the scp program")
    _common.add_common_arguments(parser, default_timeout=300)
    return parser


def validate(args) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", args.remote_dir) or args.remote_dir.startswith("-"):
        raise ToolError(f"--remote-dir {args.remote_dir!r} may only use letters, digits and _ . / - "
                        "(relative paths are under the login's home folder).")
    if not re.fullmatch(r"[A-Za-z0-9_.@:%\[\]-]+", args.host) or args.host.startswith("-"):
        raise ToolError(f"--host {args.host!r} is not an ssh destination; use user@host, host, or an alias "
                        "from ~/.ssh/config (options such as the port go in --ssh-opt Port=2222).")
    if not args.python or args.python.startswith("-") or any(c.isspace() for c in args.python):
        raise ToolError(f"--python {args.python!r} must name one program on the board, e.g. python3 or "
                        "/usr/bin/python3.9.")
    for opt in args.ssh_opt:
        if opt.startswith("-") or "=" not in opt:
            raise ToolError(f"--ssh-opt {opt!r} must be KEY=VALUE (an ssh -o option such as Port=2222 or "
                            "IdentityFile=~/.ssh/board_key); it is passed as -o KEY=VALUE to ssh and scp.")


class Board:
    """Commands against one board; every call goes through the Runner (timeout, dry run)."""

    def __init__(self, args, runner: _common.Runner):
        self.args, self.runner = args, runner
        self.opts = list(BASE_SSH_OPTS)
        for opt in args.ssh_opt:
            self.opts += ["-o", opt]

    def ssh_command(self, remote_cmd: str) -> list:
        return [self.args.ssh] + self.opts + [self.args.host, remote_cmd]

    def ssh(self, remote_cmd: str, what: str, dry_stdout: str = ""):
        result = self.runner.run(self.ssh_command(remote_cmd), what, dry_stdout=dry_stdout)
        if result.returncode == SSH_UNREACHABLE:
            raise ToolError(f"cannot reach {self.args.host} over ssh while {what} (ssh exit status 255). "
                            f"{_common.said(result)} {LOGIN_HINT}")
        return result

    def scp_command(self, local_files: list) -> list:
        """One scp of the bundle's files and, recursively, its lib/ folder."""
        return [self.args.scp, "-r"] + self.opts + local_files + [f"{self.args.host}:{self.args.remote_dir}/"]


def predictor_command(args, mode_flags: list) -> str:
    """The remote shell line that runs predict.py in the remote folder."""
    return (f"cd {quote_command([args.remote_dir])} && "
            + quote_command([args.python, "predict.py", "--model", "."] + mode_flags + ["--json"]))


def run(args, board: Board) -> dict:
    a = args
    uname = board.ssh("uname -a", f"connecting to {a.host}", dry_stdout="<uname -a>")
    if uname.returncode != 0:
        raise ToolError(f"`uname -a` failed on {a.host} (exit status {uname.returncode}). {_common.said(uname)}")
    ships_lite = (os.path.isfile(os.path.join(a.bundle, SHIM_IN_BUNDLE))
                  or (a.dry_run and not os.path.isdir(a.bundle)))  # a dry run without a bundle shows the usual case
    modules = "numpy, tokenizers" if ships_lite else "numpy, tokenizers, paddlelite.lite"
    deps = board.ssh(quote_command([a.python, "-c", f"import {modules}"]), "checking the board's Python packages")
    if deps.returncode != 0:
        missing = re.findall(r"No module named '([^']+)'", deps.stderr)
        problem = (f"{a.python} on {a.host} lacks the module {missing[0]!r}" if missing else
                   f"{a.python} on {a.host} cannot run (exit status {deps.returncode}; {_common.said(deps)})")
        hint = NO_LIB_HINT if missing and missing[0].startswith("paddlelite") else BOARD_DEPS_HINT
        raise ToolError(f"{problem}; predict.py needs {modules}. {hint}")
    mkdir = board.ssh(f"mkdir -p {quote_command([a.remote_dir])}", f"creating {a.remote_dir} on the board")
    if mkdir.returncode != 0:
        raise ToolError(f"cannot create {a.remote_dir} on {a.host}. {_common.said(mkdir)} Choose a writable "
                        "--remote-dir.")
    files = [os.path.join(a.bundle, name) for name in BUNDLE_FILES]
    files += [os.path.join(a.bundle, name) for name in OPTIONAL_FILES if os.path.isfile(os.path.join(a.bundle, name))]
    if ships_lite:
        files.append(os.path.join(a.bundle, LIB_DIR))
    board.runner.check(board.scp_command(files), f"copying the bundle to {a.host}:{a.remote_dir}",
                       LOGIN_HINT)

    selfcheck_run = board.ssh(predictor_command(a, ["--selfcheck", "selfcheck.json", "--threads", str(a.threads)]),
                              "running the self-check on the board", dry_stdout='{"passed": true}')
    selfcheck = _predictor_json(selfcheck_run, "--selfcheck", ok_codes=(0, 1), required=("passed",))
    bench_run = board.ssh(predictor_command(a, ["--bench", "--threads", str(a.threads), "--warmup", str(a.warmup),
                                                "--repeats", str(a.repeats)]),
                          "running the benchmark on the board",
                          dry_stdout='{"median_ms": 0, "p90_ms": 0, "min_ms": 0}')
    bench = _predictor_json(bench_run, "--bench", ok_codes=(0,), required=("median_ms", "p90_ms", "min_ms"))

    latency = {"median_ms": bench["median_ms"], "p90_ms": bench["p90_ms"], "min_ms": bench["min_ms"],
               "threads": a.threads, "warmup": a.warmup, "repeats": a.repeats, "engine": ENGINE}
    for extra in ("batch_size", "seq_len"):
        if extra in bench:
            latency[extra] = bench[extra]
    return {"device": {"kind": "arm_linux", "host": a.host, "uname": uname.stdout.strip()},
            "selfcheck": selfcheck, "latency": latency, "source": "run_on_board"}


def _predictor_json(result, mode: str, ok_codes, required) -> dict:
    payload = _common.last_json_object(result.stdout)
    if result.returncode not in ok_codes or payload is None:
        raise ToolError(f"predict.py {mode} failed on the board (exit status {result.returncode}). "
                        f"{_common.said(result)} Check that predict.py in the bundle is the current "
                        f"deploy/python/predict.py (it must support {mode} and --json) and that the model "
                        "was converted for ARM (ppliteformer convert --target arm).")
    missing = [key for key in required if key not in payload]
    if missing:
        raise ToolError(f"predict.py {mode} printed JSON without {', '.join(missing)}: "
                        f"{str(payload)[:300]}. Update predict.py in the bundle.")
    return payload


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    validate(args)
    _common.check_out_path(args.out, args.force)
    if not args.dry_run:
        if not os.path.isdir(args.bundle):
            raise ToolError(f"--bundle {args.bundle} is not a folder. It must hold {', '.join(BUNDLE_FILES)}.")
        _common.require_files([(os.path.join(args.bundle, name),
                                f"The bundle folder must hold {', '.join(BUNDLE_FILES)}; make it with "
                                "'ppliteformer bundle WORKDIR' and use its '<artifact>-arm' folder.")
                               for name in BUNDLE_FILES])

        _common.require_tools([args.ssh, args.scp], {args.ssh: SSH_HINT, args.scp: SSH_HINT})
    if os.path.isdir(args.bundle):  # an x86 model is refused before anything touches the board
        _common.require_arm_model(args.bundle)
    board = Board(args, _common.Runner(args.timeout, args.dry_run))
    results = run(args, board)
    if args.dry_run:
        return _common.EXIT_OK
    _common.write_json_atomic(args.out, results, args.force)
    lat, check = results["latency"], results["selfcheck"]
    print(f"{args.host}: self-check {'passed' if check['passed'] else 'FAILED'}; median {lat['median_ms']} ms, "
          f"p90 {lat['p90_ms']} ms ({lat['threads']} thread(s)) -> {args.out}")
    if not check["passed"]:
        print(_common.format_error(f"the self-check on the board did not match: {check.get('failures') or 'see the results'} (allowed "
                                   f"logit difference {check.get('atol')}); every sample is in \"selfcheck\" in "
                                   f"{args.out}."), file=sys.stderr)
        return _common.EXIT_FAILED_CHECK
    return _common.EXIT_OK


if __name__ == "__main__":
    sys.exit(_common.main_guard(main))
