"""`yuqing analyze`: JSON lines in, one analysis per line out, in order; a bad line gets an
error object on its own line and the rest go on."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from analysis.analyzer import Analysis, Analyzer, Item
from analysis.folding import Folder
from pipelines.analysis import build_analyzer
from service.cli import UserError
from service.wiring import SetupError, settings_from_args

BATCH = 512


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse posts given as JSON lines on standard input",
        description='Each input line is {"text": ..., "title": ...} (optionally "id", "site", '
        '"time", "replies") or plain text. Each output line has keywords, sentiment, category, '
        'severity, units and watch_rules; an unreadable line gets {"error": ...}.',
    )
    p.add_argument("--tokens", action="store_true", help="also print the words")
    p.add_argument(
        "--fold", action="store_true", help="fold reposts within the input (adds `cluster`)"
    )
    p.set_defaults(func=run)


def _decode(line: str | bytes) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = line[exc.start : exc.start + 1].hex()
        raise ValueError(
            f"not UTF-8 text (byte 0x{bad} at position {exc.start}); "
            "convert the file to UTF-8, e.g. `iconv -f GBK -t UTF-8`"
        ) from None


def _item(raw: str | bytes, number: int) -> Item:
    line = _decode(raw)
    # A BOM is what Windows editors put at the start of a UTF-8 file; it is not text.
    stripped = line.lstrip("\ufeff").strip()
    if not stripped.startswith("{"):
        if not stripped:
            raise ValueError("empty line")
        return Item(text=stripped, id=f"line-{number}")
    data = json.loads(stripped)
    if not isinstance(data, dict):
        raise ValueError("a JSON line must be an object")
    text, title = data.get("text", ""), data.get("title", "")
    if not isinstance(text, str) or not isinstance(title, str):
        raise ValueError("`text` and `title` must be strings")
    if not (text or title):
        raise ValueError("no `text` or `title`")
    when = data.get("time")
    replies = data.get("replies", 0)
    if not isinstance(replies, int) or isinstance(replies, bool):
        raise ValueError("`replies` must be a whole number")
    return Item(
        text=text,
        title=title,
        id=str(data.get("id") or f"line-{number}"),
        site=str(data.get("site") or ""),
        time=datetime.fromisoformat(when) if isinstance(when, str) and when else None,
        replies=replies,
    )


def _record(result: Analysis, tokens: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "keywords": [k.word for k in result.keywords],
        "sentiment": {
            "label": result.sentiment.label.value,
            "score": round(result.sentiment.score, 4),
        },
        "category": {"label": result.category.category.value, "cues": list(result.category.cues)},
        "severity": {
            "tier": result.severity.tier.value,
            "name": result.severity.name,
            "reasons": list(result.severity.reasons),
        },
        "units": [
            {"id": r.unit_id, "name": r.unit_name, "liaison": r.liaison, "reason": r.reason}
            for r in result.units
        ],
        "watch_rules": [{"id": m.rule_id, "why": m.reason} for m in result.watch_rules],
    }
    if result.cluster is not None:
        out["cluster"] = {"id": result.cluster.id, "size": result.cluster.size}
    if tokens:
        out["tokens"] = result.tokens
    return out


def _batches(stream: Iterable[str | bytes]) -> Iterator[list[tuple[int, str | bytes]]]:
    batch: list[tuple[int, str | bytes]] = []
    for number, line in enumerate(stream, 1):
        batch.append((number, line))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def analyze_stream(
    analyzer: Analyzer, stream: Iterable[str | bytes], out: IO[str], tokens: bool
) -> int:
    """Returns the number of lines that could not be analysed. Lines given as bytes are decoded
    one by one, so a line that is not UTF-8 gets its own error and the rest go on."""
    bad = 0
    for batch in _batches(stream):
        parsed: list[tuple[int, Item | str]] = []
        for number, line in batch:
            try:
                parsed.append((number, _item(line, number)))
            except (ValueError, TypeError) as exc:
                parsed.append((number, f"line {number}: {exc}"))
        items = [p for _, p in parsed if isinstance(p, Item)]
        results = iter(analyzer.analyze(items))
        for _number, p in parsed:
            if isinstance(p, str):
                bad += 1
                record: dict[str, Any] = {"error": p}
            else:
                record = _record(next(results), tokens)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
    return bad


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args, delivers=False)
    except SetupError as exc:
        raise UserError(str(exc)) from None
    analyzer = build_analyzer(settings)
    analyzer.folder = Folder() if args.fold else None
    bad = analyze_stream(analyzer, sys.stdin.buffer, sys.stdout, args.tokens)
    if bad:
        print(f"yuqing analyze: {bad} line(s) could not be analysed", file=sys.stderr)
    return 0
