"""Visible text of an HTML element with line breaks where the page shows them, and selector
strings that may be XPath or CSS."""

from __future__ import annotations

import re

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector, SelectorList

_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "dd",
        "dt",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "hr",
    }
)
_SKIP = frozenset({"script", "style", "noscript", "template", "textarea", "select"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u3000]+")
# Whitespace between two Chinese characters in the source is layout, not a word break.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]*[\r\n][ \t\r\n]*(?=[{_CJK}])")
_BREAK = "\x00"  # a line break the page shows, as opposed to a newline in its source


def element_text(element: etree._Element) -> str:
    """Text of ``element``: blocks and ``<br>`` become line breaks, runs of spaces one space,
    empty lines dropped; script and style never count."""
    chunks: list[str] = []
    _walk(element, chunks)
    lines = (
        _SPACES.sub(" ", _CJK_GAP.sub("", line)).strip() for line in "".join(chunks).split(_BREAK)
    )
    return "\n".join(line for line in lines if line)


def _walk(element: etree._Element, chunks: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() in _SKIP or not isinstance(element.tag, str):
        return
    block = tag.lower() in _BLOCK
    if block:
        chunks.append(_BREAK)
    if element.text:
        chunks.append(element.text)
    for child in element:
        _walk(child, chunks)
        if child.tail:
            chunks.append(child.tail)
    if block:
        chunks.append(_BREAK)


def select(node: Selector, expr: str) -> SelectorList[Selector]:
    """XPath when ``expr`` starts with ``/``, ``./`` or ``(``, else CSS; nothing for ``""``."""
    if not expr:
        return SelectorList([])
    if expr.startswith(("/", "./", "(")):
        return node.xpath(expr)
    return node.css(expr)
