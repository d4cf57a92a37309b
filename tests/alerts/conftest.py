"""Fixtures for the alerting tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from store.state import StateDB
from tests.alerts.support import SECRET, FakeClock, Receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    r = Receiver(clock, [SECRET])
    yield r
    r.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    state = StateDB.in_data_dir(tmp_path)
    yield state
    state.close()


@pytest.fixture
def book(db: StateDB) -> CaseBook:
    return CaseBook(db)
