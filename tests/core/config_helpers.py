"""Helpers shared by the settings tests: where the example and the broken fixtures are, and
how to name a fixture's line by its content."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError, Problem
from core.settings_loader import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example"
FIXTURES = Path(__file__).resolve().parent / "config_fixtures"


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """The 1-based line of the nth occurrence of ``text``, so tests name lines by content."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [number for number, line in enumerate(lines, start=1) if text in line]
    assert len(found) >= nth, f"{text!r} not in {path} {nth} times"
    return found[nth - 1]


def problems_of(path: Path | str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(path, env=env or {})
    return caught.value.problems


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "institution:\n  name: 江州理工大学\n"
