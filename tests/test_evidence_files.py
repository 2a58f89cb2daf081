"""Evidence files with hostile or foreign names and mislabelled bytes (issue 13, item 7):
any script round-trips through ``filename*`` (RFC 6266 / 5987) with an ASCII fallback,
bidi controls and line separators are refused, and the bytes must match ``media_type``."""
from __future__ import annotations

import base64
import re
import struct
import zlib
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from marketplace.catalogue.models import EvidenceDocument
from marketplace.http.wiring import marketplace_of
from schemas.api.innovations import FILENAME_PATTERN
from tests.catalogue_support import (
    World,
    world_fixture,  # noqa: F401  (the `world` fixture)
)


def _pdf() -> bytes:
    """A real one-page PDF, its cross-reference offsets computed."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _png() -> bytes:
    """A real 1x1 white PNG, its chunk CRCs computed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


PDF = _pdf()
PNG = _png()
#: The start of a 64-bit Linux executable, padded to a whole ELF header.
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
#: A ZIP local file header (what a docx, a jar or a zip bomb starts with).
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(20) + b"payload.exe"
#: A Windows executable's DOS header.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)


def _upload(world: World, listing: dict[str, Any], filename: str, content: bytes = PDF,
            media_type: str = "application/pdf", expect: int = 201) -> Any:
    return world.call("POST", f"/innovations/{listing['id']}/evidence", "innovator", expect,
                      json={"kind": "clinical_evidence", "title": "Evidence",
                            "filename": filename, "media_type": media_type,
                            "content_base64": base64.b64encode(content).decode()}).get_json()


def _download(world: World, document: dict[str, Any]) -> Any:
    return world.call("GET", document["download"].removeprefix("/api/v1"), "assessor", 200)


def _disposition(header: str) -> tuple[str, str, str]:
    """(type, ``filename``, ``filename*`` decoded), parsed by the standard library."""
    message = Message()
    message["Content-Disposition"] = header
    params = message.get_params(header="content-disposition")
    assert params is not None
    (kind, _), *rest = params
    plain = [v for k, v in rest if k == "filename" and isinstance(v, str)]
    extended = [v for k, v in rest if k == "filename" and isinstance(v, tuple)]
    assert len(plain) == 1 and len(extended) == 1, header
    assert extended[0][0].upper() == "UTF-8", header
    return kind, plain[0], collapse_rfc2231_value(extended[0], errors="strict")


def _stored(world: World, app: Flask) -> tuple[int, int]:
    """(evidence rows, files on disk): a refused upload adds neither."""
    with world.uow_factory() as uow:
        rows = uow.session.scalar(select(func.count()).select_from(EvidenceDocument))
    evidence_dir = Path(marketplace_of(app).settings.evidence_dir)
    files = [p for p in evidence_dir.rglob("*") if p.is_file()] if evidence_dir.exists() \
        else []
    return rows or 0, len(files)


def _assert_round_trip(world: World, listing: dict[str, Any], filename: str,
                       content: bytes = PDF, media_type: str = "application/pdf") -> str:
    """Upload then download ``filename``; returns the ASCII fallback the header offered."""
    document = _upload(world, listing, filename, content, media_type)
    assert document["filename"] == filename
    response = _download(world, document)
    assert response.data == content
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    header = response.headers["Content-Disposition"]
    assert header.isascii(), header
    assert re.search(r"filename\*=UTF-8''[A-Za-z0-9!#$&+\-.^_`|~%]+(;|$)", header), header
    kind, fallback, exact = _disposition(header)
    assert kind == "attachment" and exact == filename
    assert re.fullmatch(r'[\x20-\x7e]+', fallback) and not set('"\\') & set(fallback), header
    return fallback


@pytest.mark.parametrize(("filename", "fallback"), [
    ("临床安全报告.pdf", "evidence.pdf"),
    ("DCB0129 安全报告 v2.pdf", "DCB0129 _ v2.pdf"),
    ("Hazard log 🚑🔥.pdf", "Hazard log _.pdf"),
    ("Évaluation clinique \u2013 données réelles.pdf", "Evaluation clinique _ donnees reelles.pdf"),
    ("Åsa Nørgaard's DPIA.pdf", "Asa N_rgaard's DPIA.pdf"),
    ("Отчёт.pdf", "evidence.pdf"),
    ("dcb0129_safety_case.pdf", "dcb0129_safety_case.pdf"),
    ("100% complete; final.pdf", "100_ complete; final.pdf"),
])
def test_names_in_any_script_download_with_an_rfc6266_header(
        world: World, filename: str, fallback: str) -> None:
    listing = world.published()
    assert _assert_round_trip(world, listing, filename) == fallback


