"""Evidence files of a listing: stored by SHA-256 on disk, their metadata in the database.

The bytes never travel in an event; a download is checked against the recorded hash.
Owner, assessors and admins read them (:func:`marketplace.catalogue.service.get_reviewable`).

An upload's bytes must be what its ``media_type`` says, judged by their magic numbers with
``filetype``, so a reviewer who opens "a PDF" never gets an executable. The policy
(:func:`content_problem`), by the type declared:

* a type ``filetype`` detects (``application/pdf``, ``image/png``, docx, ...): the bytes
  must be recognised as that type or one of its :data:`FAMILIES` (aliases; a docx that
  ``filetype`` sees only as ZIP). Bytes recognised as nothing are refused, except under
  :data:`NO_SIGNATURE_OK` (legacy Office).
* any other type (``text/plain``, ``text/csv``, ``application/json``,
  ``application/octet-stream``, ...): refused when the bytes are a format ``filetype``
  recognises *and* binary (a NUL or control byte in the first 8 KiB: ELF, EXE, ZIP,
  PNG...); text that merely starts like one (``BMJ review...`` reads as a BMP) passes.

A refusal is a 422 naming ``content`` that says what the bytes look like. Downloads name
the file per RFC 6266 / RFC 5987 (:func:`content_disposition`): the exact name as UTF-8 in
``filename*``, an ASCII stand-in in ``filename`` for clients that ignore ``filename*``.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import quote

import filetype  # type: ignore[import-untyped]
from sqlalchemy import Select, select

from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import EvidenceDocument
from marketplace.catalogue.service import get_own, get_reviewable
from marketplace.kernel.errors import Conflict, InvalidInput, NotFound
from marketplace.kernel.unit_of_work import UnitOfWork

#: Media types that name one format: a file recognised as any of a family's types is
#: accepted under any other (aliases, a PNG with animation, a docx seen only as ZIP).
FAMILIES: tuple[frozenset[str], ...] = tuple(frozenset(f) for f in (
    {"application/pdf", "application/x-pdf"},
    {"image/jpeg", "image/jpg", "image/pjpeg"},
    {"image/png", "image/apng"},
    {"image/x-icon", "image/vnd.microsoft.icon"},
    {"audio/x-wav", "audio/wav", "audio/vnd.wave"},
    {"audio/x-flac", "audio/flac"},
    {"application/gzip", "application/x-gzip"},
    {"application/rtf", "text/rtf"},
    {"video/mp4", "audio/mp4", "video/x-m4v", "video/quicktime", "video/3gpp"},
    {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"},
    {"application/zip", "application/x-zip-compressed", "application/epub+zip",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation",
     "application/vnd.oasis.opendocument.text",
     "application/vnd.oasis.opendocument.spreadsheet",
     "application/vnd.oasis.opendocument.presentation"},
))
#: ``filetype`` calls an Embedded OpenType font ``application/octet-stream``; renamed, so
#: that declaring ``application/octet-stream`` does not demand one.
_RENAMED = {"application/octet-stream": "application/vnd.ms-fontobject"}
#: Declared types accepted when ``filetype`` recognises nothing: legacy Office files are
#: OLE containers it only sometimes recognises.
NO_SIGNATURE_OK = frozenset({"application/msword", "application/vnd.ms-excel",
                             "application/vnd.ms-powerpoint"})
_DETECTABLE = frozenset(_RENAMED.get(t.mime, t.mime) for t in filetype.types).union(
    *FAMILIES)
#: A byte no text file holds (tab, line feed, form feed and carriage return are text).
_BINARY_BYTE = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: What filetype reads: the signatures are in the first 8 KiB.
_HEAD = 8192


def _family(media_type: str) -> frozenset[str]:
    return next((f for f in FAMILIES if media_type in f), frozenset({media_type}))


def content_problem(media_type: str, content: bytes) -> str | None:
    """Why ``content`` is not a ``media_type`` file under the policy above, or None."""
    head = content[:_HEAD]
    match = filetype.guess(head)
    if media_type in _DETECTABLE:
        if match is None:
            if media_type in NO_SIGNATURE_OK:
                return None
            return f"The bytes do not look like {media_type}."
    elif match is None or _BINARY_BYTE.search(head) is None:
        return None
    found = _RENAMED.get(match.mime, match.mime)
    if found in _family(media_type):
        return None
    return f"The bytes look like {match.extension.upper()} ({found}), not {media_type}."


def check_content(media_type: str, content: bytes) -> None:
    """422 naming ``content`` unless the bytes are what ``media_type`` says (policy above)."""
    problem = content_problem(media_type, content)
    if problem is not None:
        raise InvalidInput(problem, {"content": [problem]})


#: What an ASCII ``filename=""`` stand-in may not keep: all but printable ASCII, the quote
#: and backslash (quoted-string escapes), ``/`` (which NFKD makes of a fullwidth slash) and
#: ``%`` (which some clients percent-decode).
_UNSAFE_ASCII = re.compile(r'[^\x20-\x7e]|["\\/%]')
#: attr-char of RFC 5987 besides letters and digits: left unescaped in ``filename*``.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _ascii_stand_in(text: str) -> str:
    # Accents are dropped (``é`` is ``e`` and a combining mark); the rest becomes ``_``.
    letters = "".join(c for c in unicodedata.normalize("NFKD", text)
                      if not unicodedata.combining(c))
    return re.sub(r"_{2,}", "_", _UNSAFE_ASCII.sub("_", letters))


def ascii_filename(filename: str) -> str:
    """An ASCII stand-in for ``filename``, its extension kept, for the plain ``filename``."""
    if _UNSAFE_ASCII.search(filename) is None:
        return filename
    stem, dot, extension = filename.rpartition(".")
    if not stem:
        stem, dot, extension = filename, "", ""
    safe_stem = _ascii_stand_in(stem)
    if not any(c.isalnum() for c in safe_stem):
        safe_stem = "evidence"
    return safe_stem + dot + _ascii_stand_in(extension)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name per RFC 6266: any Unicode name survives in ``filename*``
    (percent-encoded UTF-8), while the header itself stays ASCII, which Werkzeug needs."""
    encoded = quote(filename, safe=_ATTR_CHARS, encoding="utf-8")
    return f"attachment; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{encoded}"


