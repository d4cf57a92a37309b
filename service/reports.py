"""Reports for the opinion office (日报/周报/专报, DOMAIN.md §7): counts, top clusters, cases and
the patrol log over a period, written as self-contained HTML plus JSON and announced by webhook."""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from alerts.cases import CaseBook
from alerts.models import OPEN_STATES, STATE_LABELS, Case, priority_of
from core.post import CATEGORY_LABELS, SENTIMENT_LABELS, Category, Post, Severity
from core.settings import Settings
from service.report_html import render_html
from store.base import PostIndex, SearchQuery
from store.patrol_log import PatrolLog
from store.state import StateDB

Kind = Literal["daily", "weekly", "special"]
KIND_LABELS: dict[str, str] = {"daily": "舆情日报", "weekly": "舆情周报", "special": "舆情专报"}
TOP_CLUSTERS = 10
MAX_POSTS_SCANNED = 5000  # posts read to rank clusters; beyond it the ranking is a sample


class ReportError(ValueError):
    """A report that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Period:
    kind: Kind
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    label: str  # how the office writes it, in local time
    name: str  # the file name stem, e.g. daily-2026-11-21


def period_for(
    kind: Kind, settings: Settings, now: datetime, on: date | None = None, case: Case | None = None
) -> Period:
    """The period a report covers, in the institution's zone: the local day of ``on`` (daily),
    the seven days ending with it (weekly), or, for a special report, from a day before the
    case was detected (or the last 24 hours) until now."""
    tz = settings.tz
    day = on or now.astimezone(tz).date()
    if kind == "special":
        start = (case.detected_at if case else now) - timedelta(days=1)
        end = now if on is None else datetime.combine(day + timedelta(days=1), time(), tz)
        stamp = now.astimezone(tz).strftime("%Y-%m-%d-%H%M")
        name = f"special-C{case.id:06d}-{stamp}" if case else f"special-{stamp}"
        return Period(
            kind, start.astimezone(UTC), end.astimezone(UTC), _span(start, end, settings), name
        )
    first = day - timedelta(days=6) if kind == "weekly" else day
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    label = day.isoformat() if kind == "daily" else f"{first.isoformat()} 至 {day.isoformat()}"
    return Period(
        kind, start.astimezone(UTC), end.astimezone(UTC), label, f"{kind}-{day.isoformat()}"
    )


def _span(start: datetime, end: datetime, settings: Settings) -> str:
    return f"{_local(start, settings)} 至 {_local(end, settings)}"


def _every_day(by_day: dict[str, int], period: Period, settings: Settings) -> dict[str, int]:
    """Posts per local day with the quiet days as zeros, so a weekly chart shows all seven
    (a special report spanning months keeps only the days with posts)."""
    first, last = period.start.astimezone(settings.tz), period.end.astimezone(settings.tz)
    if last - first > timedelta(days=62):
        return dict(sorted(by_day.items()))
    days, day = {}, first.date()
    while datetime.combine(day, time(), settings.tz) < last:
        days[day.isoformat()] = by_day.get(day.isoformat(), 0)
        day += timedelta(days=1)
    return days


def _local(value: datetime | None, settings: Settings) -> str | None:
    return value.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if value else None


def _severity_label(settings: Settings, value: str) -> str:
    """The institution's name for a tier (settings.tiers), e.g. 一般/重大/特别重大."""
    return settings.tiers[value].name


def _clusters(index: PostIndex, period: Period, settings: Settings) -> dict[str, Any]:
    """The largest near-duplicate clusters among the period's posts (a post without a cluster
    is its own)."""
    groups: dict[str, list[Post]] = defaultdict(list)
    token, scanned = None, 0
    while scanned < MAX_POSTS_SCANNED:
        page = index.search(
            SearchQuery(since=period.start, until=period.end, limit=500, page_token=token)
        )
        for post in page.posts:
            groups[post.cluster or post.id].append(post)
        scanned += len(page.posts)
        token = page.next_page_token
        if not token or not page.posts:
            break
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_CLUSTERS]
    top = []
    for key, posts in ranked:
        first = min(posts, key=lambda p: p.time)
        severities = [p.severity for p in posts if p.severity]
        worst = max(severities, key=list(Severity).index) if severities else None
        top.append(
            {
                "cluster": key,
                "posts": len(posts),
                "sites": sorted({p.site for p in posts}),
                "negative": sum(p.sentiment == "negative" for p in posts),
                "title": (first.title or first.text)[:80],
                "url": first.url,
                "first_seen": _local(first.time, settings),
                "severity": worst.value if worst else None,
                "severity_label": _severity_label(settings, worst.value) if worst else None,
            }
        )
    return {"scanned": scanned, "complete": token is None, "top": top}


