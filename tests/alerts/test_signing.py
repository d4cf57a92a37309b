"""Standard Webhooks signatures (W2): the spec's own example, rotation, tolerance, tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import signing

# The example in the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT_SPEC_TIME = datetime.fromtimestamp(SPEC_TS, UTC)


def test_matches_the_specification_example() -> None:
    assert signing.sign(SPEC_ID, SPEC_TS, SPEC_BODY, SPEC_SECRET) == SPEC_SIGNATURE
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert signing.verify(headers, SPEC_BODY, [SPEC_SECRET], AT_SPEC_TIME) == SPEC_ID


def test_rotation_sends_two_signatures_and_either_secret_verifies() -> None:
    new = signing.new_secret()
    headers = signing.headers(SPEC_ID, SPEC_TS, SPEC_BODY, [SPEC_SECRET, new])
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
    assert signing.verify(headers, SPEC_BODY, [SPEC_SECRET], AT_SPEC_TIME) == SPEC_ID
    assert signing.verify(headers, SPEC_BODY, [new], AT_SPEC_TIME) == SPEC_ID
    with pytest.raises(signing.SignatureError, match="no webhook-signature matches"):
        signing.verify(headers, SPEC_BODY, [signing.new_secret()], AT_SPEC_TIME)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": b'{"test": 2432232315}'}, "no webhook-signature matches"),
        ({"webhook-id": "msg_other"}, "no webhook-signature matches"),
        ({"now": AT_SPEC_TIME + timedelta(seconds=301)}, "more than 300s"),
        ({"now": AT_SPEC_TIME - timedelta(seconds=301)}, "more than 300s"),
        ({"webhook-timestamp": "yesterday"}, "not an integer"),
        ({"webhook-signature": "v2," + SPEC_SIGNATURE[3:]}, "no webhook-signature matches"),
        ({"drop": "webhook-signature"}, "missing header webhook-signature"),
    ],
)
def test_verify_refuses(change: dict[str, object], message: str) -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if name in change:
            headers[name] = str(change[name])
    if "drop" in change:
        del headers[str(change["drop"])]
    body = change.get("body", SPEC_BODY)
    now = change.get("now", AT_SPEC_TIME)
    assert isinstance(body, bytes) and isinstance(now, datetime)
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(headers, body, [SPEC_SECRET], now)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_YWJj", "too short"),
    ],
)
def test_bad_secrets_are_explained(secret: str, message: str) -> None:
    with pytest.raises(signing.SignatureError, match=message):
        signing.sign(SPEC_ID, SPEC_TS, SPEC_BODY, secret)


def test_new_secrets_are_distinct_and_usable() -> None:
    a, b = signing.new_secret(), signing.new_secret()
    assert a != b and len(signing.secret_key(a)) == 32
