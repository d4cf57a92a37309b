"""`yuqing cases ...` against a real state database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.models import DeliveryState, Destination
from alerts.sender import Worker
from core.post import Severity
from service.cli import main
from store.state import StateDB
from tests.alerts.support import SECRET, START, FakeClock, Receiver, Reply, make_alert


@pytest.fixture
def data(tmp_path: Path) -> Path:
    db = StateDB.in_data_dir(tmp_path)
    outbox = Outbox(
        CaseBook(db),
        [Destination(id="cs", url="http://127.0.0.1:9/x", allow_private=True, secrets=[])],
    )
    outbox.submit(make_alert(), START)
    db.close()
    return tmp_path


def run(data: Path, *argv: str) -> int:
    return main(["cases", "--data-dir", str(data), *argv])


def test_the_case_workflow_from_the_command_line(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data, "list") == 0
    out = capsys.readouterr().out
    assert "C000001" in out and "食堂饭菜出现异物" in out and "一般" in out
    assert run(data, "ack", "C000001", "--by", "宣传部") == 0
    assert run(data, "assign", "1", "李老师", "--unit", "logistics") == 0
    assert run(data, "reply", "1", "已在论坛发布情况说明") == 0
    assert run(data, "close", "1", "--resolution", "resolved", "--summary", "已整改并回复") == 0
    assert "is now closed" in capsys.readouterr().out
    assert run(data, "list") == 0
    assert capsys.readouterr().out.strip() == "no cases"
    assert run(data, "list", "--all") == 0
    assert "closed" in capsys.readouterr().out
    assert run(data, "show", "1") == 0
    shown = capsys.readouterr().out
    assert "2026-11-19 10:00" in shown  # report deadline, local time
    assert "宣传部" in shown and "已整改并回复" in shown and "transition" in shown


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reply", "1", "太早了"], "cannot go to replied; allowed: acknowledged"),
        (["ack", "7"], "no case 7"),
        (["replay"], "say which failures"),
    ],
)
def test_mistakes_get_one_clear_line(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(data, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_case_numbers_are_refused_by_argparse(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(data, "show", "case-one")
    assert exit_info.value.code == 2
    assert "is not a case number" in capsys.readouterr().err


def test_failures_lists_nothing_on_a_healthy_outbox(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data, "failures") == 0
    assert "no failed deliveries" in capsys.readouterr().out


def test_operators_list_and_replay_failures_and_re_enable_a_gone_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(datetime.now(UTC))  # the CLI queues a replay at the wall clock's now
    receiver = Receiver(clock, [SECRET])
    try:
        receiver.script("/cases/cs", Reply(500), Reply(500), Reply(200))
        receiver.script("/cases/old", Reply(410), Reply(200))
        db = StateDB.in_data_dir(tmp_path)
        dests = [
            Destination(id=name, url=f"{receiver.url}/cases/{name}", secrets=[SECRET],
                        allow_private=True, events=["case"])
            for name in ("cs", "old")
        ]  # fmt: skip
        outbox = Outbox(CaseBook(db), dests)
        worker = Worker(outbox, clock, schedule=(timedelta(seconds=5),))  # two attempts
        outbox.submit(make_alert(), clock())
        worker.run_once()
        clock.advance(seconds=10)
        worker.run_once()
        failed = {d.destination: d.id for d in outbox.failures()}
        assert set(failed) == {"cs", "old"}
        assert run(tmp_path, "failures") == 0
        listed = capsys.readouterr().out
        assert failed["cs"] in listed and "HTTP 500" in listed
        assert "destination old is disabled (410 Gone)" in listed
        assert run(tmp_path, "replay", failed["cs"], "--by", "宣传部") == 0
        assert "queued 1 deliveries again" in capsys.readouterr().out
        assert run(tmp_path, "replay", "--destination", "old") == 2
        assert "enable it first" in capsys.readouterr().err
        assert run(tmp_path, "replay", "--enable", "old") == 0
        worker.run_once()
        assert {d.state for d in outbox.deliveries()} == {DeliveryState.DELIVERED}
        # The same webhook-id as the failed attempts: the receiver keeps one case each.
        assert {r.webhook_id for r in receiver.on("/cases/cs")} == {failed["cs"]}
        replayed = [e for e in CaseBook(db).events(1) if e.kind == "delivery_replayed"]
        assert [e.actor for e in replayed] == ["宣传部", replayed[1].actor]
        db.close()
    finally:
        receiver.close()


def test_list_overdue(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI compares with the wall clock, so add a case whose deadlines passed years ago.
    db = StateDB.in_data_dir(data)
    Outbox(CaseBook(db), []).submit(
        make_alert(key="old", title="旧帖", detected_at=START.replace(year=2020)), START
    )
    assert run(data, "list", "--overdue") == 0
    out = capsys.readouterr().out
    assert "旧帖" in out and " !" in out


def test_extend_the_reply_deadline_once_and_show_it(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # General tier: Wed 18 Nov 10:00 + 3 working days = Mon 23 Nov; + 2 working days = Wed 25.
    assert run(data, "extend", "1", "--reason", "涉及多个部门，需联合调查", "--by", "宣传部") == 0
    out = capsys.readouterr().out
    assert "reply now due 2026-11-25 10:00" in out and "is now" not in out
    assert run(data, "extend", "1", "--reason", "再延一次") == 2
    assert "a deadline is extended once" in capsys.readouterr().err
    assert run(data, "extend", "1", "--days", "3", "--reason", "太久") == 2
    assert "an extension is 1 to 2 days, not 3" in capsys.readouterr().err
    assert run(data, "show", "1") == 0
    shown = capsys.readouterr().out
    assert "2026-11-25 10:00  (extended" in shown and "涉及多个部门" in shown
    assert "extended" in shown.split("audit trail:")[1]


def test_show_names_the_special_report_deadline(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = StateDB.in_data_dir(data)
    major = make_alert(key="k2", severity=Severity.MAJOR, title="重大事件")
    Outbox(CaseBook(db), []).submit(major, START)
    db.close()
    assert run(data, "show", "2") == 0
    shown = capsys.readouterr().out
    # Major: a special report within 4 hours of detection (10:00 -> 14:00 Beijing).
    assert "special report: due 2026-11-18 14:00, not made yet — OVERDUE" in shown
    assert run(data, "show", "1") == 0
    assert "special report: - (not owed at this tier)" in capsys.readouterr().out
