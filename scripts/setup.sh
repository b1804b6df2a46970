#!/usr/bin/env bash
# Creates .venv (Python 3.10) in the checkout and installs the pinned lock plus ppliteformer.
# Paddle Lite's wheels stop at CPython 3.10, so 3.10 is required.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
    command -v python3.10; return
  fi
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "$root"/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "ppliteformer needs Python 3.10 (Paddle Lite ships no wheel for newer Pythons); install it (pyenv install 3.10, or apt-get install python3.10) and run this script again." >&2
  exit 2
}

PY=$(find_python310)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Extra index locations in a machine-wide pip config would only add noise here.
export PIP_EXTRA_INDEX_URL=""
.venv/bin/python -m pip install --quiet --upgrade "pip==24.2" "setuptools==75.1.0" "wheel==0.44.0"
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
# Debian packages: headless Chromium renders the HTML report in its test; qemu-user and the
# aarch64 cross compiler run arm .nb files on Paddle Lite's ARM kernels (ppliteformer/arm).
APT_PACKAGES=""
command -v chromium >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES chromium"
command -v qemu-aarch64 >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES qemu-user"
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES g++-aarch64-linux-gnu"
if [ -n "$APT_PACKAGES" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq $APT_PACKAGES >/dev/null
  else
    echo "note: not installed:$APT_PACKAGES (apt-get install$APT_PACKAGES as root). The report screenshot test" \
         "needs chromium; running arm .nb files here needs qemu-user and g++-aarch64-linux-gnu." >&2
  fi
fi
# ppliteformer's ARM pieces, built against $PPLITEFORMER_LITE_ARM or ../shared/lite-armv8; without a
# Paddle Lite ARM build the ARM steps are left out of runs and say what is missing.
.venv/bin/ppliteformer arm-setup || echo "note: ARM kernels will not be run here (see the line above)." >&2
# An emulated arm64 Debian board (its own sshd, Debian's python3 + numpy, PyPI's aarch64 tokenizers,
# no paddlelite) for the tests that run the board workflow over ssh; needs root (chroot, binfmt_misc).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/arm_board.sh build/arm-board
else
  echo "note: not root, so no emulated ARM board for the board tests (scripts/arm_board.sh)." >&2
fi
.venv/bin/python -c "import paddle, paddlelite.lite, paddlenlp, paddleslim; print('ppliteformer environment ready in .venv')"
