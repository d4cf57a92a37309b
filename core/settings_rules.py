"""Typed watch rules and alert rules, as written in the institution's rules.yaml / alerts.yaml."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.post import Category, Sentiment, Severity
from core.settings_types import Duration, Id, Model, TimeOfDay

# ---------------------------------------------------------------- watch rules


class WatchRule(Model):
    """What the office watches for, in one of two forms (the analysis stage parses both).

    Group form: subject AND place AND event, NOT exclude — each a list of words, any one of
    which satisfies the group; an absent or empty group does not constrain. When ``subject``
    is left out it is the institution's name, aliases and abbreviations.
    Expression form: ``expression`` in the search language (AND/OR/NOT or + | -, quotes).
    """

    id: Id
    name: str = ""
    subject: list[str] = Field(default_factory=list)  # 主体词
    place: list[str] = Field(default_factory=list)  # 地域词
    event: list[str] = Field(default_factory=list)  # 事件词
    exclude: list[str] = Field(default_factory=list)  # 排除词
    expression: str | None = None
    scope: Literal["title", "body", "both"] = "both"
    proximity: int | None = Field(default=None, ge=1)  # all groups' words within N characters
    enabled: bool = True

    @model_validator(mode="after")
    def _one_form(self) -> WatchRule:
        groups = self.subject or self.place or self.event
        if self.expression is not None:
            if not self.expression.strip():
                raise ValueError("expression is empty — write e.g. '江州理工 AND (食堂 OR 外卖)'")
            if groups or self.exclude:
                raise ValueError(
                    "give either expression or the subject/place/event/exclude word lists, "
                    "not both — put the exclusions in the expression as NOT ..."
                )
        elif not groups:
            raise ValueError(
                "a watch rule needs words: add subject/place/event lists or an expression"
            )
        return self


# ---------------------------------------------------------------- alert rules


class Filters(Model):
    """Post filters an alert rule adds to its watch rules; each list matches any of its values."""

    sources: list[Id] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)
    units: list[Id] = Field(default_factory=list)
    sentiments: list[Sentiment] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    min_severity: Severity | None = None
    query: str | None = None  # extra words in the search language


class QuietHours(Model):
    """Hold notifications from ``start`` to ``end`` (local time, may cross midnight);
    alerts at ``bypass_severity`` or above are sent at once anyway."""

    start: TimeOfDay
    end: TimeOfDay
    bypass_severity: Severity | None = Severity.ESPECIALLY_MAJOR

    def covers(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class Aggregation(Model):
    """Fold the matches sharing ``key`` into one notification per ``window``."""

    key: Literal["rule", "cluster", "unit", "source", "site", "watch_rule"] = "cluster"
    window: Duration = timedelta(minutes=10)


class _AlertRuleBase(Model):
    id: Id
    name: str = ""
    enabled: bool = True
    watch_rules: list[Id] = Field(default_factory=list)  # empty: any post passing `filters`
    filters: Filters = Filters()
    realert: Duration = timedelta(hours=1)  # the same rule + key is not re-sent within this
    aggregation: Aggregation | None = None
    quiet_hours: QuietHours | None = None
    severity_floor: Severity | None = None  # the alert is raised at least at this tier
    destinations: list[Id] = Field(default_factory=list)  # webhook ids


class MatchRule(_AlertRuleBase):
    """Any new post matching the watch rules and filters."""

    kind: Literal["match"]


class FrequencyRule(_AlertRuleBase):
    """At least ``threshold`` matching posts within ``window``."""

    kind: Literal["frequency"]
    threshold: int = Field(ge=1)
    window: Duration


class SpikeRule(_AlertRuleBase):
    """This window's count against the previous window's, by ``ratio``."""

    kind: Literal["spike"]
    ratio: float = Field(gt=1)
    window: Duration
    min_count: int = Field(default=5, ge=1)  # below this, a ratio is noise
    direction: Literal["up", "down", "both"] = "up"


class SpreadRule(_AlertRuleBase):
    """A near-duplicate cluster reaches ``min_sites`` sites or ``min_posts`` posts."""

    kind: Literal["spread"]
    min_sites: int | None = Field(default=None, ge=2)
    min_posts: int | None = Field(default=None, ge=2)
    window: Duration | None = None  # only count posts this recent; None: the whole cluster

    @model_validator(mode="after")
    def _some_threshold(self) -> SpreadRule:
        if self.min_sites is None and self.min_posts is None:
            raise ValueError("a spread rule needs min_sites or min_posts (or both)")
        return self


class NewTermRule(_AlertRuleBase):
    """A hot word in ``window`` that was not seen in the ``history`` before it."""

    kind: Literal["new_term"]
    window: Duration
    history: Duration = timedelta(days=30)
    min_count: int = Field(default=3, ge=1)


class FlatlineRule(_AlertRuleBase):
    """A source produced nothing for ``max_silence``: its crawler is probably broken."""

    kind: Literal["flatline"]
    sources: list[Id] = Field(default_factory=list)  # empty: every enabled source
    max_silence: Duration


AlertRule = Annotated[
    MatchRule | FrequencyRule | SpikeRule | SpreadRule | NewTermRule | FlatlineRule,
    Field(discriminator="kind"),
]
ALERT_KINDS = ("match", "frequency", "spike", "spread", "new_term", "flatline")
