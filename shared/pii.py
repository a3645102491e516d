"""Personal data under PIPL (ARCHITECTURE.md "Personal data"): masking, field encryption, redaction.

Contract:
- `mask_id_number` keeps the first 6 and last 4 characters of a citizen ID
  (`11010519491231002X` → `110105********002X`); 10 characters or fewer are masked entirely.
- `mask_phone`: a mobile (11 digits starting 13–19, separators and a +86 / 0086 prefix allowed)
  keeps its first 3 and last 4 digits (`138****0000`, the country code dropped); a mainland
  landline keeps its area code and the last 4 digits of the number, an extension is masked
  (`020-00000000` → `020-****0000`, `0755-1234567-801` → `0755-***4567-***`); anything else keeps
  only its last 4 digits and its non-digit characters. It never raises for a string.
- `FieldCipher` encrypts a field with AES-256-GCM under a random 96-bit nonce into the text token
  `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`. Associated data (e.g. the row id) binds a value to
  its row: decrypting with other associated data fails. Any failure — tampering, wrong key, wrong
  associated data, malformed token, unknown version — is a `DecryptionError` whose message holds
  no data. `blind_index` is a keyed HMAC-SHA256 for equality look-ups without decrypting; pass the
  canonical form (e.g. an upper-case ID number) and a `scope` per column. Both keys derive from
  one master secret (≥ 32 bytes) with HKDF-SHA256 under distinct labels.
- `PiiRedactingFilter` (attach it to handlers) replaces a record's message with its %-formatted
  text in which every 18-character citizen ID and every mobile number is masked, and masks its
  exception and stack text the same way. Custom `extra` attributes are not inspected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")
_LANDLINE = re.compile(
    r"\(?(01\d|02\d|0[3-9]\d\d)\)?[-\s]?(\d{7,8})(?:\s*(?:-|转|ext\.?|x|#)\s*(\d{1,6}))?",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[\s\-()（）]")
_ID_IN_TEXT = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:(?:\+|00)?86[-\s]?)?1[3-9]\d[-\s]?\d{4}[-\s]?\d{4}(?!\d)")


def mask_id_number(value: str) -> str:
    v = value.strip().upper()
    if len(v) <= 10:
        return "*" * len(v)
    return v[:6] + "*" * (len(v) - 10) + v[-4:]


def mask_phone(value: str) -> str:
    raw = value.strip()
    mobile = _MOBILE.fullmatch(_SEPARATORS.sub("", raw))
    if mobile:
        number = mobile.group(1)
        return f"{number[:3]}****{number[-4:]}"
    landline = _LANDLINE.fullmatch(raw)
    if landline:
        area, local, ext = landline.groups()
        masked = f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
        return masked + (f"-{'*' * len(ext)}" if ext else "")
    digits = sum(c.isdigit() for c in raw)
    out, seen = [], 0
    for c in raw:
        seen += c.isdigit()
        out.append("*" if c.isdigit() and seen <= digits - 4 else c)
    return "".join(out)


class DecryptionError(ValueError):
    """A field token that cannot be decrypted with this key and associated data."""


class FieldCipher:
    """Encrypts personal-data fields at rest; one per process, built from the configured secret."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the master key needs at least 32 bytes")
        self._aead = AESGCM(_derive(key, b"gongyi/pii/field-encryption/v1"))
        self._index_key = _derive(key, b"gongyi/pii/blind-index/v1")

    @classmethod
    def from_secret(cls, secret: str) -> FieldCipher:
        """From a base64 or base64url secret (see `generate_secret`)."""
        text = secret.strip().replace("+", "-").replace("/", "_").rstrip("=")
        if not _B64URL.fullmatch(text):
            raise ValueError("the secret must be base64 text")
        return cls(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    def encrypt(self, plaintext: str, *, associated_data: str | bytes | None = None) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _aad(associated_data))
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, token: str, *, associated_data: str | bytes | None = None) -> str:
        version, _, body = token.partition(".")
        if version != _VERSION or not _B64URL.fullmatch(body):
            raise DecryptionError("not a field token of a known version")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except binascii.Error:
            raise DecryptionError("not a field token of a known version") from None
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("field token too short")
        try:
            plain = self._aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(associated_data)
            )
        except InvalidTag:
            raise DecryptionError("wrong key or associated data, or a tampered value") from None
        return plain.decode()

    def blind_index(self, value: str, *, scope: str = "") -> str:
        """Equal (value, scope) pairs give equal indexes; nothing else can be learnt from one."""
        prefix = scope.encode()
        message = len(prefix).to_bytes(4, "big") + prefix + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def generate_secret() -> str:
    """A fresh 32-byte master secret as base64url text, for `FieldCipher.from_secret`."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _derive(key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


def _aad(associated_data: str | bytes | None) -> bytes:
    # The version is authenticated too, so a token cannot be replayed under another format.
    data = associated_data.encode() if isinstance(associated_data, str) else associated_data
    return _VERSION.encode() + b"\x00" + (data or b"")


def redact(text: str) -> str:
    """`text` with citizen IDs and mobile numbers masked."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), text)
    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


class PiiRedactingFilter(logging.Filter):
    """Masks personal data in log records; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            record.msg = redact(str(record.msg))
            record.args = tuple(redact(str(a)) for a in _as_tuple(record.args))
        else:
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _as_tuple(args: object) -> tuple[object, ...]:
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)
