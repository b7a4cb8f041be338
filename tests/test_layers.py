"""The wings stand on each other in one direction (docs/development.md, "Layers"): every import,
lazy ones inside functions included, points to a lower layer or stays inside its own wing."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate", "pipelines", "filters", "tokenization")

# top to bottom; a wing may import only wings of a lower layer (and itself)
LAYERS = [
    ["curate.cli"],
    ["curate.cli_types", "curate.driver", "curate.drift", "curate.demo"],
    ["pipelines", "curate.loader"],
    ["curate.stages"],
    ["curate.dedup", "curate.decontam", "curate.web"],
    ["filters", "tokenization"],
    ["curate.readers"],
    ["curate.format"],
    ["curate.temporal"],
    ["curate.core", "curate"],
]
RANK = {wing: i for i, layer in enumerate(LAYERS) for wing in layer}


def wing(module: str) -> str:
    """``curate.stages.process`` -> ``curate.stages``; ``pipelines.build`` -> ``pipelines``."""
    parts = module.split(".")
    if parts[0] != "curate" or len(parts) == 1:
        return parts[0]
    return f"curate.{parts[1]}"


def imports(path: Path, module: str) -> set[str]:
    """Every project module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                package = module.split(".")[: -node.level if path.stem != "__init__" else None]
                base = ".".join([*package, *([base] if base else [])])
            names = [base]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in PACKAGES}
    return found


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            out[name] = path
    return out


def test_every_wing_has_a_layer():
    missing = sorted({wing(m) for m in modules()} - set(RANK))
    assert not missing, f"wings without a layer in LAYERS (and docs/development.md): {missing}"


def test_imports_point_down():
    wrong = []
    for module, path in modules().items():
        here = wing(module)
        for target in sorted(imports(path, module)):
            there = wing(target)
            if there != here and RANK[there] <= RANK[here]:
                wrong.append(f"{module} imports {target} ({here} is not above {there})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_lazy_import(tmp_path):
    """The rule reads imports inside functions too: a lazy import is still a dependency."""
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from curate.driver.build import run_build\n")
    assert imports(path, "curate.format.m") == {"curate.driver.build"}
    assert RANK[wing("curate.driver.build")] < RANK[wing("curate.format.m")]
