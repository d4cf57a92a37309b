"""Recognise challenge and block pages (captcha redirects, 安全验证, 访问过于频繁, HTTP 521 JS
challenges, 403 walls) so they are never parsed as content."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Where a block page redirects to or lives: captcha and verification endpoints.
_BLOCK_URL = re.compile(
    r"(captcha|verify|validate|security[-_]?check|antispider|anti[-_]?bot|/sec/|waf|"
    r"wappass|/challenge|cdn-cgi/challenge)",
    re.I,
)
# Phrases only a challenge page shows; matched in short pages only, since a long article that
# quotes "安全验证" is still an article.
_STRONG = re.compile(
    "安全验证|访问过于频繁|请求过于频繁|访问频率过高|人机验证|滑动验证|请完成验证|"
    "您的访问出现异常|异常访问请求|"
    r"Checking your browser|Just a moment\.\.\.|verify you are (a )?human|cf-browser-verification",
    re.I,
)
# Phrases that also occur in ordinary pages (a thread asking why 验证码 never arrives): they
# count in the <title> of a short page, or in a page served with a refusing status.
_WEAK = re.compile(
    "验证码|访问受限|拒绝访问|禁止访问|请开启JavaScript|"
    r"captcha|Access denied|Attention Required",
    re.I,
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
# A JS challenge sets a cookie from script and reloads; a real page has far more markup.
_JS_CHALLENGE = re.compile(
    rb"document\.cookie\s*=.*?(location\.(reload|href|replace)|setTimeout)", re.I | re.S
)
SHORT_PAGE = 16000  # bytes; challenge pages are small, content pages are not


@dataclass(frozen=True)
class Block:
    """Why a response is a block page, in words an operator can act on."""

    kind: str  # challenge_521, forbidden, captcha_redirect, challenge_page, js_challenge
    detail: str


def _text(body: bytes) -> str:
    # Only looking for markers: decode leniently in both encodings Chinese sites use.
    head = body[:SHORT_PAGE]
    return head.decode("utf-8", "replace") + head.decode("gb18030", "replace")


def detect_block(
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    redirect_urls: Sequence[str] = (),
) -> Block | None:
    """The block this response is, or None for an ordinary response (including plain errors)."""
    if status == 521:
        return Block(
            "challenge_521", "HTTP 521: a JavaScript challenge (anti-bot) instead of content"
        )
    if (
        redirect_urls
        and _BLOCK_URL.search(url)
        and not any(_BLOCK_URL.search(u) for u in redirect_urls)
    ):
        return Block("captcha_redirect", f"redirected to a verification page: {url}")
    short = len(body) <= SHORT_PAGE
    if not short:
        return None
    title_match = _TITLE.search(body)
    title = _text(title_match.group(1)) if title_match else ""
    text = _text(body)
    marker = _STRONG.search(text) or _WEAK.search(title)
    if status in (403, 429, 503):
        marker = marker or _WEAK.search(text)
        if marker or _JS_CHALLENGE.search(body):
            what = f" ({marker.group(0)})" if marker else " (a script challenge)"
            return Block(
                "forbidden" if status == 403 else "challenge_page",
                f"HTTP {status} challenge page{what}",
            )
        if status == 403:
            return Block(
                "forbidden", "HTTP 403: the site refuses the crawler (a wall, not content)"
            )
        return None
    if 200 <= status < 300 and marker:
        return Block("challenge_page", f"challenge page instead of content ({marker.group(0)})")
    if 200 <= status < 300 and _JS_CHALLENGE.search(body) and b"<p" not in body.lower():
        return Block("js_challenge", "a script that sets a cookie and reloads instead of content")
    return None