def stored_path(evidence_dir: Path, sha256: str) -> Path:
    """Files are stored by content hash: identical uploads share one file."""
    return evidence_dir / sha256[:2] / sha256


def _store(evidence_dir: Path, sha256: str, content: bytes) -> None:
    path = stored_path(evidence_dir, sha256)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader never sees half a file, and a crash leaves no partial
    # file under the hash's name. A rolled-back upload leaves an unreferenced file, which
    # is harmless (content-addressed) and reused if the same bytes come again.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add(uow: UnitOfWork, innovation_id: str, *, evidence_dir: Path, kind: str,
        title: str, filename: str, media_type: str, content: bytes
        ) -> EvidenceDocument:
    """Store an evidence file and record its metadata and SHA-256 against the listing."""
    innovation = get_own(uow, innovation_id)
    if innovation.status == ListingStatus.WITHDRAWN:
        raise Conflict("The listing is withdrawn; it takes no more evidence.")
    if not content:
        raise InvalidInput("The file is empty.", {"content": ["no bytes"]})
    check_content(media_type, content)
    digest = hashlib.sha256(content).hexdigest()
    _store(evidence_dir, digest, content)
    document = EvidenceDocument(
        id=str(uuid.uuid4()), innovation_id=innovation.id, kind=kind, title=title.strip(),
        filename=filename, media_type=media_type, size_bytes=len(content), sha256=digest,
        uploaded_at=uow.now(), uploaded_by=uow.actor.id)
    uow.session.add(document)
    uow.session.flush()
    uow.audit("innovation.evidence_added", "innovation", innovation.id,
              after={"evidence": {"id": document.id, "kind": kind, "title": document.title,
                                  "filename": filename, "sha256": digest,
                                  "size_bytes": len(content)}},
              subject_organisation_id=innovation.organisation_id)
    return document


def documents(uow: UnitOfWork, innovation_id: str) -> Select[tuple[EvidenceDocument]]:
    innovation = get_reviewable(uow, innovation_id)
    return (select(EvidenceDocument).where(EvidenceDocument.innovation_id == innovation.id)
            .order_by(EvidenceDocument.uploaded_at, EvidenceDocument.id))


def read(uow: UnitOfWork, innovation_id: str, evidence_id: str,
         evidence_dir: Path) -> tuple[EvidenceDocument, bytes]:
    """The document and its bytes, checked against the recorded SHA-256."""
    innovation = get_reviewable(uow, innovation_id)
    document = uow.session.get(EvidenceDocument, evidence_id)
    if document is None or document.innovation_id != innovation.id:
        raise NotFound(f"No evidence document {evidence_id!r} on this listing.")
    path = stored_path(evidence_dir, document.sha256)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise NotFound("The evidence file is missing from storage.") from None
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise Conflict("The stored evidence file does not match its SHA-256; it has been "
                       "altered or damaged.")
    return document, content
