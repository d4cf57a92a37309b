"""The composition root's factories: settings from the CLI's options, and the configured stores."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.segment import Segmenter
from core.settings import ConfigError, Settings, load_settings
from store.base import PostIndex
from store.factory import open_post_index


class SetupError(Exception):
    """The service cannot start as configured; the message says what to do."""


def settings_from_args(args: argparse.Namespace, *, delivers: bool = True) -> Settings:
    """The settings named by ``--config`` (or $YUQING_CONFIG, or the example institution).
    ``delivers=False``: the command neither sends alerts nor serves the API, so unset
    webhook secrets and API tokens are not worth a warning there."""
    try:
        return load_settings(getattr(args, "config", None), delivers=delivers)
    except ConfigError as exc:
        raise SetupError(f"{exc}\nRun `yuqing config check` for the whole list.") from None


def segmenter_for(settings: Settings) -> Segmenter:
    return Segmenter(settings.dictionary_words())


def data_dir(settings: Settings) -> Path:
    path = settings.storage.data_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_index(settings: Settings, segmenter: Segmenter | None = None) -> PostIndex:
    """The configured post index: Elasticsearch behind a durable spool, or the embedded store."""
    storage = settings.storage
    return open_post_index(
        data_dir(settings),
        storage.elasticsearch,
        storage.index_prefix,
        segmenter or segmenter_for(settings),
    )
