"""The analyzer's learned state (repost clusters, IDF counts) kept in the data folder between
crawls, read and written under a lock."""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analysis.analyzer import Analyzer
from analysis.folding import Folder
from analysis.keywords import IdfModel

logger = logging.getLogger(__name__)


class AnalysisState:
    """The repost clusters and learned IDF kept in the data folder between crawls.

    Crawls run in their own processes; each reads the state when it starts and writes it back
    under a lock when it ends, so a crawl never reads a half-written file. Two crawls that
    overlap each keep their own additions only until the later one writes.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.dir = data_dir / "analysis"
        self.dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self, analyzer: Analyzer) -> None:
        with self._locked():
            folding, idf = self.dir / "folding.bin", self.dir / "idf.json"
            try:
                analyzer.folder = (
                    Folder.from_bytes(folding.read_bytes()) if folding.exists() else Folder()
                )
            except ValueError as exc:  # a damaged file costs the clusters, never the crawl
                logger.error("repost clusters in %s unreadable, starting anew: %s", folding, exc)
                analyzer.folder = Folder()
            try:
                if idf.exists():
                    analyzer.idf = IdfModel.from_dict(json.loads(idf.read_text("utf-8")))
            except ValueError as exc:
                logger.error("learned IDF in %s unreadable, starting anew: %s", idf, exc)

    def save(self, analyzer: Analyzer) -> None:
        with self._locked():
            if analyzer.folder is not None:
                _replace(self.dir / "folding.bin", analyzer.folder.to_bytes())
            _replace(self.dir / "idf.json", json.dumps(analyzer.idf.to_dict()).encode("utf-8"))


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