@pytest.mark.parametrize("filename", [
    "invoice\u202efdp.exe",    # RIGHT-TO-LEFT OVERRIDE: shows as "invoiceexe.pdf"
    "report\u2028.pdf",        # LINE SEPARATOR
    "report\u2029.pdf",        # PARAGRAPH SEPARATOR
    "a\u2066b\u2069.pdf",      # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
    "a\u200fb.pdf",            # RIGHT-TO-LEFT MARK
    "a\u061cb.pdf",            # ARABIC LETTER MARK
    "a\x85b.pdf",              # NEXT LINE (a C1 control)
    "a\\b.pdf", 'a"b.pdf', "a/b.pdf", "a\nb.pdf",
])
def test_names_with_bidi_controls_or_separators_are_refused(
        world: World, app: Flask, filename: str) -> None:
    listing = world.published()
    problem = _upload(world, listing, filename, expect=422)
    assert "filename" in problem["errors"], problem
    assert _stored(world, app) == (0, 0)


@pytest.mark.parametrize(("content", "media_type", "looks_like"), [
    (PNG, "application/pdf", "image/png"),
    (ZIP, "application/pdf", "application/zip"),
    (EXE, "application/pdf", "application/x-msdownload"),
    (ELF, "text/plain", "application/x-executable"),
    (ZIP, "text/csv", "application/zip"),
    (PDF, "image/png", "application/pdf"),
    (b"plain text, not an image", "image/png", None),
])
def test_bytes_that_are_not_the_declared_type_are_refused(
        world: World, app: Flask, content: bytes, media_type: str,
        looks_like: str | None) -> None:
    listing = world.published()
    problem = _upload(world, listing, "evidence.pdf", content, media_type, expect=422)
    assert "content" in problem["errors"], problem
    message = " ".join(problem["errors"]["content"])
    assert media_type in message and (looks_like or "do not look like") in message, message
    assert _stored(world, app) == (0, 0)


@pytest.mark.parametrize(("filename", "content", "media_type"), [
    ("safety case.pdf", PDF, "application/pdf"),
    ("screenshot.png", PNG, "image/png"),
    ("notes.txt", "Résumé of the hazard log, UTF-8.\n".encode(), "text/plain"),
    # Starts with "BM", a BMP's signature, yet is text: accepted as text.
    ("bmj.txt", b"BMJ 2024;384:e076543 systematic review\n", "text/plain"),
    ("outcomes.csv", b"site,referrals\nRJ1,120\r\n", "text/csv"),
])
def test_real_files_of_their_declared_type_are_accepted(
        world: World, app: Flask, filename: str, content: bytes, media_type: str) -> None:
    listing = world.published()
    _assert_round_trip(world, listing, filename, content, media_type)
    assert _stored(world, app) == (1, 1)


#: Letters of several scripts: Latin with accents, Greek, Cyrillic, Arabic, Hebrew,
#: Devanagari, CJK, Hangul, and emoji beyond the BMP; and the punctuation of file names.
_SCRIPTS = (
    st.characters(min_codepoint=0x41, max_codepoint=0x7A, categories=("Lu", "Ll")),
    st.characters(min_codepoint=0xC0, max_codepoint=0x17F, categories=("Lu", "Ll")),
    st.characters(min_codepoint=0x391, max_codepoint=0x3C9, categories=("Lu", "Ll")),
    st.characters(min_codepoint=0x410, max_codepoint=0x44F),
    st.characters(min_codepoint=0x621, max_codepoint=0x64A, categories=("Lo",)),
    st.characters(min_codepoint=0x5D0, max_codepoint=0x5EA),
    st.characters(min_codepoint=0x905, max_codepoint=0x939),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1F64F),
    st.sampled_from(" -_.()'%;,&+~"),
)
#: A name of two to five words, each in a script of its own.
_STEMS = st.lists(st.sampled_from(_SCRIPTS).flatmap(lambda chars: st.text(chars, min_size=1,
                                                                          max_size=8)),
                  min_size=2, max_size=5).map(" ".join)


def test_any_accepted_name_round_trips(world: World) -> None:
    listing = world.published()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(stem=_STEMS,
           extension=st.sampled_from(["pdf", "PDF", "docx", "报告", "pdf.txt"]))
    def check(stem: str, extension: str) -> None:
        filename = f"{stem}.{extension}"
        assume(re.fullmatch(FILENAME_PATTERN, filename))
        _assert_round_trip(world, listing, filename)

    check()
