#!/usr/bin/env python3
"""Entry point: the script is ppliteformer/device/run_on_board.py (it ships with the package and in bundles)."""
from _packaged import run

run("run_on_board.py")
