"""`yuqing patrol --once` against a locally served feed: crawled, analysed, indexed, searchable."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import main

PAGES = Path(__file__).parent.parent / "crawler" / "pages" / "feeds"


@pytest.fixture
def feed_server() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(PAGES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_patrol_once_indexes_the_feed(
    tmp_path: Path, feed_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = sorted(p.name for p in PAGES.glob("*rss2*.xml"))[0]
    config = tmp_path / "institution.yaml"
    config.write_text(
        "institution:\n  name: 江州理工大学\n  aliases: [江州理工]\n"
        "allow_private_addresses: true\n"
        f"storage:\n  data_dir: {tmp_path / 'data'}\n"
        "crawl:\n  obey_robots: false\n"
        "sources:\n"
        f"  - id: feed\n    kind: feed\n    urls: ['{feed_server}/{feed}']\n    schedule: 5m\n"
        f"  - id: down\n    kind: feed\n    urls: ['http://127.0.0.1:9/none.xml']\n"
        "    schedule: 5m\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "patrol", "--once"]) == 0
    out = capsys.readouterr().out
    assert "feed: finished" in out
    assert "down: " in out  # the unreachable source is reported, and did not stop the other
    assert main(["--config", str(config), "search", "--json", "--limit", "100"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] >= 2
    assert all(p["source"] == "feed" for p in result["posts"])
    # Analysed on the way in: every post carries its sentiment, category and severity.
    assert all(p["sentiment"] and p["category"] and p["severity"] for p in result["posts"])
