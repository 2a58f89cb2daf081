"""The trust adapter is deployable on its own: ``adapters/`` imports nothing from
``marketplace`` (only ``events``, ``schemas``, the standard library and libraries), and
the marketplace does not import ``adapters`` either."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))
    return names


def test_adapters_import_nothing_from_marketplace() -> None:
    files = sorted((ROOT / "adapters").rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            assert name.split(".")[0] != "marketplace", f"{path}: imports {name}"
            assert not name.startswith("."), f"{path}: relative import {name}"


def test_marketplace_imports_nothing_from_adapters() -> None:
    for path in sorted((ROOT / "marketplace").rglob("*.py")):
        for name in _imports(path):
            assert name.split(".")[0] != "adapters", f"{path}: imports {name}"


def test_the_adapter_runs_without_the_marketplace_package() -> None:
    """Importing every adapter module loads no ``marketplace`` module at all."""
    code = ("import sys, pkgutil, importlib, adapters\n"
            "for m in pkgutil.walk_packages(adapters.__path__, 'adapters.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] == 'marketplace')\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
