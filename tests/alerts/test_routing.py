"""Per-unit destinations (谁主管谁负责, ALERTING.md W4): a unit's own robot hears of its cases
besides the office, each destination with its own delivery state; config errors name the line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from alerts.deadlines import tiers_from
from alerts.delivery import Outbox
from alerts.engine import Engine
from alerts.models import DeliveryState
from alerts.notify import NotifyCounts
from alerts.sender import Worker
from core.settings import ConfigError, Settings, load_settings
from core.settings_loader import load
from store.sqlite import SqliteIndex
from store.state import StateDB
from tests.alerts.support import SECRET, FakeClock, Receiver, Reply, make_alert

CONFIG = """\
institution: {{name: 江州理工大学}}
units:
  - {{id: logistics, name: 后勤管理处, keywords: [食堂], liaison: 赵磊, webhook: logistics-robot}}
  - {{id: security, name: 保卫处, keywords: [盗窃], liaison: 孙振东}}
webhooks:
  - {{id: office, url: "{url}/cases/office", secret_env: T_SECRET, allow_private: true}}
  - {{id: leaders, url: "{url}/cases/leaders", secret_env: T_SECRET, allow_private: true}}
  - {{id: logistics-robot, url: "{url}/cases/logistics", secret_env: T_SECRET,
      allow_private: true}}
cases:
  escalate_to: [office]
  still_late_to: [leaders]
alert_rules:
  - {{id: negative-canteen, kind: match, destinations: [office]}}
"""


def settings_for(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("T_SECRET", SECRET)
    path = tmp_path / "institution.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


@pytest.fixture
def settings(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings_for(tmp_path, CONFIG.format(url=receiver.url), monkeypatch)


def outbox_of(settings: Settings, db: StateDB, clock: FakeClock) -> tuple[Outbox, Worker]:
    book = CaseBook(db, tiers=tiers_from(settings.tiers), zone=settings.timezone)
    outbox = Outbox.from_settings(book, settings)
    return outbox, Worker(outbox, clock, rng=random.Random(3))


def test_a_units_case_goes_to_the_office_and_to_the_units_own_robot(
    settings: Settings, db: StateDB, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, worker = outbox_of(settings, db, clock)
    mine = outbox.submit(make_alert(unit="logistics"), clock())
    other = outbox.submit(make_alert(key="cluster-2", unit="security"), clock())
    nobody = outbox.submit(make_alert(key="cluster-3", unit=None), clock())
    # No rule restricts this outbox: every webhook that is no unit's own is the office's.
    routed = {d.destination for d in outbox.deliveries(case_id=mine.case_id)}
    assert routed == {"office", "leaders", "logistics-robot"}
    # Another unit's case, or one routed to no unit, reaches the office only.
    for submitted in (other, nobody):
        routed = {d.destination for d in outbox.deliveries(case_id=submitted.case_id)}
        assert routed == {"office", "leaders"}
    worker.run_once()
    (robot,) = receiver.on("/cases/logistics")
    assert robot.verified and json.loads(robot.body)["data"]["unit"]["id"] == "logistics"
    assert len(receiver.on("/cases/office")) == 3


def test_each_destination_keeps_its_own_delivery_state(
    settings: Settings, db: StateDB, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/logistics", Reply(500, body="robot down"), Reply(200))
    outbox, worker = outbox_of(settings, db, clock)
    submitted = outbox.submit(make_alert(unit="logistics"), clock())
    worker.run_once()
    states = {d.destination: d for d in outbox.deliveries(case_id=submitted.case_id)}
    assert states["office"].state is DeliveryState.DELIVERED
    assert states["logistics-robot"].state is DeliveryState.PENDING
    assert states["logistics-robot"].attempts == 1
    clock.now = states["logistics-robot"].next_attempt_at
    worker.run_once()
    states = {d.destination: d for d in outbox.deliveries(case_id=submitted.case_id)}
    assert states["logistics-robot"].state is DeliveryState.DELIVERED
    # The office was not sent again because the robot failed; the robot got the same id twice.
    assert len(receiver.on("/cases/office")) == 1
    tries = receiver.on("/cases/logistics")
    assert len(tries) == 2 and tries[0].webhook_id == tries[1].webhook_id


def test_a_rule_naming_its_destinations_still_reaches_the_units_robot(
    settings: Settings, tmp_path: Path, db: StateDB, clock: FakeClock
) -> None:
    outbox, _ = outbox_of(settings, db, clock)
    index = SqliteIndex(tmp_path / "index")
    engine = Engine.from_settings(settings, index, outbox)
    counts = NotifyCounts()
    with db.transaction() as conn:
        engine.notifier.notify(conn, make_alert(unit="logistics"), clock(), counts)
        engine.notifier.notify(conn, make_alert(key="k2", unit="security"), clock(), counts)
    assert counts.sent == 2
    by_case: dict[int | None, set[str]] = {}
    for d in outbox.deliveries():
        by_case.setdefault(d.case_id, set()).add(d.destination)
    # The rule names [office]: "leaders" is left out, the unit's robot is added.
    assert by_case == {1: {"office", "logistics-robot"}, 2: {"office"}}


def test_escalations_go_to_escalate_to_and_the_units_robot(
    settings: Settings, db: StateDB, clock: FakeClock
) -> None:
    outbox, _ = outbox_of(settings, db, clock)
    case = outbox.submit(make_alert(unit="logistics"), clock()).case_id
    first = {d.id for d in outbox.deliveries()}
    clock.now = outbox.cases.get(case).report_by
    assert (case, "report.overdue") in outbox.escalate(clock())
    sent = {d.destination for d in outbox.deliveries() if d.id not in first}
    assert sent == {"office", "logistics-robot"}


def test_a_unit_naming_an_unknown_webhook_is_a_config_error_with_its_line(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = CONFIG.format(url=receiver.url).replace(
        "webhook: logistics-robot}", "webhook: logistics-bot}"
    )
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, text, monkeypatch)
    message = str(caught.value)
    assert "institution.yaml:3" in message and "units[0].webhook" in message
    assert "no webhook with id 'logistics-bot'" in message
    assert "did you mean 'logistics-robot'?" in message


def test_a_rule_without_destinations_warns_only_when_the_office_has_no_webhook(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    path = tmp_path / "institution.yaml"
    text = CONFIG.format(url=receiver.url).replace(
        "kind: match, destinations: [office]}", "kind: match}"
    )
    path.write_text(text, encoding="utf-8")
    assert not [str(w) for w in load(path).warnings if "negative-canteen" in str(w)]
    # Only the unit's robot left: the rule's alerts reach no one but that unit.
    only_robot = "\n".join(
        line for line in text.splitlines() if "/cases/office" not in line and "leaders" not in line
    ).replace("escalate_to: [office]", "escalate_to: []")
    path.write_text(only_robot, encoding="utf-8")
    (warning,) = [str(w) for w in load(path).warnings if "negative-canteen" in str(w)]
    assert "institution.yaml:" in warning and "the office has no webhook" in warning
