"""A report's HTML: one self-contained file (inline CSS, charts drawn here as inline SVG, no
script and no external reference), so it opens offline and survives being mailed or archived."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

PALETTE = {
    "negative": "#c0392b",
    "neutral": "#7f8c8d",
    "positive": "#27ae60",
    "general": "#2e86c1",
    "major": "#e67e22",
    "especially_major": "#c0392b",
}
BAR = "#2e86c1"

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",
sans-serif;margin:0;background:#f4f6f8;color:#222}
main{max-width:960px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:26px;color:#b03a2e;text-align:center;margin:8px 0 4px;letter-spacing:2px}
.meta{text-align:center;color:#555;font-size:14px;border-bottom:2px solid #b03a2e;
padding-bottom:12px}
h2{font-size:19px;border-left:5px solid #b03a2e;padding-left:8px;margin-top:28px}
.summary{font-size:15px;line-height:1.8}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;flex:1 1 440px}figcaption{font-size:14px;font-weight:bold;margin-bottom:4px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #ccd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef2f6}td.n{text-align:right}
.late{color:#c0392b;font-weight:bold}.none{color:#888}
footer{margin-top:24px;font-size:12px;color:#888;text-align:center}
"""


def _text_width(text: str, size: int) -> int:
    """Rough width in pixels: CJK characters are square, Latin ones about half as wide."""
    return sum(size if ord(ch) > 0x2E80 else size * 6 // 10 for ch in text)


def bar_chart(items: Sequence[tuple[str, int, str]], width: int = 440, label: str = "条") -> str:
    """Horizontal bars, one per (label, value, colour), with the value at the bar's end."""
    if not items:
        return '<p class="none">（无数据）</p>'
    size, row = 13, 24
    left = min(max(_text_width(name, size) for name, _, _ in items) + 10, width // 2)
    top = max((value for _, value, _ in items), default=0) or 1
    room = width - left - 60
    height = row * len(items) + 6
    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-size="{size}">'
    ]
    for i, (name, value, colour) in enumerate(items):
        y = i * row + 3
        length = max(round(room * value / top), 1 if value else 0)
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length}" height="{row - 8}" '
            f'fill="{colour}"><title>{escape(name)}: {value} {label}</title></rect>'
            f'<text x="{left + length + 4}" y="{y + 15}" fill="#333">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(items: Sequence[tuple[str, int]], width: int = 900, height: int = 180) -> str:
    """Columns over time (posts per day), the date under each column."""
    if not items:
        return '<p class="none">（无数据）</p>'
    bottom, top_pad = 34, 18
    top = max(v for _, v in items) or 1
    step = width / len(items)
    bar = max(min(step * 0.6, 60), 2)
    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-size="12">',
        f'<line x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for i, (day, value) in enumerate(items):
        h = (height - bottom - top_pad) * value / top
        x = i * step + (step - bar) / 2
        y = height - bottom - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{BAR}">'
            f"<title>{escape(day)}: {value}</title></rect>"
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{value}</text>'
            f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{escape(day[5:])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], empty: str) -> str:
    if not rows:
        return f'<p class="none">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, int):
                cells.append(f'<td class="n">{cell}</td>')
            else:
                cells.append(f"<td>{cell if isinstance(cell, _Raw) else escape(str(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class _Raw(str):
    """Markup built here from escaped parts, placed in a table cell as it is."""


def _link(text: str, url: str) -> _Raw:
    # The post's own address is the evidence the office follows up; it is shown as a link to
    # click, never loaded by the page.
    return _Raw(f'<a href="{escape(url)}">{escape(text)}</a>')


def _case_rows(cases: list[dict[str, Any]]) -> list[list[object]]:
    return [
        [
            c["ref"],
            c["title"],
            c["severity_label"],
            c["state_label"],
            c["unit"] or "—",
            c["detected_at"],
            _Raw(
                f'<span class="late">{escape(c["respond_by"])}（超期）</span>'
                if c["overdue"]
                else escape(c["respond_by"])
            ),
        ]
        for c in cases
    ]


CASE_HEADERS = ("编号", "事件", "级别", "状态", "责任单位", "发现时间", "回应时限")


def render_html(report: dict[str, Any]) -> str:
    posts, labels, cases = report["posts"], report["labels"], report["cases"]
    sentiment = posts["by_sentiment"]
    pieces = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report['title'])} {escape(report['period']['label'])}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{escape(report['title'])}</h1>",
        f'<p class="meta">统计时段：{escape(report["period"]["label"])}'
        f"（{escape(report['timezone'])}）　生成时间：{escape(report['generated_local'])}</p>",
    ]
    if "case" in report:
        c = report["case"]
        pieces += [
            "<h2>专报事件</h2>",
            _table(CASE_HEADERS, _case_rows([c]), ""),
            _table(
                ("时间", "动作", "操作人"),
                [[e["at"], e["kind"], e["actor"]] for e in c["events"]],
                "（无办理记录）",
            ),
        ]
    summary = (
        f"本时段共监测到相关信息 <b>{posts['total']}</b> 条，其中负面 "
        f"<b>{sentiment.get('negative', 0)}</b> 条、中性 {sentiment.get('neutral', 0)} 条、"
        f"正面 {sentiment.get('positive', 0)} 条；新增舆情事件 <b>{len(cases['new'])}</b> 件，"
        f"未办结 {len(cases['open'])} 件，其中超期 "
        f'<b class="late">{len(cases["overdue"])}</b> 件。'
    )
    pieces += ["<h2>一、总体情况</h2>", f'<p class="summary">{summary}</p>', '<div class="charts">']
    pieces.append(
        _figure(
            "信息来源分布",
            bar_chart(
                [(labels["source"].get(k, k), v, BAR) for k, v in posts["by_source"].items()]
            ),
        )
    )
    pieces.append(
        _figure(
            "情感倾向",
            bar_chart(
                [
                    (labels["sentiment"].get(k, k), sentiment.get(k, 0), PALETTE[k])
                    for k in ("negative", "neutral", "positive")
                ]
            ),
        )
    )
    pieces.append(
        _figure(
            "信息分类",
            bar_chart(
                [(labels["category"].get(k, k), v, BAR) for k, v in posts["by_category"].items()]
            ),
        )
    )
    pieces.append(
        _figure(
            "严重程度",
            bar_chart(
                [
                    (labels["severity"].get(k, k), posts["by_severity"].get(k, 0), PALETTE[k])
                    for k in ("general", "major", "especially_major")
                ]
            ),
        )
    )
    pieces.append("</div>")
    if len(posts["by_day"]) > 1:
        pieces.append(_figure("每日信息量", column_chart(list(posts["by_day"].items()))))
    clusters = report["clusters"]
    pieces += [
        "<h2>二、热点信息</h2>",
        _table(
            ("#", "首发标题", "转发/相似", "站点数", "负面", "级别", "首次发现"),
            [
                [
                    i + 1,
                    _link(t["title"] or "（无标题）", t["url"]),
                    t["posts"],
                    len(t["sites"]),
                    t["negative"],
                    t["severity_label"] or "—",
                    t["first_seen"],
                ]
                for i, t in enumerate(clusters["top"])
            ],
            "本时段无相关信息。",
        ),
    ]
    if not clusters["complete"]:
        pieces.append(f'<p class="none">热点按最近 {clusters["scanned"]} 条信息统计。</p>')
    pieces += [
        "<h2>三、事件办理</h2>",
        f"<h3>本时段新增（{len(cases['new'])}）</h3>",
        _table(CASE_HEADERS, _case_rows(cases["new"]), "无新增事件。"),
        f"<h3>未办结（{len(cases['open'])}）</h3>",
        _table(CASE_HEADERS, _case_rows(cases["open"]), "无未办结事件。"),
        f"<h3>超期（{len(cases['overdue'])}）</h3>",
        _table(CASE_HEADERS, _case_rows(cases["overdue"]), "无超期事件。"),
        "<h2>四、巡查记录</h2>",
        _table(
            ("来源", "巡查次数", "失败", "页面", "新信息", "错误", "异常事件", "最近巡查"),
            [
                [
                    p["name"],
                    p["runs"],
                    p["failed"],
                    p["pages"],
                    p["new_posts"],
                    p["errors"],
                    p["events"],
                    p["last"] or _Raw('<span class="late">本时段未巡查</span>'),
                ]
                for p in report["patrols"]
            ],
            "未配置信息来源。",
        ),
        f"<footer>{escape(report['institution'])} · 舆情监测系统自动生成</footer>",
        "</main></body></html>",
    ]
    return "".join(pieces)
