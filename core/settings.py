"""Typed settings for one institution: the models every stage reads, and `load_settings`.

The YAML loader with its file:line error messages is in core/settings_loader.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.post import Severity, SourceKind
from core.settings_refs import reference_problems
from core.settings_rules import (
    ALERT_KINDS,
    Aggregation,
    AlertRule,
    Filters,
    FlatlineRule,
    FrequencyRule,
    MatchRule,
    NewTermRule,
    QuietHours,
    SpikeRule,
    SpreadRule,
    WatchRule,
)
from core.settings_service import (
    Alerting,
    Api,
    ApiToken,
    Cases,
    Reports,
    Tier,
    Tiers,
)
from core.settings_types import (
    Deadline,
    Duration,
    Id,
    Model,
    check_cron,
    check_http_url,
    is_private_host,
)

__all__ = [
    "ALERT_KINDS",
    "Aggregation",
    "AlertRule",
    "Alerting",
    "Api",
    "ApiToken",
    "Cases",
    "ConfigError",
    "Crawl",
    "Deadline",
    "Filters",
    "FlatlineRule",
    "FrequencyRule",
    "Institution",
    "MatchRule",
    "NewTermRule",
    "Person",
    "Problem",
    "QuietHours",
    "Reports",
    "Schedule",
    "Settings",
    "Source",
    "SpikeRule",
    "SpreadRule",
    "Storage",
    "Tier",
    "Tiers",
    "Unit",
    "WatchRule",
    "Webhook",
    "load_settings",
]

_log = logging.getLogger("yuqing.config")


# ---------------------------------------------------------------- the institution and its units


class Institution(Model):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Every way the institution is written: the 主体词 of a watch rule by default."""
        return [self.name, *self.aliases, *self.abbreviations]


class Person(Model):
    name: str = Field(min_length=1)
    role: str = ""
    aliases: list[str] = Field(default_factory=list)


class Unit(Model):
    """A unit (学院/部门/科室) that owns the matters its keywords name (谁主管谁负责)."""

    id: Id
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)  # 属事: the matters it answers for
    places: list[str] = Field(default_factory=list)  # 属地: buildings, campuses, canteens
    people: list[Person] = Field(default_factory=list)  # 属人
    liaison: str = ""  # 舆情联系人
    contact: str = ""  # phone, e-mail or WeCom id of the liaison
    webhook: Id | None = None  # a webhook id: this unit's alerts also go there


# ---------------------------------------------------------------- sources and crawling


def _schedule_shorthand(value: Any) -> Any:
    """`schedule: 30m` and `schedule: "*/10 * * * *"` are short for the mapping forms."""
    if isinstance(value, str):
        return {"cron": value} if len(value.split()) == 5 else {"interval": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"interval": value}
    return value


class Schedule(Model):
    """Either every ``interval`` (e.g. "30m", "2h") or a 5-field ``cron`` in the institution's zone.

    ``min_interval`` / ``max_interval`` bound adaptive polling (faster while a source is busy,
    slower while it is quiet or failing); by default polling stays at ``interval``.
    """

    interval: Duration | None = None
    cron: str | None = None
    min_interval: Duration | None = None
    max_interval: Duration | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("give exactly one of interval (e.g. 30m) or cron (e.g. '0 8 * * *')")
        if self.interval is not None and self.interval < timedelta(seconds=10):
            raise ValueError("interval below 10s would hammer the site — use 1m or more")
        low, high = self.min_interval, self.max_interval
        if low is not None and high is not None and low > high:
            raise ValueError("min_interval is longer than max_interval — swap them")
        if self.interval is not None and not (low or self.interval) <= self.interval <= (
            high or self.interval
        ):
            raise ValueError("interval lies outside min_interval..max_interval — widen the bounds")
        return self


class Crawl(Model):
    """Politeness defaults for every source; a source may override each of them."""

    user_agent: str = "Mozilla/5.0 (compatible; yuqing/0.1; opinion monitoring)"
    delay: Duration = timedelta(seconds=2)  # between requests to one domain
    concurrency: int = Field(default=2, ge=1, le=32)  # requests at once per domain
    timeout: Duration = timedelta(seconds=30)
    retries: int = Field(default=3, ge=0, le=20)
    obey_robots: bool = True
    max_page_bytes: int = Field(default=5_000_000, ge=10_000)
    run_timeout: Duration = timedelta(minutes=10)  # one source's crawl run, then it is stopped
    incident_interval: Duration = timedelta(minutes=1)  # polling under incident mode (7x24)
    # The crawl's analysis in a worker process beside Scrapy's: auto = when there are 2+ cores.
    analysis_worker: bool | Literal["auto"] = "auto"


