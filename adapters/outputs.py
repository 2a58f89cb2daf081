"""Files under ``--out DIR``, written from the register after each commit.

The register is the source of truth: documents and journal lines are stored in the
same transaction as the event that caused them, and files are (re)written from it
afterwards, each atomically (temporary file, then rename). A crash between the
commit and the write leaves a file stale, never torn or duplicated; the next start
rewrites everything from the register (:meth:`OutputWriter.sync_all`).
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, func, select

from adapters import journal
from adapters.register import document, journal_line


def write_atomically(path: Path, content: bytes) -> bool:
    """Write ``content`` unless the file already holds it; returns whether it wrote."""
    if path.exists() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return True


class OutputWriter:
    """Keeps ``journal/*.csv`` and ``peppol/**.xml`` in step with the register."""

    def __init__(self, engine: Engine, out_dir: Path) -> None:
        self.engine, self.out_dir = engine, out_dir
        self._documents_upto = 0
        self._journal_upto = 0

    def sync_all(self) -> list[Path]:
        """Rewrite every file from the register (at start: repairs anything stale)."""
        self._documents_upto = self._journal_upto = 0
        return self.sync_new()

    def sync_new(self) -> list[Path]:
        """Write documents and journal months changed since the last call."""
        written: list[Path] = []
        with self.engine.connect() as conn:
            docs = conn.execute(select(document.c.id, document.c.path, document.c.content)
                                .where(document.c.id > self._documents_upto)
                                .order_by(document.c.id)).all()
            top = conn.execute(select(func.max(journal_line.c.id))).scalar() or 0
            months = sorted({journal.file_name(day) for (day,) in conn.execute(
                select(journal_line.c.accounting_date).distinct()
                .where(journal_line.c.id > self._journal_upto,
                       journal_line.c.id <= top))})
            files = {}
            for name in months:
                month = name.removeprefix("journal/").removesuffix(".csv")
                rows = conn.execute(select(journal_line).where(
                    journal_line.c.accounting_date.like(f"{month}-%"))).mappings().all()
                files[name] = journal.render(rows)
        for _, path, content in docs:
            if write_atomically(self.out_dir / path, content):
                written.append(self.out_dir / path)
        for name, content in files.items():
            if write_atomically(self.out_dir / name, content):
                written.append(self.out_dir / name)
        if docs:
            self._documents_upto = docs[-1][0]
        self._journal_upto = max(self._journal_upto, top)
        return written
