"""Standard Webhooks signing (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence
from datetime import datetime

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds, the spec's recommendation against replays


class SignatureError(ValueError):
    """A signature, secret or header is missing, malformed, stale or does not match."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_...`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise SignatureError(
            "a webhook secret starts with 'whsec_' followed by base64; "
            "generate one with alerts.signing.new_secret()"
        )
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("the webhook secret after 'whsec_' is not valid base64") from exc
    if len(key) < 16:
        raise SignatureError("the webhook secret is too short: use at least 16 random bytes")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One ``v1,<base64>`` signature."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three headers; with two secrets (rotation) the signature header carries both."""
    if not secrets:
        raise SignatureError("no webhook secret configured for this destination")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(msg_id, timestamp, body, s) for s in secrets),
    }


def verify(
    header_map: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """Check a received webhook against any of ``secrets``; returns its ``webhook-id``.

    Raises SignatureError when a header is missing, the timestamp is outside ``tolerance``
    seconds of ``now``, or no ``v1`` signature matches.
    """
    lower = {k.lower(): v for k, v in header_map.items()}
    try:
        msg_id = lower["webhook-id"]
        raw_ts = lower["webhook-timestamp"]
        signatures = lower["webhook-signature"]
    except KeyError as exc:
        raise SignatureError(f"missing header {exc.args[0]}") from exc
    try:
        timestamp = int(raw_ts)
    except ValueError as exc:
        raise SignatureError(f"webhook-timestamp is not an integer: {raw_ts!r}") from exc
    if abs(now.timestamp() - timestamp) > tolerance:
        raise SignatureError(f"webhook-timestamp {timestamp} is more than {tolerance}s from now")
    expected = {sign(msg_id, timestamp, body, s).split(",", 1)[1] for s in secrets}
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and any(hmac.compare_digest(value, e) for e in expected):
            return msg_id
    raise SignatureError("no webhook-signature matches the configured secrets")
