"""`yuqing demo`: the loopback sites, the webhook receiver, the patrol daemon and the API, wired
to a fast copy of the example institution, so a newcomer sees the whole pipeline in minutes."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from alerts.cases import CaseBook
from alerts.signing import new_secret
from core.settings import Settings, load_settings
from crawler.runner import SourceSummary
from service.demo_receiver import Receiver, read_log
from service.demo_sites import SitesServer, World
from service.demo_story import SEED, TIMELINE
from store.base import SearchQuery

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "example"
API_TOKEN = "demo-token"
# Each source on its own loopback address, so the sites count as different sites (spread).
HOSTS = {
    "jz-bbs": "127.0.0.1",
    "jz-tieba": "127.0.0.2",
    "jz-news": "127.0.0.3",
    "jz-feed": "127.0.0.4",
    "jz-liuyan": "127.0.0.5",
    "jz-edu": "127.0.0.6",
    "old-bbs": "127.0.0.1",
}
SITE_OF_SOURCE = {
    "jz-bbs": "forum",
    "jz-tieba": "tieba",
    "jz-news": "news",
    "jz-feed": "feed",
    "jz-liuyan": "liuyan",
}
SITE_NAMES = {
    "forum": "江州论坛",
    "tieba": "江州理工大学吧",
    "news": "江州新闻网",
    "feed": "江州日报RSS",
    "liuyan": "市民留言板",
}


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Plan:
    """How fast the demo runs: ``fast`` compresses the story about four times (for tests)."""

    port: int
    fast: bool = False
    minutes: float | None = None

    @property
    def speed(self) -> float:
        return 4.0 if self.fast else 1.0

    @property
    def poll(self) -> dict[str, str]:
        if self.fast:
            return {s: "15s" for s in HOSTS}
        return {
            "jz-bbs": "30s",
            "jz-tieba": "30s",
            "jz-news": "45s",
            "jz-feed": "30s",
            "jz-liuyan": "1m",
            "jz-edu": "2m",
            "old-bbs": "1h",
        }

    @property
    def poll_words(self) -> str:
        return "15 秒" if self.fast else "30 秒到 2 分钟"

    @property
    def alert_every(self) -> timedelta:
        return timedelta(seconds=10 if self.fast else 20)

    @property
    def report_after(self) -> float:
        """Seconds until the early daily report: 3 minutes, sooner in a short or fast demo."""
        at = 100.0 if self.fast else 180.0
        if self.minutes is not None:
            at = min(at, self.minutes * 60 * 0.75)
        return at

    @property
    def receiver_port(self) -> int:
        return self.port + 1

    @property
    def api_port(self) -> int:
        return self.port + 2


# ---------------------------------------------------------------- the demo's configuration


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLE / name).read_text(encoding="utf-8"))
    return data


def write_config(folder: Path, data_dir: Path, plan: Plan, hosts: dict[str, str]) -> Path:
    """A copy of config/example pointed at the demo: its sites, receiver, API port and data
    folder, with fast schedules and thresholds a few minutes of story can reach."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "# Written by `yuqing demo` from config/example; changed for a fast loopback demo.\n"
    old = "127.0.0.1:8765"

    institution = _load("institution.yaml")
    institution["storage"]["data_dir"] = str(data_dir)
    institution["crawl"].update(delay="0.2s", run_timeout="2m")
    institution["api"]["listen"] = f"127.0.0.1:{plan.api_port}"
    institution["allow_private_addresses"] = True

    sources = _load("sources.yaml")
    for source in sources["sources"]:
        new = f"{hosts[source['id']]}:{plan.port}"
        source["urls"] = [u.replace(old, new) for u in source["urls"]]
        if "url" in source.get("comments", {}):
            source["comments"]["url"] = source["comments"]["url"].replace(old, new)
        source["schedule"] = plan.poll[source["id"]]
        source.pop("delay", None)  # loopback: no site to be polite to
        if plan.fast and source["id"] == "jz-edu":
            source["enabled"] = False  # nothing happens there; one crawl child fewer per round

    webhooks = _load("webhooks.yaml")
    for hook in webhooks["webhooks"]:
        hook["url"] = hook["url"].replace("127.0.0.1:8766", f"127.0.0.1:{plan.receiver_port}")

    alerts = _load("alerts.yaml")
    for rule in alerts["alert_rules"]:
        if rule["id"] == "negative-canteen":
            rule.pop("quiet_hours", None)  # the demo may run at night
            rule["aggregation"] = {"key": "cluster", "window": "10s" if plan.fast else "20s"}
        elif rule["id"] == "security-burst":
            rule["threshold"] = 3
        elif rule["id"] == "repost-spread":
            rule["min_posts"] = 4
    alerts["alert_rules"].insert(
        1,
        {
            "id": "exam-leak",
            "kind": "match",
            "name": "考试泄题即时提醒",
            "watch_rules": ["exam-fairness"],
            "realert": "1h",
            "destinations": ["cases", "wecom-office"],
        },
    )

    files = {
        "institution.yaml": institution,
        "sources.yaml": sources,
        "webhooks.yaml": webhooks,
        "alerts.yaml": alerts,
        "rules.yaml": _load("rules.yaml"),
        "units.yaml": _load("units.yaml"),
    }
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (folder / name).write_text(header + text, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- pieces


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _hosts(port: int) -> dict[str, str]:
    """Distinct loopback addresses where the system has them (Linux: all of 127/8); else one."""
    if all(_free(h, port) for h in set(HOSTS.values())):
        return dict(HOSTS)
    return {s: "127.0.0.1" for s in HOSTS}


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _say(text: str) -> None:
    print(text, flush=True)  # at once, also when the output goes to a file or a pipe


def _serve(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


class Demo:
    def __init__(self, plan: Plan, folder: Path, say: Callable[[str], None] = _say) -> None:
        self.plan = plan
        self.folder = folder
        self.say = say
        self.world = World()
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.report_path: Path | None = None
        self.posts_seen = 0
        self.servers: list[Any] = []

    def clock(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"[{seconds // 60:02d}:{seconds % 60:02d}]"

    def tell(self, text: str) -> None:
        self.say(f"{self.clock()} {text}")

    # -- start ---------------------------------------------------------------------------------

    def prepare(self) -> Settings:
        port = self.plan.port
        for p in (port, self.plan.receiver_port, self.plan.api_port):
            if not _free("127.0.0.1", p):
                raise DemoError(
                    f"port {p} on 127.0.0.1 is in use — stop what uses it, or pick other ports "
                    f"with --port (the demo uses --port, --port+1 and --port+2)"
                )
        hosts = _hosts(port)
        secret = new_secret()
        os.environ["YUQING_CASES_SECRET"] = secret
        os.environ["YUQING_API_TOKEN"] = API_TOKEN
        os.environ["YUQING_API_READ_TOKEN"] = API_TOKEN + "-read"
        config = write_config(self.folder / "config", self.folder / "data", self.plan, hosts)
        self.config = config
        self.hosts = hosts
        settings = load_settings(config)
        now = datetime.now(UTC) - timedelta(hours=2)
        for event in SEED:
            self.world.publish(event, now)
        for host in sorted(set(hosts.values())):
            self.servers.append(SitesServer((host, port), self.world))
        self.receiver = Receiver(
            ("127.0.0.1", self.plan.receiver_port),
            secret,
            self.folder / "received.jsonl",
            self.say,
        )
        self.servers.append(self.receiver)
        for server in self.servers:
            _serve(server)
        return settings

    def guide(self, settings: Settings) -> str:
        c = self.config
        hosts, port = self.hosts, self.plan.port
        minutes = f"{self.plan.minutes:g} 分钟后自动结束" if self.plan.minutes else "按 Ctrl-C 结束"
        return "\n".join(
            [
                "═" * 72,
                f"  Yuqing 舆情监测演示 · {settings.institution.name}"
                "（虚构学校，全部在本机运行，不联网）",
                "═" * 72,
                "  正在运行：",
                f"   • 演示网站（会不断出现新帖）：论坛 http://{hosts['jz-bbs']}:{port}/forum/"
                "forum.php?mod=forumdisplay&fid=2",
                f"       贴吧 http://{hosts['jz-tieba']}:{port}/tieba/f?kw=江州理工大学　"
                f"新闻 http://{hosts['jz-news']}:{port}/news/",
                f"       RSS http://{hosts['jz-feed']}:{port}/feed.xml　"
                f"留言板 http://{hosts['jz-liuyan']}:{port}/liuyan/",
                f"   • 巡查程序：每 {self.plan.poll_words} 巡查一遍上面的网站，"
                "分析、入库，按规则预警、立案",
                f"   • 模拟的舆情办案件系统（接收预警）：http://127.0.0.1:{self.plan.receiver_port}/hooks/cases",
                f"   • 接口（API）：http://127.0.0.1:{self.plan.api_port}/docs　令牌：{API_TOKEN}",
                f"   • 数据与报告：{self.folder}",
                "  可以试试（另开一个终端，在项目目录下）：",
                f"   uv run --frozen yuqing --config {c} search 食堂",
                f"   uv run --frozen yuqing --config {c} cases list",
                f'   curl -H "Authorization: Bearer {API_TOKEN}" '
                f"http://127.0.0.1:{self.plan.api_port}/v1/cases",
                f"  约 {self.plan.report_after / 60:.1f} 分钟时生成一份日报"
                f"（平时每天 17:00）；{minutes}。",
                "═" * 72,
            ]
        )

    # -- while running -------------------------------------------------------------------------

    def timeline(self) -> None:
        for event in TIMELINE:
            due = self.started + event.at / self.plan.speed
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            self.world.publish(event, datetime.now(UTC))
            if event.note:
                self.tell(f"📝 {SITE_NAMES[event.site]}：{event.note}")
        self.tell("📝 演示剧情已全部发布；巡查和预警继续运行。")

    def crawled(self, summary: SourceSummary) -> None:
        if summary.outcome == "failed":
            self.tell(f"⚠ 巡查 {summary.source} 失败：{summary.detail}")
        elif summary.new_posts:
            self.posts_seen += summary.new_posts
            self.tell(
                f"🔎 巡查 {summary.source}：新收录 {summary.new_posts} 条"
                f"（本次演示共 {self.posts_seen} 条）"
            )

    def daily_report(self, duties: Any) -> None:
        if self.stopping.wait(self.plan.report_after):
            return
        try:
            from service.reports import produce

            made = produce(duties.settings, duties.index, duties.state, "daily", datetime.now(UTC))
        except Exception as exc:  # the demo goes on without its report; say why
            self.tell(f"⚠ 日报生成失败：{type(exc).__name__}: {exc}")
            return
        self.report_path = made.html
        self.tell(f"📊 已生成今日舆情日报：{made.html}（用浏览器打开）")

    # -- the end -------------------------------------------------------------------------------

    def summary(self, duties: Any) -> str:
        settings: Settings = duties.settings
        index_total = duties.index.counts(SearchQuery(), settings.timezone).total
        db = duties.state.connection()
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        book: CaseBook = duties.cases
        cases = list(reversed(book.find(limit=1000)))
        received = read_log(self.folder / "received.jsonl")
        signed = sum(1 for r in received if r.get("signed"))
        lines = [
            "═" * 72,
            "  演示结束，小结：",
            f"   • 入库帖子：{index_total} 条",
            f"   • 触发预警：{alerts} 条；案件系统收到签名消息 {signed} 条，"
            f"企业微信群消息 {sum(1 for r in received if r.get('to') == 'wecom')} 条",
            f"   • 案件：{len(cases)} 件",
        ]
        for case in cases[:8]:
            label = settings.tiers[case.severity].name
            lines.append(
                f"       {case.ref} [{label}] {_short(case.title, 40)}　"
                f"上报时限 {case.report_by.astimezone(settings.tz):%m-%d %H:%M}"
            )
        report = self.report_path or "（未到生成时间）"
        lines += [
            f"   • 日报：{report}",
            f"   • 全部数据留在：{self.folder}（可删除）",
            f"     再看一眼：uv run --frozen yuqing --config {self.config} cases list",
            "═" * 72,
        ]
        return "\n".join(lines)

    def time_up(self) -> None:
        self.tell("⏹ 演示时间到，正在停止（等正在进行的巡查做完，可能要几十秒）……")
        os.kill(os.getpid(), signal.SIGTERM)  # the patrol's own clean stop

    def stop_servers(self) -> None:
        self.stopping.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _start_api(settings: Settings) -> tuple[Any, threading.Thread]:
    import uvicorn

    from service.api import create_app

    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=int(settings.api.listen.rsplit(":", 1)[1]),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def run(plan: Plan, folder: Path, say: Callable[[str], None] = _say) -> int:
    """Run the demo until ``plan.minutes`` pass or Ctrl-C; returns the exit status."""
    from service.duties import Duties
    from service.patrol import Patrol

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    # The daemon's own log goes to a file; the screen shows the story in words.
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        handlers=[logging.FileHandler(folder / "logs" / "demo.log", encoding="utf-8")],
        force=True,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    demo = Demo(plan, folder, say)
    settings = demo.prepare()
    duties = Duties(settings, alert_interval=plan.alert_every)
    api, api_thread = _start_api(settings)
    say(demo.guide(settings))
    demo.started = time.monotonic()
    threads = [
        threading.Thread(target=demo.timeline, daemon=True),
        threading.Thread(target=demo.daily_report, args=(duties,), daemon=True),
    ]
    if plan.minutes:
        stopper = threading.Timer(plan.minutes * 60, demo.time_up)
        stopper.daemon = True
        threads.append(stopper)
    for thread in threads:
        thread.start()
    patrol = Patrol(settings, str(demo.config), demo.crawled)
    try:
        patrol.forever(duties)  # until SIGTERM or Ctrl-C; the running crawls finish first
    except KeyboardInterrupt:
        pass
    finally:
        demo.stopping.set()
        duties.deliver()  # what the rules raised last still reaches the receiver
        api.should_exit = True
        api_thread.join(timeout=10)
        say(demo.summary(duties))
        demo.stop_servers()
        duties.close()
    return 0
