"""Canonical URLs and stable post ids: one post reached by two spellings of its URL is one post."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track where a click came from; they never change the page.
_TRACKING_PARAMS = frozenset(
    {
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "spm",
        "from",
        "fromsource",
        "share_token",
        "sharer",
        "timestamp",
        "_t",
        "isappinstalled",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the default port, the fragment and tracking parameters,
    and sort the remaining query parameters so that their order does not make a new URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parts.path or "/"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_PARAMS
    )
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def site_of(url: str) -> str:
    """The host a post was published on, without a leading ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def post_id(url: str, anchor: str | int | None = None) -> str:
    """A stable id from the canonical URL plus the post's anchor or floor number.

    The id of a forum reply is the id of its thread URL with its floor, so that the page a reply
    was seen on (page 2 today, page 3 after a deletion) does not change it when the anchor is the
    reply's own id; spiders pass the most stable anchor they have.
    """
    key = canonical_url(url)
    if anchor is not None and str(anchor) != "":
        key = f"{key}#{anchor}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
