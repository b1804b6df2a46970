#!/usr/bin/env bash
# An aarch64 Python userland in a folder, for proving the bundle's predict.py on ARM here under
# qemu-aarch64: Debian's arm64 python3.11 and python3-numpy (unpacked with dpkg -x, not installed)
# plus the aarch64 `tokenizers` wheel from PyPI. It stands in for an ARM Linux board that has
# Python, numpy and tokenizers but no paddlelite package. Needs root and apt (adds the arm64
# architecture to dpkg, which installs nothing by itself).
#   usage: scripts/arm_python_userland.sh [DEST=build/arm-python]
#   run:   qemu-aarch64 -L DEST/rootfs DEST/rootfs/usr/bin/python3.11 ...  (PYTHONPATH=DEST/site)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-build/arm-python}
TOKENIZERS=$(grep -E '^tokenizers==' requirements.lock | cut -d= -f3)
if [ -x "$DEST/rootfs/usr/bin/python3.11" ] && [ -d "$DEST/site/tokenizers" ]; then
  echo "aarch64 Python userland ready in $DEST"; exit 0
fi
PACKAGES="libc6 libgcc-s1 libstdc++6 libgomp1 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libuuid1
  libpython3.11-minimal libpython3.11-stdlib python3.11-minimal python3-numpy libblas3 liblapack3 libgfortran5"
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && apt-get download -qq $(for p in $PACKAGES; do echo "$p:arm64"; done))
mkdir -p "$TMP/rootfs" "$TMP/site"
for deb in "$TMP"/*.deb; do dpkg -x "$deb" "$TMP/rootfs"; done
# What update-alternatives would link on install: numpy loads libblas.so.3 / liblapack.so.3.
for lib in blas lapack; do
  ln -sf "$lib/lib$lib.so.3" "$TMP/rootfs/usr/lib/aarch64-linux-gnu/lib$lib.so.3"
done
.venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
  --python-version 3.11 -d "$TMP/wheel" "tokenizers==$TOKENIZERS"
.venv/bin/python -m zipfile -e "$TMP"/wheel/tokenizers-*.whl "$TMP/site"
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$TMP" "$DEST.tmp" && mkdir "$DEST" && mv "$DEST.tmp/rootfs" "$DEST.tmp/site" "$DEST/" && rm -rf "$DEST.tmp"
echo "aarch64 Python userland ready in $DEST"
