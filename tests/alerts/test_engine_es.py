"""The rule engine on the real Elasticsearch, made unreachable (a closed port) for several runs
and then restored: windows stay put, a degraded alert goes out, nothing is lost (R2)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.models import Destination
from store.elasticsearch import ElasticsearchIndex
from tests.alerts.engine_support import Flaky, Rig, make_post, minutes
from tests.alerts.support import START

pytestmark = pytest.mark.elasticsearch

MATCH = {"id": "canteen", "kind": "match", "watch_rules": ["canteen"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def es(elasticsearch_url: str) -> Iterator[ElasticsearchIndex]:
    index = ElasticsearchIndex(
        [elasticsearch_url], prefix=f"test-{uuid.uuid4().hex[:10]}", refresh=True
    )
    index.init()
    yield index
    index.delete_all()
    index.close()


def test_elasticsearch_unreachable_for_several_runs_then_back(
    tmp_path: Path, es: ElasticsearchIndex
) -> None:
    unreachable = ElasticsearchIndex(
        [f"http://127.0.0.1:{closed_port()}"], prefix=es.prefix, refresh=True, request_timeout=2
    )
    switch = Flaky(es)
    ops = Destination(id="ops", url="https://ops.example.cn/hook", events=["operational"])
    r = Rig(tmp_path / "state", switch, [MATCH], destinations=[ops])
    try:
        r.run(START)
        es.upsert([make_post(1, minutes(START, 0.5))])
        assert r.run(minutes(START, 1)).ran
        switch.inner = unreachable
        spooled = []
        for n in (2, 3, 4):
            spooled.append(make_post(10 + n, minutes(START, n - 0.5)))
            report = r.run(minutes(START, n))
            assert report.degraded and not report.ran
            assert "cannot reach Elasticsearch" in report.errors[-1]
        assert r.engine.windows("canteen")[-1].end == minutes(START, 1)
        assert r.deliveries("operational.") == ["operational.monitor_degraded"]
        switch.inner = es
        es.upsert(spooled)  # the spool flushes what was written during the outage
        r.restart()
        report = r.run(minutes(START, 5))
        assert report.ran
        last = r.engine.windows("canteen")[-1]
        assert (last.start, last.end, last.matches) == (minutes(START, 1), minutes(START, 5), 3)
        assert len(r.outcomes()) == 4
        assert r.deliveries("operational.")[-1] == "operational.monitor_recovered"
    finally:
        unreachable.close()
        r.close()
