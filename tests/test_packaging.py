"""Every folder of Python code is a package a built wheel includes (setup.cfg: find:)."""
from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("marketplace", "events", "adapters", "schemas")


def test_every_code_folder_is_found_by_setuptools() -> None:
    found = set(find_packages(str(ROOT), include=[f"{p}*" for p in SHIPPED]))
    folders = {".".join(path.parent.relative_to(ROOT).parts)
               for top in SHIPPED for path in (ROOT / top).rglob("*.py")
               if "__pycache__" not in path.parts}
    # Alembic's script folders are data (package_data), not packages.
    folders = {f for f in folders if not f.startswith("marketplace.migrations")}
    missing = sorted(folders - found)
    assert not missing, f"folders of code without __init__.py: {missing}"
