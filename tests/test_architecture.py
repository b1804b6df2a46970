"""The folder tree is the architecture: ppliteformer's groups import one way, from the top of LAYERS down.

Every import of one group by another (at module level or inside a function) must go to a group listed
before it; the foundation modules at the package's top level (errors, registry, layout, atomic, records, ranks)
may be imported by every group and import no group but ``device`` (the lowest, which imports none).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ppliteformer"
FOUNDATION = ("errors", "registry", "layout", "atomic", "records", "ranks")
LAYERS = (  # lowest first: each group may import only the groups before it (and the foundation)
    "device",       # what ships to a board: standard library, numpy, tokenizers, paddlelite
    "arm",          # Paddle Lite's ARM kernels under qemu: toolchain, emulator
    "runtimes",     # one interface over Paddle Inference, dygraph, Lite; opt and the x86 rewrites
    "tasks",        # the task shapes: data, heads, losses, metrics, parity rules, classical rows
    "models",       # PaddleNLP families, checkpoints, export, training, pre-training, FLOPs
    "compression",  # the algorithms: distillation, pruning, quantization, vocabulary trimming
    "steps",        # the compression steps of a chain, one module each
    "config",       # strategy YAML and PaddleSlim ACT configs
    "report",       # stage metrics -> report.json, the table, HTML and Markdown
    "bench",        # latency, the side-by-side engines, the CPU's fp32 peak
    "pipeline",     # stages, the work-directory runner, the workflow, bundles
    "search",       # budget search: candidates run through the pipeline's stages, scored on the ARM kernels
    "cli",
)


def _group(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _imports():
    """(importing module, imported module) of every ppliteformer-internal import."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                target = ".".join(base + [node.module]) if node.module else ".".join(base)
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
                for name in names:
                    if name.startswith("ppliteformer."):
                        yield module, name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("ppliteformer."):
                        yield module, alias.name


@pytest.mark.unit
def test_every_module_belongs_to_a_group_or_the_foundation():
    groups = {_group(m) for m, _ in _imports()} - {""}
    assert groups <= set(LAYERS) | set(FOUNDATION), groups - set(LAYERS) - set(FOUNDATION)


@pytest.mark.unit
def test_groups_import_only_the_groups_below_them():
    rank = {group: index for index, group in enumerate(LAYERS)}
    upward = sorted({(m, t) for m, t in _imports()
                     if _group(m) in rank and _group(t) in rank and rank[_group(t)] > rank[_group(m)]})
    assert not upward, "imports that run upward:\n" + "\n".join(f"  {m} -> {t}" for m, t in upward)
    foundation = sorted({(m, t) for m, t in _imports()
                         if _group(m) in FOUNDATION and _group(t) in rank and _group(t) != LAYERS[0]})
    assert not foundation, f"foundation modules import groups: {foundation}"
