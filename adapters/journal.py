"""The ERP journal import layout: one CSV file per accounting month, ``journal/YYYY-MM.csv``.

One layout for every file (``docs/adapter-journal.md``), in the style of an Oracle
GL / ISFE journal import: header row, one row per journal line, amounts in integer
pence, lines sorted by accounting date, journal id and line number so the file is
the same bytes whatever order the events were consumed in.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from adapters.route import JournalLine

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JournalLine))


def file_name(accounting_date: str) -> str:
    """``journal/2026-07.csv`` for an accounting date in July 2026."""
    return f"journal/{accounting_date[:7]}.csv"


def sort_key(line: Mapping[str, Any]) -> tuple[str, str, int]:
    return line["accounting_date"], line["journal_id"], int(line["line_number"])


def render(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """The CSV bytes of one file: header, then the lines in canonical order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in sorted(lines, key=sort_key):
        writer.writerow([line[column] for column in COLUMNS])
    return buffer.getvalue().encode("utf-8")
