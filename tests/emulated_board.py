"""An emulated aarch64 Debian board reached over real ssh on a loopback port.

scripts/arm_board.sh (run by scripts/setup.sh) builds its root file system: Debian 12 arm64
with openssh-server, python3, python3-numpy and PyPI's aarch64 tokenizers, no paddlelite and no
libgomp1. Its programs run through qemu-user-static registered in binfmt_misc, so the sshd
started here with chroot is the board's own aarch64 sshd, and every command a test sends runs
aarch64 code. The board takes a fresh key each start; nothing of it outlives ``stop``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .conftest import REPO

ROOTFS = REPO / "build" / "arm-board" / "rootfs"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def missing() -> str:
    """Why no board can be started here ("" when one can)."""
    if os.geteuid() != 0:
        return "the emulated board needs root (chroot)"
    if not (ROOTFS / "usr" / "sbin" / "sshd").is_file():
        return f"no emulated board in {ROOTFS.parent}: run scripts/arm_board.sh as root"
    try:
        flags = [line for line in BINFMT.read_text().splitlines() if line.startswith("flags:")]
    except OSError:
        return "qemu-aarch64 is not registered in binfmt_misc: run scripts/arm_board.sh as root"
    if not flags or "F" not in flags[0]:
        return "qemu-aarch64 is registered in binfmt_misc without the F flag: run scripts/arm_board.sh as root"
    if not (shutil.which("ssh") and shutil.which("scp") and shutil.which("ssh-keygen")):
        return "no OpenSSH client (ssh, scp, ssh-keygen) on this machine"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatedBoard:
    """root@127.0.0.1:PORT; ``ssh_opts`` are what run_on_board.py takes as --ssh-opt."""

    host = "root@127.0.0.1"

    def __init__(self, keys: Path):
        self.keys = keys
        self.port = _free_port()
        self.process = None

    def start(self, timeout: float = 60) -> "EmulatedBoard":
        self.keys.mkdir(parents=True, exist_ok=True)
        key = self.keys / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        ssh_dir = ROOTFS / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(f"{key}.pub", ssh_dir / "authorized_keys")
        host_key = (ROOTFS / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        (self.keys / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {' '.join(host_key)}\n")
        (ROOTFS / "run" / "sshd").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["chroot", str(ROOTFS), "/usr/sbin/sshd", "-D", "-e", "-p", str(self.port),
             "-o", "ListenAddress=127.0.0.1", "-o", "PidFile=none"],
            stdout=subprocess.DEVNULL, stderr=open(self.keys / "sshd.log", "wb"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the board's sshd exited: {(self.keys / 'sshd.log').read_text()[-500:]}")
            if self.ssh("true", timeout=30).returncode == 0:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the board's sshd did not answer within {timeout} s")

    @property
    def ssh_opts(self) -> list:
        return [f"Port={self.port}", f"IdentityFile={self.keys / 'id_ed25519'}",
                f"UserKnownHostsFile={self.keys / 'known_hosts'}", "StrictHostKeyChecking=yes"]

    def ssh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        options = [arg for opt in self.ssh_opts for arg in ("-o", opt)]
        return subprocess.run(["ssh", "-o", "BatchMode=yes", *options, self.host, command],
                              capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        (ROOTFS / "root" / ".ssh" / "authorized_keys").unlink(missing_ok=True)