class Source(Model):
    id: Id
    kind: SourceKind
    name: str = ""
    urls: list[Annotated[str, AfterValidator(check_http_url)]] = Field(min_length=1)
    schedule: Annotated[Schedule, BeforeValidator(_schedule_shorthand)] = Schedule(interval="1h")
    profile: str | None = None  # a built-in parser profile: discuz_x, discuz_7, tieba, article, ...
    selectors: dict[str, str] = Field(default_factory=dict)  # a selector profile for other sites
    comments: dict[str, str] = Field(default_factory=dict)  # JSON comment API paths
    max_pages: int = Field(default=200, ge=1)
    max_depth: int = Field(default=3, ge=0)
    enabled: bool = True
    # Politeness overrides; None means the `crawl:` default.
    delay: Duration | None = None
    concurrency: int | None = Field(default=None, ge=1, le=32)
    timeout: Duration | None = None
    user_agent: str | None = None
    obey_robots: bool | None = None


# ---------------------------------------------------------------- webhooks, storage, reports


class Webhook(Model):
    """A destination for alerts. Its signing secret comes from the environment variable named
    by ``secret_env`` (``previous_secret_env`` during a rotation), never from the file."""

    id: Id
    kind: Literal["generic", "wecom", "dingtalk", "feishu"] = "generic"
    url: Annotated[str, AfterValidator(check_http_url)]
    secret_env: str | None = None
    previous_secret_env: str | None = None
    allow_private: bool = False  # allow loopback / private addresses (ALERTING.md W6)
    min_severity: Severity | None = None  # only alerts at this tier or above
    timeout: Duration = timedelta(seconds=10)
    secret: SecretStr | None = Field(default=None, exclude=True, repr=False)
    previous_secret: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        env = (info.context or {}).get("env")
        if not isinstance(data, dict) or env is None:
            return data
        data = dict(data)
        pairs = (("secret_env", "secret"), ("previous_secret_env", "previous_secret"))
        for name_key, secret_key in pairs:
            name = data.get(name_key)
            if isinstance(name, str) and data.get(secret_key) is None and env.get(name):
                data[secret_key] = env[name]
        return data

    @property
    def secrets(self) -> list[str]:
        """The signing secrets, current first; two while a rotation overlaps (ALERTING.md W2)."""
        return [s.get_secret_value() for s in (self.secret, self.previous_secret) if s]

    @model_validator(mode="after")
    def _private(self) -> Webhook:
        host = urlsplit(self.url).hostname or ""
        if is_private_host(host) and not self.allow_private:
            raise ValueError(
                f"{host} is a loopback or private address — set allow_private: true "
                "if this destination is really inside your network"
            )
        return self


