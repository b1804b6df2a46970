"""Paddle Lite's ARM kernels on this machine: the toolchain (build and discovery) and the emulator
(evaluation under qemu-aarch64 and instruction counts)."""
