"""Every Chinese encoding case a crawler meets comes out as the right text."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.encoding import charset_from_content_type, decode_body, decode_page, sniff_declared

PAGES = Path(__file__).parent / "pages" / "encoding"
EXPECTED = (PAGES / "expected.txt").read_text(encoding="utf-8").strip()
GB2312_ONLY = EXPECTED.replace("李堃老师与王喆同学", "李老师与王同学")


def _read(name: str) -> bytes:
    return (PAGES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("declared-gbk.html", "gb18030"),
        ("declared-gb2312-uses-gbk.html", "gb18030"),  # 堃 and 喆 are outside GB2312
        ("declared-gb18030.html", "gb18030"),
        ("declared-utf8.html", "utf-8"),
        ("utf8-bom.html", "utf-8-sig"),
        ("undeclared-gbk.html", "gb18030"),
        ("undeclared-utf8.html", "utf-8"),
        ("lies-gb2312-is-utf8.html", "utf-8"),
        ("lies-utf8-is-gbk.html", "gb18030"),
        ("lies-latin1-is-gbk.html", "gb18030"),
    ],
)
def test_each_case_decodes_to_the_right_text(name: str, encoding: str) -> None:
    body = _read(name)
    text, used = decode_body(body, sniff_declared(body))
    assert EXPECTED in text
    assert used == encoding


def test_gb2312_page_is_read_with_the_widest_gb_codec() -> None:
    body = _read("declared-gb2312.html")
    text, used = decode_body(body, "gb2312")
    assert GB2312_ONLY in text
    assert used == "gb18030"


def test_scrapy_fallback_would_give_mojibake_but_we_do_not() -> None:
    body = _read("undeclared-gbk.html")
    mojibake = body.decode("cp1252", errors="replace")
    assert EXPECTED not in mojibake
    text, _ = decode_body(body, None, http_charset="windows-1252")
    assert EXPECTED in text


def test_http_charset_is_used_when_the_page_declares_nothing() -> None:
    body = _read("undeclared-gbk.html")
    text, used = decode_body(body, None, http_charset="GBK")
    assert EXPECTED in text
    assert used == "gb18030"


def test_a_broken_byte_costs_one_character_not_the_page() -> None:
    body = _read("gbk-one-broken-byte.html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb18030")
    text, used = decode_body(body, sniff_declared(body))
    assert used == "gb18030"
    assert text.count("\ufffd") == 1
    assert EXPECTED.replace("半年", "\ufffd半年") in text


def test_a_non_chinese_single_byte_page_is_left_to_statistics() -> None:
    page = "<p>Le réfectoire de l'université a augmenté ses prix, élèves mécontents.</p>"
    body = page.encode("latin-1")
    text, _ = decode_body(body, "iso-8859-1")
    assert "réfectoire" in text and "élèves" in text


def test_sniffing_reads_meta_and_xml_declarations() -> None:
    assert (
        sniff_declared(b'<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />')
        == "gb2312"
    )
    assert sniff_declared(b"<meta charset='UTF-8'>") == "UTF-8"
    assert sniff_declared(b'<?xml version="1.0" encoding="gbk"?><rss/>') == "gbk"
    assert sniff_declared(b"<html><body>nothing</body></html>") is None
    assert charset_from_content_type("text/html; charset=GBK") == "GBK"
    assert charset_from_content_type("text/html") is None
    assert charset_from_content_type(None) is None


def test_decode_page_combines_both_hints() -> None:
    text, used = decode_page(_read("lies-utf8-is-gbk.html"), "text/html; charset=utf-8")
    assert EXPECTED in text
    assert used == "gb18030"


def test_unknown_labels_are_ignored() -> None:
    body = _read("declared-gbk.html")
    text, _ = decode_body(body, "x-no-such-charset", http_charset="also-bogus")
    assert EXPECTED in text
