"""The device code ships inside the package: it stays free of Paddle, and bundles work from a
non-editable install (no source checkout, no deploy/ folder beside it)."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from ppliteformer.device import DEPLOY_SCRIPTS, DEVICE_DIR, PREDICTOR

from .conftest import REPO

ALLOWED = {"numpy", "paddlelite", "tokenizers"}


def _imports(path) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # a sibling by its name ("from .model_files import"); anything above the device folder stays "."
            names.add(node.module.split(".")[0] if node.module and node.level <= 1 else ".")
    return names


@pytest.mark.unit
def test_device_code_imports_only_the_stdlib_numpy_tokenizers_paddlelite_and_its_siblings():
    siblings = {p.stem for p in DEVICE_DIR.glob("*.py")}
    for path in sorted(DEVICE_DIR.glob("*.py")):
        extra = _imports(path) - set(sys.stdlib_module_names) - ALLOWED - siblings - {"__future__"}
        assert not extra, f"{path.name} imports {', '.join(sorted(extra))}: device code may import only the " \
                          "standard library, numpy, tokenizers, paddlelite and its own siblings"


@pytest.mark.unit
def test_every_file_a_bundle_copies_is_in_the_package():
    assert PREDICTOR.is_file() and all((DEVICE_DIR / name).is_file() for name in DEPLOY_SCRIPTS)


@pytest.mark.tiny
def test_a_bundle_is_made_from_a_non_editable_install(tiny_run, tmp_path):
    """`pip install .` (not -e) into a folder of its own, then make_bundle from there, far from the checkout."""
    workdir, _ = tiny_run
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(target), str(REPO)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    assert not (target / "ppliteformer" / "__editable__").exists() and (target / "ppliteformer" / "device").is_dir()
    code = ("import sys, ppliteformer\n"
            "assert ppliteformer.__file__.startswith(sys.argv[1]), ppliteformer.__file__\n"
            "for folder in ppliteformer.make_bundle(sys.argv[2], out_dir=sys.argv[3], samples=2): print(folder)\n")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "GLOG_minloglevel": "2", "HOME": str(tmp_path)}
    out = tmp_path / "bundles"
    proc = subprocess.run([sys.executable, "-c", code, str(target), str(workdir), str(out)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bundle = out / "teacher-arm"
    assert (bundle / "predict.py").read_bytes() == PREDICTOR.read_bytes()
    for name in DEPLOY_SCRIPTS:
        assert (bundle / name).read_bytes() == (DEVICE_DIR / name).read_bytes(), name


@pytest.mark.unit
@pytest.mark.parametrize("script", ["run_on_board.py", "run_on_android.py"])
def test_the_entry_points_in_deploy_run_the_packaged_scripts(script, tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "deploy" / "arm" / script), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {script}"), proc.stderr


@pytest.mark.unit
def test_the_layout_and_the_model_files_import_no_numpy():
    """layout.py (read by the report renderer and the CLI) names the device's files without pulling in numpy."""
    code = "import sys, ppliteformer.layout, ppliteformer.device.model_files; assert 'numpy' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]