def _case_json(case: Case, settings: Settings, now: datetime) -> dict[str, Any]:
    overdue = case.state in OPEN_STATES and (
        (case.state.value == "new" and case.report_by <= now)
        or (case.state.value != "replied" and case.respond_by <= now)
    )
    return {
        "id": case.id,
        "ref": case.ref,
        "title": case.title,
        "state": case.state.value,
        "state_label": STATE_LABELS[case.state],
        "severity": case.severity.value,
        "severity_label": _severity_label(settings, case.severity.value),
        "unit": case.unit_name or case.unit,
        "assignee": case.assignee,
        "detected_at": _local(case.detected_at, settings),
        "report_by": _local(case.report_by, settings),
        "respond_by": _local(case.respond_by, settings),
        "overdue": overdue,
        "second_wave": case.second_wave,
        "occurrences": case.occurrences,
    }


def _patrols(folder: Path, period: Period, settings: Settings) -> list[dict[str, Any]]:
    log = PatrolLog(folder)
    try:
        runs = log.patrols(since=period.start, until=period.end)
        events = log.events(since=period.start)
    finally:
        log.close()
    rows: dict[str, dict[str, Any]] = {}
    for source in settings.sources:
        rows[source.id] = {"source": source.id, "name": source.name or source.id}
    for source_id in {r.source for r in runs} - rows.keys():
        rows[source_id] = {"source": source_id, "name": source_id}
    for row in rows.values():
        mine = [r for r in runs if r.source == row["source"]]
        row.update(
            runs=len(mine),
            failed=sum(r.outcome == "failed" for r in mine),
            pages=sum(r.pages for r in mine),
            new_posts=sum(r.new_posts for r in mine),
            errors=sum(sum(r.errors.values()) for r in mine),
            last=_local(max((r.ended for r in mine), default=None), settings),
            events=sum(e.source == row["source"] and e.time < period.end for e in events),
        )
    return sorted(rows.values(), key=lambda r: r["source"])