class Storage(Model):
    data_dir: Path = Path("data")  # the embedded index, state database, evidence, reports
    elasticsearch: list[Annotated[str, AfterValidator(check_http_url)]] = Field(
        default_factory=list
    )  # URLs; empty: the embedded store
    index_prefix: str = Field(default="yuqing", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    evidence_days: int = Field(default=180, ge=1)  # DOMAIN.md §6: at least 6 months


# ---------------------------------------------------------------- the whole


class Settings(Model):
    version: Literal[1] = 1
    institution: Institution
    timezone: str = "Asia/Shanghai"
    default_unit: Id | None = None  # where posts matching no unit go (the opinion office)
    units: list[Unit] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    watch_rules: list[WatchRule] = Field(default_factory=list)
    alert_rules: list[AlertRule] = Field(default_factory=list)
    tiers: Tiers = Field(default_factory=lambda: Tiers.model_validate({}))
    webhooks: list[Webhook] = Field(default_factory=list)
    storage: Storage = Storage()
    reports: Reports = Reports()
    cases: Cases = Cases()
    alerting: Alerting = Alerting()
    api: Api = Api()
    crawl: Crawl = Crawl()
    allow_private_addresses: bool = False  # crawling loopback / private hosts (tests, demo)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} — use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_subjects(cls, data: Any) -> Any:
        """A group-form watch rule without `subject` watches the institution's own names."""
        if not isinstance(data, dict):
            return data
        institution, rules = data.get("institution"), data.get("watch_rules")
        if isinstance(institution, Institution):
            names = institution.names
        elif isinstance(institution, dict) and isinstance(institution.get("name"), str):
            names = [institution["name"]]
            for key in ("aliases", "abbreviations"):
                extra = institution.get(key)
                names += [n for n in extra if isinstance(n, str)] if isinstance(extra, list) else []
        else:
            return data
        if isinstance(rules, list):
            data = {
                **data,
                "watch_rules": [
                    {**r, "subject": names}
                    if isinstance(r, dict) and "subject" not in r and "expression" not in r
                    else r
                    for r in rules
                ],
            }
        return data

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Settings:
        # The loader checks references on the raw YAML itself, to point at lines.
        if (info.context or {}).get("check_references", True):
            problems = reference_problems(self.model_dump(mode="python"))
            if problems:
                raise ValueError("; ".join(f"{p.where}: {p.message}" for p in problems))
        return self

    # Conveniences for the other stages.

    @property
    def mode(self) -> Literal["embedded", "elasticsearch"]:
        return "elasticsearch" if self.storage.elasticsearch else "embedded"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def source(self, source_id: str) -> Source:
        return _by_id(self.sources, source_id, "source")

    def unit(self, unit_id: str) -> Unit:
        return _by_id(self.units, unit_id, "unit")

    def watch_rule(self, rule_id: str) -> WatchRule:
        return _by_id(self.watch_rules, rule_id, "watch rule")

    def alert_rule(self, rule_id: str) -> AlertRule:
        return _by_id(self.alert_rules, rule_id, "alert rule")

    def webhook(self, webhook_id: str) -> Webhook:
        return _by_id(self.webhooks, webhook_id, "webhook")

    def politeness(self, source: Source) -> Crawl:
        """The crawl settings for one source: its own overrides over the `crawl:` defaults."""
        overrides = {
            key: getattr(source, key)
            for key in ("delay", "concurrency", "timeout", "user_agent", "obey_robots")
            if getattr(source, key) is not None
        }
        return self.crawl.model_copy(update=overrides)

    def dictionary_words(self) -> list[str]:
        """The institution's own words for the segmenter: names, units, places, people."""
        return list(dict.fromkeys(_words(self)))


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)


def _words(settings: Settings) -> Iterator[str]:
    yield from settings.institution.names
    for unit in settings.units:
        yield from (unit.name, *unit.aliases, *unit.keywords, *unit.places)
        for person in unit.people:
            yield from (person.name, *person.aliases)
    for rule in settings.watch_rules:
        yield from (*rule.subject, *rule.place, *rule.event, *rule.exclude)


def _by_id(items: Sequence[_T], wanted: str, what: str) -> _T:
    for item in items:
        if item.id == wanted:
            return item
    raise KeyError(f"no {what} {wanted!r}")


# ---------------------------------------------------------------- loading


class Problem(Model):
    """One thing wrong with a configuration, located in its file."""

    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""  # the key path, e.g. sources[2].kind
    message: str
    hint: str = ""  # what to do about it

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text


class ConfigError(Exception):
    """The configuration has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}:\n{lines}")


# The sections only alert delivery and the HTTP API read: their warnings (a webhook secret or
# an API token not exported) are noise for a command that uses neither, such as analyze.
DELIVERY_SECTIONS = ("webhooks", "api", "alert_rules")


def load_settings(path: str | Path | None = None, *, delivers: bool = True) -> Settings:
    """Read one YAML file or a folder of them (default: $YUQING_CONFIG, else config/example).

    Warnings are logged; with ``delivers=False`` (a command that neither sends alerts nor
    serves the API) those about ``DELIVERY_SECTIONS`` are left out.
    Raises ConfigError listing every problem with its file and line.
    """
    # Imported here because the loader needs the models above: a cycle at import time.
    from core.settings_loader import load

    result = load(path)
    for warning in result.warnings:
        section = warning.path.split(".", 1)[0].split("[", 1)[0]
        if delivers or section not in DELIVERY_SECTIONS:
            _log.warning("config: %s", warning)
    return result.settings
