"""Standard Webhooks signatures (EVENTS.md "Webhooks").

`webhook-signature` is `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`
where the key is the base64 part of a `whsec_…` secret. During a rotation both valid secrets sign
and the header carries both signatures separated by a space; receivers accept any one of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


class InvalidSecret(ValueError):
    """Not a `whsec_` secret."""


def format_secret(raw: bytes) -> str:
    """`whsec_` + base64 of the random bytes (the caller draws them: this module does no I/O)."""
    if len(raw) < 24:
        raise InvalidSecret("a webhook secret needs at least 24 random bytes")
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("the secret is not whsec_ followed by base64") from None
    if not key:
        raise InvalidSecret("the secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    if not secrets:
        raise InvalidSecret("at least one secret signs a delivery")
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def webhook_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver does: a fresh timestamp and one matching `v1` signature among those sent."""
    msg_id = headers.get("webhook-id")
    raw_ts = headers.get("webhook-timestamp")
    header = headers.get("webhook-signature")
    if not msg_id or not raw_ts or not header:
        return False
    try:
        timestamp = int(raw_ts)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in header.split(" "):
        version, _, _value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(candidate.encode(), expected):
            return True
    return False
