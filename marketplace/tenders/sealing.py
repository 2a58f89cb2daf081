"""Sealed bids: a response's price and answers are stored only as AES-GCM ciphertext.

The key ring comes from configuration (``TENDER_SEALING_KEYS``: ``id:base64key`` pairs,
comma-separated, 256-bit keys; unset, one key derived from ``SECRET_KEY``). The first
key seals; every key opens. Rotation: put a new key first and restart; new responses
are sealed with it, old ones still open with theirs; drop an old key only once no row
names it (``tender_response.key_id``). The associated data binds each ciphertext to its
tender, response and key id, so one response's sealed bytes cannot be moved onto
another row. A database reader without the key learns only the ciphertext's length.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
KEY_BYTES = 32


class SealingKeyError(ValueError):
    """The configured key ring is malformed, or a row names a key the ring lacks."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


def _aad(key_id: str, tender_id: str, response_id: str) -> bytes:
    return f"tender-response:{tender_id}:{response_id}:{key_id}".encode()


class Sealer:
    """Seals and opens response contents with the configured key ring."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise SealingKeyError(f"no key {current!r} in the ring")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    def seal(self, tender_id: str, response_id: str, contents: dict[str, Any]) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(contents, separators=(",", ":"), sort_keys=True).encode()
        blob = nonce + self._keys[self.current].encrypt(
            nonce, plain, _aad(self.current, tender_id, response_id))
        return Sealed(self.current, blob)

    def open(self, tender_id: str, response_id: str, sealed: Sealed) -> dict[str, Any]:
        try:
            aead = self._keys[sealed.key_id]
        except KeyError:
            raise SealingKeyError(f"the sealing key {sealed.key_id!r} is not configured; "
                                  "keep every key that still seals a response") from None
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        plain = aead.decrypt(nonce, body, _aad(sealed.key_id, tender_id, response_id))
        contents: dict[str, Any] = json.loads(plain)
        return contents


def parse_key_ring(config: str) -> tuple[dict[str, bytes], str]:
    """``id:base64key[,id:base64key...]`` -> (keys by id, the current key id)."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in (p.strip() for p in config.split(",")):
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id or len(key_id) > 32 or key_id in keys:
            raise SealingKeyError("each sealing key is 'id:base64key', ids unique and at "
                                  "most 32 characters")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise SealingKeyError(f"sealing key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise SealingKeyError(f"sealing key {key_id!r} must be {KEY_BYTES} bytes")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise SealingKeyError("no sealing key is configured (TENDER_SEALING_KEYS)")
    return keys, order[0]


#: The id of the key derived from ``SECRET_KEY`` when no key ring is configured.
DERIVED_KEY_ID = "secret"


def derived_key(secret_key: str) -> bytes:
    """A sealing key derived from the service's secret (HKDF-SHA256, its own label), for
    instances without ``TENDER_SEALING_KEYS``."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"marketplace tender response sealing v1").derive(secret_key.encode())


@functools.lru_cache(maxsize=8)
def sealer_for(config: str, secret_key: str) -> Sealer:
    """The sealer of a configured key ring (parsed once per configuration); with none
    configured, the key derived from the secret key."""
    if not config.strip():
        return Sealer({DERIVED_KEY_ID: derived_key(secret_key)}, DERIVED_KEY_ID)
    keys, current = parse_key_ring(config)
    return Sealer(keys, current)


def new_key(key_id: str) -> str:
    """A fresh ``id:base64key`` entry for the key ring (docs/tenders.md, rotation)."""
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()}"
