#!/usr/bin/env bash
# An emulated ARM Linux board for the tests that run the documented board workflow over real ssh:
# a Debian 12 arm64 root file system (mmdebstrap) with openssh-server, Debian's python3 and
# python3-numpy and PyPI's aarch64 `tokenizers` wheel, and nothing else (no paddlelite, no
# libgomp1): what a user's minimal board has. Its programs run through qemu-user-static
# registered in binfmt_misc, so `chroot ROOTFS /usr/sbin/sshd` is an aarch64 sshd; the tests
# (tests/emulated_board.py) start it on a loopback port with a key of their own and stop it.
# Needs root and apt. About 4 min and 300 MB the first time; later runs only check.
#   usage: scripts/arm_board.sh [DEST=build/arm-board]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-build/arm-board}
TOKENIZERS=$(grep -E '^tokenizers==' requirements.lock | cut -d= -f3)
SITE=usr/local/lib/python3.11/dist-packages

need=""
command -v mmdebstrap >/dev/null 2>&1 || need="$need mmdebstrap"
[ -x /usr/bin/qemu-aarch64-static ] || need="$need qemu-user-static"
command -v ssh >/dev/null 2>&1 && command -v scp >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 \
  || need="$need openssh-client"
if [ -n "$need" ]; then
  apt-get update -qq && apt-get install -y -qq $need >/dev/null
fi

# binfmt_misc: mounted, and aarch64 ELF files handed to qemu-aarch64-static with the F flag (the
# interpreter is opened now, so it works inside the chroot, which has no qemu of its own).
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
if ! grep -qs '^flags: .*F' "$BINFMT/qemu-aarch64"; then
  [ -e "$BINFMT/qemu-aarch64" ] && echo -1 > "$BINFMT/qemu-aarch64"
  sed 's/:[A-Z]*$/:PF/' /usr/lib/binfmt.d/qemu-aarch64.conf > "$BINFMT/register"
fi

if [ -x "$DEST/rootfs/usr/sbin/sshd" ] && [ -d "$DEST/rootfs/$SITE/tokenizers" ]; then
  echo "emulated arm64 board ready in $DEST"; exit 0
fi
TMP="$DEST.tmp"
rm -rf "$TMP"
mkdir -p "$TMP"
mmdebstrap --quiet --variant=apt --arch=arm64 --include=openssh-server,python3,python3-numpy \
  bookworm "$TMP/rootfs" http://deb.debian.org/debian
.venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
  --python-version 3.11 -d "$TMP/wheel" "tokenizers==$TOKENIZERS"
mkdir -p "$TMP/rootfs/$SITE"
.venv/bin/python -m zipfile -e "$TMP"/wheel/tokenizers-*.whl "$TMP/rootfs/$SITE"
mkdir -p "$TMP/rootfs/run/sshd"
chroot "$TMP/rootfs" python3 -c "import numpy, tokenizers" # the board's Python works under emulation
rm -rf "$DEST" "$TMP/wheel"
mv "$TMP" "$DEST"
echo "emulated arm64 board ready in $DEST"
