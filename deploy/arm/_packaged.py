"""Runs one of the deploy scripts that ship inside the package (ppliteformer/device/), from a
source checkout or any install, as if it had been started directly."""
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # a source checkout's ppliteformer first


def run(script: str) -> None:
    from ppliteformer.device import DEVICE_DIR

    sys.path.insert(0, str(DEVICE_DIR))  # the scripts import their siblings (_common, ...)
    sys.argv[0] = str(DEVICE_DIR / script)
    runpy.run_path(sys.argv[0], run_name="__main__")
