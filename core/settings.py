"""Typed settings for one institution, read from YAML and the environment.

Draft of the shapes every stage relies on; the config work owns this module and its loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.post import SourceKind


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Institution(Model):
    name: str
    aliases: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)


class Person(Model):
    name: str
    role: str = ""


class Unit(Model):
    """A unit (学院/部门/科室) that owns the matters its keywords name (谁主管谁负责)."""

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    liaison: str = ""
    contact: str = ""
    webhook: str | None = None  # a destination id


class Schedule(Model):
    """Either every ``interval`` (e.g. "30m", "2h") or a 5-field ``cron`` in the institution's zone."""

    interval: str | None = None
    cron: str | None = None


class Source(Model):
    id: str
    kind: SourceKind
    name: str = ""
    urls: list[str]
    schedule: Schedule = Schedule(interval="1h")
    profile: str | None = None  # a built-in parser profile: discuz_x, discuz_7, tieba, article, ...
    selectors: dict[str, str] = Field(default_factory=dict)  # a selector profile for other sites
    comments: dict[str, str] = Field(default_factory=dict)  # JSON comment API paths
    max_pages: int = 200
    max_depth: int = 3
    enabled: bool = True


class Storage(Model):
    data_dir: Path = Path("data")
    elasticsearch: list[str] = Field(default_factory=list)  # URLs; empty: the embedded store
    index_prefix: str = "yuqing"
    evidence_days: int = 180


class Settings(Model):
    institution: Institution
    timezone: str = "Asia/Shanghai"
    units: list[Unit] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    storage: Storage = Storage()
    allow_private_addresses: bool = False
    # watch_rules, alert_rules, severity tiers and webhook destinations follow the same pattern.
    mode: Literal["embedded", "elasticsearch"] = "embedded"
