"""Silences (ALERTING.md D3): matchers with patterns, start and end, author and comment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.silences import SilenceBook, SilenceError, parse_matchers
from store.state import StateDB
from tests.alerts.support import START, make_alert


def test_matchers_use_patterns_on_alert_fields(db: StateDB) -> None:
    book = SilenceBook(db)
    s = book.add(
        {"rule": "canteen*", "site": "*.tieba.example.cn"},
        START,
        START + timedelta(hours=2),
        "王老师",
        "贴吧转载已处置",
        START,
    )
    tieba = make_alert(rule="canteen-neg", sites=["a.tieba.example.cn", "bbs.example.cn"])
    assert s.matches(tieba)
    assert not s.matches(make_alert(rule="canteen-neg", sites=["bbs.example.cn"]))
    assert not s.matches(make_alert(rule="security", sites=["a.tieba.example.cn"]))
    assert book.silencing(tieba, START + timedelta(minutes=5)) == s
    assert book.silencing(tieba, START + timedelta(hours=2)) is None  # ended (end exclusive)


def test_a_silence_starting_later_is_not_yet_active(db: StateDB) -> None:
    book = SilenceBook(db)
    later = START + timedelta(hours=1)
    book.add({"rule": "*"}, later, later + timedelta(hours=1), "值班员", "维护窗口", START)
    assert book.silencing(make_alert(), START) is None
    assert book.silencing(make_alert(), later) is not None


@pytest.mark.parametrize(
    ("matchers", "ends", "author", "comment", "message"),
    [
        ({"rule": "x"}, START, "王", "原因", "must end after it starts"),
        ({"rule": "x"}, START + timedelta(hours=1), " ", "原因", "needs an author and a comment"),
        ({"rule": "x"}, START + timedelta(hours=1), "王", "", "needs an author and a comment"),
        ({}, START + timedelta(hours=1), "王", "原因", "matchers must name"),
        ({"colour": "red"}, START + timedelta(hours=1), "王", "原因", "matchers must name"),
    ],
)
def test_bad_silences_are_refused(
    db: StateDB, matchers: dict[str, str], ends: object, author: str, comment: str, message: str
) -> None:
    with pytest.raises(SilenceError, match=message):
        SilenceBook(db).add(matchers, START, ends, author, comment, START)  # type: ignore[arg-type]  # parametrised


def test_expire_keeps_the_record(db: StateDB) -> None:
    book = SilenceBook(db)
    s = book.add({"key": "cluster:*"}, START, START + timedelta(days=1), "王", "误报", START)
    ended = book.expire(s.id, START + timedelta(hours=1))
    assert ended.ends_at == START + timedelta(hours=1) and ended.comment == "误报"
    assert book.all(START + timedelta(hours=2)) == []
    assert [x.id for x in book.all()] == [s.id]
    with pytest.raises(SilenceError, match="already ended"):
        book.expire(s.id, START + timedelta(hours=3))


def test_parse_matchers() -> None:
    assert parse_matchers(["rule=a", "key = cluster:*"]) == {"rule": "a", "key": "cluster:*"}
    for bad in (["rule"], ["rule="], ["nope=1"], []):
        with pytest.raises(SilenceError):
            parse_matchers(bad)
