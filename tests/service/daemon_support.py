"""Test support for the patrol daemon: a locally served Discuz! forum that posts can be added to
while it is crawled, a configuration for it (copied from config/example), and `yuqing patrol` as
a real child process that can be stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from service.demo_sites import SitesServer, World, _SiteHandler
from service.demo_story import Event
from tests.alerts.support import SECRET

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example"
FORUM_PATH = "/forum/forum.php?mod=forumdisplay&fid=2"

# A negative post about the canteen: matches the example's canteen-safety watch rule, goes to
# the logistics unit (后勤管理处, liaison 赵磊).
NEGATIVE = (
    "江州理工大学三食堂今天中午的饭菜有异味，我们宿舍四个人吃完全部拉肚子，疑似食物中毒，"
    "学校到现在都没有任何说法，太让人寒心了！"
)
EVERYDAY = "江州理工大学图书馆这周末开放到晚上十点，自习的同学可以多待一会儿。"


class _SlowHandler(_SiteHandler):
    """Counts thread pages asked for, and answers them ``server.delay`` seconds late."""

    server: _SlowServer

    def do_GET(self) -> None:
        if "viewthread" in self.path:
            with self.server.lock:
                self.server.thread_requests += 1
            time.sleep(self.server.delay)
        super().do_GET()


class _SlowServer(SitesServer):
    def __init__(self, address: tuple[str, int], world: World, delay: float) -> None:
        self.delay = delay
        self.thread_requests = 0
        self.lock = threading.Lock()
        super().__init__(address, world)
        self.RequestHandlerClass = _SlowHandler


class Forum:
    """The demo's Discuz! X forum on 127.0.0.1, fed by the test (``post``); ``delay`` slows each
    thread page so a crawl takes a while."""

    def __init__(self, host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.world = World()
        self.server = _SlowServer((host, 0), self.world, delay)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self._n = 0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{FORUM_PATH}"

    def post(self, text: str, title: str, author: str = "路过的同学") -> int:
        """A new thread with one post; returns its thread number."""
        self._n += 1
        self.world.publish(
            Event(0, "forum", "thread", f"t{self._n}", author, text, title), datetime.now()
        )
        return self.world.listed("forum")[0].number

    def posts(self) -> int:
        return self.world.counts()["forum"]

    @property
    def thread_requests(self) -> int:
        with self.server.lock:
            return self.server.thread_requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLE / name).read_text(encoding="utf-8"))
    return data


def write_config(
    folder: Path,
    sources: dict[str, str],
    receiver: str,
    *,
    poll: str = "10s",
    alert_every: str = "2s",
    run_timeout: str = "2m",
    extra: dict[str, Any] | None = None,
) -> Path:
    """The example institution (units, watch rules, tiers) pointed at ``sources`` (id → forum
    list URL), one `match` alert rule on negative canteen posts to the signed ``receiver``.
    Returns ``folder``/config; the data folder is ``folder``/data, beside it (not inside: the
    crawl's analyzer cache watches every file under the config folder)."""
    config = folder / "config"
    config.mkdir(parents=True, exist_ok=True)
    institution = _load("institution.yaml")
    institution["storage"]["data_dir"] = str(folder / "data")
    institution["crawl"].update(delay="0.05s", run_timeout=run_timeout, obey_robots=False)
    institution["allow_private_addresses"] = True
    institution["alerting"]["interval"] = alert_every
    institution.pop("api", None)  # no tokens in the environment: the API is not started here
    institution["cases"]["escalate_to"] = ["cases"]
    units = _load("units.yaml")
    for unit in units["units"]:
        unit.pop("webhook", None)  # only the case system receives here
    institution.update(extra or {})
    files = {
        "institution.yaml": institution,
        "rules.yaml": _load("rules.yaml"),
        "units.yaml": units,
        "sources.yaml": {
            "sources": [
                {
                    "id": sid,
                    "kind": "forum",
                    "urls": [url],
                    "profile": "discuz_x",
                    "schedule": poll,
                    "max_pages": 50,
                    "max_depth": 2,
                }
                for sid, url in sources.items()
            ]
        },
        "webhooks.yaml": {
            "webhooks": [
                {
                    "id": "cases",
                    "kind": "generic",
                    "url": f"{receiver}/cases",
                    "secret_env": "YUQING_CASES_SECRET",
                    "allow_private": True,
                }
            ]
        },
        "alerts.yaml": {
            "alert_rules": [
                {
                    "id": "negative-canteen",
                    "kind": "match",
                    "name": "食堂负面帖即时提醒",
                    "watch_rules": ["canteen-safety"],
                    "filters": {"sentiments": ["negative"]},
                    "destinations": ["cases"],
                }
            ]
        },
    }
    for name, data in files.items():
        (config / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


class Daemon:
    """`yuqing patrol` on ``config`` as a real child process, its output in ``log``."""

    def __init__(self, config: Path, *args: str) -> None:
        self.config = config
        self.log = config.parent / f"patrol-{time.monotonic_ns()}.log"
        env = {**os.environ, "YUQING_CASES_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "--config", str(config), "patrol", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its crawl children die with the group in cleanup
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 120) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the daemon alone, as the OOM killer would; its children live on."""
        self.process.kill()
        self.process.wait(10)

    def cleanup(self) -> None:
        """Whatever is left of the process group (crawl children, the fork server)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_for(what: Callable[[], Any], timeout: float, every: float = 0.5, why: str = "") -> Any:
    """Poll ``what`` until it returns something truthy; fail with ``why`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {why or what}")
        time.sleep(every)