def build_report(
    settings: Settings,
    index: PostIndex,
    state: StateDB,
    folder: Path,
    period: Period,
    now: datetime,
    case: Case | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-ready data (the HTML is drawn from it)."""
    window = SearchQuery(since=period.start, until=period.end)
    counts = index.counts(window, settings.timezone)
    by_category: dict[str, int] = {}
    for category in Category:
        # Counts has no category breakdown: a filtered search's total gives each one.
        query = SearchQuery(
            since=period.start, until=period.end, categories=[category.value], limit=1
        )
        by_category[category.value] = index.search(query).total
    unclassified = counts.total - sum(by_category.values())
    book = CaseBook.from_settings(state, settings)
    every = book.find((), limit=100_000)
    new = [c for c in every if period.start <= c.detected_at < period.end]
    open_cases = [c for c in every if c.state in OPEN_STATES]
    overdue = {c.id for c in book.overdue(now)}
    title = f"{settings.institution.name}{KIND_LABELS[period.kind]}"
    report: dict[str, Any] = {
        "kind": period.kind,
        "name": period.name,
        "title": title,
        "institution": settings.institution.name,
        "timezone": settings.timezone,
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "label": period.label,
        },
        "generated_at": now.astimezone(UTC).isoformat(),
        "generated_local": _local(now, settings),
        "posts": {
            "total": counts.total,
            "by_day": _every_day(counts.by_day, period, settings),
            "by_source": dict(sorted(counts.by_source.items(), key=lambda kv: -kv[1])),
            "by_sentiment": counts.by_sentiment,
            "by_category": {
                **by_category,
                **({"unclassified": unclassified} if unclassified else {}),
            },
            "by_severity": counts.by_severity,
        },
        "labels": {
            "source": {s.id: s.name or s.id for s in settings.sources},
            "sentiment": SENTIMENT_LABELS,
            "category": {**CATEGORY_LABELS, "unclassified": "未分类"},
            "severity": {s.value: _severity_label(settings, s.value) for s in Severity},
        },
        "clusters": _clusters(index, period, settings),
        "cases": {
            "new": [_case_json(c, settings, now) for c in new],
            "open": [_case_json(c, settings, now) for c in open_cases],
            "overdue": [_case_json(c, settings, now) for c in open_cases if c.id in overdue],
        },
        "patrols": _patrols(folder, period, settings),
    }
    if case is not None:
        report["case"] = {
            **_case_json(case, settings, now),
            "events": [
                {"at": _local(e.at, settings), "kind": e.kind, "actor": e.actor}
                for e in book.events(case.id)
            ],
        }
    return report


def _write(path: Path, text: str) -> None:
    """Write beside, then rename: the API never serves half a report."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def save_report(folder: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<data_dir>/reports/<name>.html`` and ``.json``; returns both paths."""
    target = folder / "reports"
    target.mkdir(parents=True, exist_ok=True)
    html_path, json_path = target / f"{report['name']}.html", target / f"{report['name']}.json"
    _write(html_path, render_html(report))
    _write(json_path, json.dumps(report, ensure_ascii=False, indent=1))
    return html_path, json_path


@dataclass(frozen=True)
class Produced:
    report: dict[str, Any]
    html: Path
    json: Path
    announced: list[str]  # delivery ids queued


def produce(
    settings: Settings,
    index: PostIndex,
    state: StateDB,
    kind: Kind,
    now: datetime,
    on: date | None = None,
    case: Case | None = None,
    send: bool = True,
    actor: str = "system",
) -> Produced:
    """Build, save and (with ``send``) announce one report: what `yuqing report` does, and what
    the daemon calls at ``reports.daily_at`` and on ``reports.weekly_day``. A special report
    about a case is recorded on it (特报 made: its deadline met, the audit trail names it)."""
    folder = settings.storage.data_dir
    period = period_for(kind, settings, now, on, case)
    report = build_report(settings, index, state, folder, period, now, case)
    html_path, json_path = save_report(folder, report)
    if kind == "special" and case is not None:
        CaseBook.from_settings(state, settings).special_report_made(
            case.id, actor, now, report=report["name"]
        )
    queued = announce(settings, state, report, now) if send else []
    return Produced(report, html_path, json_path, queued)


def report_link(settings: Settings, name: str) -> str:
    """Where the API serves the report (`yuqing serve` on ``api.listen``)."""
    return f"http://{settings.api.listen}/v1/reports/{name}"


def _announcement(kind: str, report: dict[str, Any], link: str) -> str:
    posts, cases = report["posts"], report["cases"]
    summary = (
        f"信息 {posts['total']} 条，负面 {posts['by_sentiment'].get('negative', 0)} 条；"
        f"新增事件 {len(cases['new'])} 件，未办结 {len(cases['open'])} 件，"
        f"超期 {len(cases['overdue'])} 件"
    )
    heading = f"【{KIND_LABELS[report['kind']]}】{report['title']}（{report['period']['label']}）"
    if kind == "generic":
        return json.dumps(
            {
                "type": "report.published",
                "version": 1,
                "timestamp": report["generated_at"],
                "data": {
                    "kind": report["kind"],
                    "name": report["name"],
                    "title": report["title"],
                    "period": report["period"],
                    "summary": summary,
                    "link": link,
                },
            },
            ensure_ascii=False,
        )
    text = f"### {heading}\n{summary}\n[查看报告]({link})"
    if kind == "wecom":
        return json.dumps(
            {"msgtype": "markdown", "markdown": {"content": text}}, ensure_ascii=False
        )
    if kind == "dingtalk":
        body = {"msgtype": "markdown", "markdown": {"title": heading, "text": text}}
        return json.dumps(body, ensure_ascii=False)
    post = [[{"tag": "text", "text": summary}], [{"tag": "a", "text": "查看报告", "href": link}]]
    feishu = {
        "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": heading, "content": post}}},
    }
    return json.dumps(feishu, ensure_ascii=False)


def announce(
    settings: Settings, state: StateDB, report: dict[str, Any], now: datetime
) -> list[str]:
    """Queue a "report.published" message with the link to each of ``reports.destinations`` in
    the webhook outbox; the delivery worker signs and sends it like any alert."""
    link = report_link(settings, report["name"])
    ids = []
    with state.transaction() as conn:
        for webhook_id in settings.reports.destinations:
            webhook = settings.webhook(webhook_id)
            delivery_id = "msg_" + uuid.uuid4().hex
            conn.execute(
                "INSERT INTO deliveries (id, destination, event, case_id, alert_id, priority, "
                "body, state, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, 'report.published', NULL, NULL, ?, ?, 'pending', 0, ?, ?)",
                (
                    delivery_id,
                    webhook.id,
                    priority_of(Severity.GENERAL),  # a report never jumps ahead of an alert
                    _announcement(webhook.kind, report, link),
                    now.astimezone(UTC).isoformat(),
                    now.astimezone(UTC).isoformat(),
                ),
            )
            ids.append(delivery_id)
    return ids
