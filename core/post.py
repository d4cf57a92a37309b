"""The Post: one thing someone published (a feed entry, an article, a forum reply, a comment)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.urls import post_id, site_of


class SourceKind(StrEnum):
    FEED = "feed"
    FORUM = "forum"
    COMMENTS = "comments"
    SITE = "site"


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Category(StrEnum):
    """DOMAIN.md §3: the four kinds of opinion, each handled differently, plus other."""

    APPEAL = "appeal"  # 询问/质疑/诉求
    HYPE = "hype"  # 恶意传播/炒作
    DEFAMATION = "defamation"  # 捏造/歪曲/诽谤/煽动
    SUGGESTION = "suggestion"  # 建议
    OTHER = "other"


# The office's own words for the labels, wherever a person reads them (webhooks, reports, CLI).
CATEGORY_LABELS: dict[str, str] = {
    Category.APPEAL: "询问/质疑/诉求",
    Category.HYPE: "恶意传播/炒作",
    Category.DEFAMATION: "捏造/歪曲/诽谤/煽动",
    Category.SUGGESTION: "建议",
    Category.OTHER: "其他",
}
SENTIMENT_LABELS: dict[str, str] = {
    Sentiment.NEGATIVE: "负面",
    Sentiment.NEUTRAL: "中性",
    Sentiment.POSITIVE: "正面",
}


class Severity(StrEnum):
    """DOMAIN.md §2: the three tiers; display names are configurable."""

    GENERAL = "general"  # 一般
    MAJOR = "major"  # 重大/较大
    ESPECIALLY_MAJOR = "especially_major"  # 特别重大


def utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone (stored times are UTC)")
    return value.astimezone(UTC)


class Post(BaseModel):
    """A post as crawled and, once analysed, with its analysis fields filled."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str
    source: str
    site: str
    url: str
    thread: str | None = None
    parent: str | None = None
    floor: int | None = None
    author: str | None = None
    title: str = ""
    text: str = ""
    published: datetime | None = None
    fetched: datetime = Field(default_factory=utcnow)
    reply_count: int | None = None
    evidence: str | None = None

    # Filled by the analysis pipeline.
    keywords: list[str] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    sentiment_score: float | None = None
    category: Category | None = None
    severity: Severity | None = None
    severity_reasons: list[str] = Field(default_factory=list)
    units: list[str] = Field(default_factory=list)
    watch_rules: list[str] = Field(default_factory=list)
    cluster: str | None = None

    @field_validator("published", "fetched")
    @classmethod
    def _stored_in_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @classmethod
    def create(
        cls, *, url: str, source: str, anchor: str | int | None = None, **fields: object
    ) -> Post:
        """Build a post whose id and site follow from its URL and anchor (floor or reply id)."""
        return cls(
            id=post_id(url, anchor),
            url=url,
            source=source,
            site=str(fields.pop("site", None) or site_of(url)),
            **fields,
        )

    @property
    def time(self) -> datetime:
        """When it was said: the published time, or when we fetched it if the page did not say."""
        return self.published or self.fetched
