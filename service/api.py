"""The HTTP API (FastAPI): health and readiness, search, posts, alerts, cases and their
transitions, sources, incident mode, reports and Prometheus metrics, behind bearer tokens."""

from __future__ import annotations

import argparse
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.cases import CaseBook, CaseError, CaseNotFound, TransitionError, is_overdue
from alerts.models import OPEN_STATES, Case, CaseState, Clock, Resolution, system_clock
from core.settings import Settings, Source
from service.api_ops import CrawlStarter, Operations, ThreadCrawlStarter
from service.cli import UserError
from service.commands.search_cmd import build_query
from service.controls import Controls
from service.wiring import data_dir, open_index
from store.base import IndexUnavailable, PostIndex
from store.evidence import EvidenceMissing, EvidenceStore, Fetch
from store.query import QueryError
from store.state import StateDB

Scope = Literal["read", "write"]
_bearer = HTTPBearer(auto_error=False, description="a token from the `api.tokens` settings")


class ApiError(BaseModel):
    detail: str


class AssignBody(BaseModel):
    assignee: str = Field(min_length=1, description="the person or unit handling the case")
    unit: str | None = None


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, description="the reply as published or sent")


class CloseBody(BaseModel):
    resolution: Resolution
    summary: str = Field(min_length=1, description="how the case was handled")


class ExtendBody(BaseModel):
    reason: str = Field(min_length=1, description="why the reply needs more time")
    days: int | None = Field(
        default=None, ge=1, description="days more; default and most `cases.max_extension_days`"
    )


class ReasonBody(BaseModel):
    reason: str = ""


class IncidentBody(BaseModel):
    """Put a source, or the sources a watch rule's posts come from, under continuous watch."""

    source: str | None = None
    watch_rule: str | None = None
    hours: float = Field(default=24, gt=0, le=24 * 30, description="how long the watch lasts")
    interval_seconds: int | None = Field(
        default=None, ge=10, description="poll interval; default `crawl.incident_interval`"
    )
    reason: str = ""


def _tokens(settings: Settings) -> list[tuple[str, str, frozenset[str]]]:
    return [
        (t.name, t.token.get_secret_value(), frozenset(t.scopes))
        for t in settings.api.tokens
        if t.token is not None
    ]


def _auth(settings: Settings, scope: Scope) -> Callable[..., str]:
    known = _tokens(settings)

    def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if not known:
            raise HTTPException(
                401,
                "no API token is configured: add one under `api.tokens` and set the "
                "environment variable its `token_env` names",
            )
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "send a token: `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        for name, secret, scopes in known:
            if hmac.compare_digest(credentials.credentials.encode(), secret.encode()):
                if scope not in scopes:
                    raise HTTPException(403, f"token {name!r} lacks the {scope!r} scope")
                return name
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})

    return check


def _case_json(case: Case, now: datetime) -> dict[str, Any]:
    data = case.model_dump(mode="json")
    data["ref"] = case.ref
    data["overdue"] = is_overdue(case, now)
    return data


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


_REPORT_NAME = re.compile(r"^(daily|weekly|special)-[0-9A-Za-z_-]+$")


def create_app(
    settings: Settings,
    *,
    index: PostIndex | None = None,
    state: StateDB | None = None,
    clock: Clock = system_clock,
    crawl_starter: CrawlStarter | None = None,
) -> FastAPI:
    """The API over ``settings``' stores; ``index``/``state``/``clock`` may be given (tests)."""
    folder = data_dir(settings)
    index = index or open_index(settings)
    state = state or StateDB.in_data_dir(folder)
    book = CaseBook.from_settings(state, settings)
    controls = Controls(state)
    ops = Operations(settings, folder, state, book, controls, clock)
    starter = crawl_starter or ThreadCrawlStarter(settings)
    read, write = _auth(settings, "read"), _auth(settings, "write")
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ApiError} for code in (400, 401, 403, 404, 409, 422)
    }

    app = FastAPI(
        title=f"Yuqing 舆情 API — {settings.institution.name}",
        version="1",
        description="Search the archive, work the cases, steer the patrol. Send "
        "`Authorization: Bearer <token>`; write calls need a token with the write scope.",
        responses=errors,
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, 422)

    @app.exception_handler(IndexUnavailable)
    async def _index_down(request: Request, exc: IndexUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the index is not reachable: {exc}"}, 503)

    # -- health ---------------------------------------------------------------------------------

    @app.get("/health", tags=["health"], summary="liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["health"],
        summary="readiness: the index and state DB answer; what is degraded",
    )
    def ready() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            index.status()
            checks["index"] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks["index"] = f"{type(exc).__name__}: {exc}"
        try:
            state.connection().execute("SELECT COUNT(*) FROM cases").fetchone()
            checks["state"] = "ok"
        except Exception as exc:
            checks["state"] = f"{type(exc).__name__}: {exc}"
        ok = all(v == "ok" for v in checks.values())
        answer: dict[str, Any] = {"ready": ok, "checks": checks}
        if checks["state"] == "ok":
            # Serving, but part of the machinery is behind: named, each with its reason.
            answer["degraded"] = ops.degraded()
            answer["status"] = "degraded" if answer["degraded"] else "ok"
        return JSONResponse(answer, 200 if ok else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics, computed on scrape")
    def metrics() -> Response:
        body, content_type = ops.metrics()
        return Response(body, media_type=content_type)

    # -- search and posts -----------------------------------------------------------------------

    @app.get("/v1/search", tags=["posts"], summary="search posts (the CLI's search language)")
    def search(
        _: str = Depends(read),
        q: Annotated[str, Query(description='e.g. 食堂 卫生 -广告, or "期末考试 泄题"')] = "",
        since: Annotated[str | None, Query(description="2026-03-01, 24h, 7d ...")] = None,
        until: str | None = None,
        source: Annotated[list[str] | None, Query()] = None,
        site: Annotated[list[str] | None, Query()] = None,
        sentiment: Annotated[list[str] | None, Query(description="negative/负面 ...")] = None,
        category: Annotated[list[str] | None, Query(description="appeal/诉求 ...")] = None,
        severity: Annotated[list[str] | None, Query(description="major/重大 ...")] = None,
        unit: Annotated[list[str] | None, Query()] = None,
        sort: Literal["time", "relevance"] = "time",
        limit: int = 20,
        page: Annotated[str | None, Query(description="next_page from the last answer")] = None,
    ) -> dict[str, Any]:
        args = argparse.Namespace(
            query=q,
            since=since,
            until=until,
            source=source or [],
            site=site or [],
            sentiment=sentiment or [],
            category=category or [],
            severity=severity or [],
            unit=unit or [],
            sort=sort,
            limit=limit,
            page_token=page,
        )
        try:
            result = index.search(build_query(args, settings))
        except UserError as exc:
            raise HTTPException(400, str(exc).replace("--", "")) from None
        except QueryError as exc:
            return JSONResponse(  # type: ignore[return-value]  # a 400 with the position
                {"detail": f"the query does not parse: {exc}", "position": exc.position}, 400
            )
        except ValueError as exc:  # a damaged page token
            raise HTTPException(400, str(exc)) from None
        return {
            "total": result.total,
            "next_page": result.next_page_token,
            "posts": [p.model_dump(mode="json") for p in result.posts],
        }

    @app.get("/v1/posts/{post_id}", tags=["posts"], summary="one post by id")
    def get_post(post_id: str, _: str = Depends(read)) -> dict[str, Any]:
        post = index.get(post_id)
        if post is None:
            raise HTTPException(404, f"no post {post_id!r}")
        return post.model_dump(mode="json")

    @app.get(
        "/v1/evidence/{sha256}",
        tags=["posts"],
        summary="the page behind a post as fetched (证据留存): the webhook's evidence link",
    )
    def evidence(sha256: str, _: str = Depends(read)) -> Response:
        store, fetches = _evidence(sha256)
        try:
            body = store.get(sha256)
        except EvidenceMissing as exc:
            raise HTTPException(404, str(exc)) from exc
        finally:
            store.close()
        kind = next(
            (v for k, v in fetches[-1].headers.items() if k.lower() == "content-type"),
            "application/octet-stream",
        )
        # A fetched page is somebody else's HTML: shown sandboxed (no script, its own origin).
        headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type=kind, headers=headers)

    @app.get(
        "/v1/evidence/{sha256}/fetches", tags=["posts"], summary="when and where it was fetched"
    )
    def evidence_fetches(sha256: str, _: str = Depends(read)) -> list[dict[str, Any]]:
        store, fetches = _evidence(sha256)
        store.close()
        return [{**asdict(f), "fetched": f.fetched.isoformat()} for f in fetches]

    def _evidence(sha256: str) -> tuple[EvidenceStore, list[Fetch]]:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise HTTPException(400, "an evidence id is the 64 hex digits of its SHA-256")
        store = EvidenceStore(folder)
        fetches = store.fetches(sha256)
        if not fetches:
            store.close()
            raise HTTPException(404, f"no evidence {sha256} (never stored, or purged)")
        return store, fetches

    # -- alerts and cases -----------------------------------------------------------------------

    @app.get("/v1/alerts", tags=["alerts"], summary="recent alerts, newest first")
    def alerts(
        _: str = Depends(read),
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        kind: Literal["case", "operational"] | None = None,
    ) -> list[dict[str, Any]]:
        return ops.alerts(limit, kind)

    @app.get("/v1/cases", tags=["cases"], summary="cases (open ones unless `state` is given)")
    def cases(
        _: str = Depends(read),
        state: Annotated[list[CaseState] | None, Query()] = None,
        all: bool = False,
        overdue: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        now = clock()
        wanted = list(state or []) or ([] if all else list(OPEN_STATES))
        found = [_case_json(c, now) for c in book.find(wanted, limit=limit)]
        return [c for c in found if c["overdue"]] if overdue else found

    def _case_call(call: Callable[[], Case]) -> dict[str, Any]:
        try:
            return _case_json(call(), clock())
        except CaseNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except TransitionError as exc:
            raise HTTPException(409, str(exc)) from None
        except CaseError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/v1/cases/{case_id}", tags=["cases"], summary="one case with its audit trail")
    def case(case_id: int, _: str = Depends(read)) -> dict[str, Any]:
        data = _case_call(lambda: book.get(case_id))
        data["events"] = [e.model_dump(mode="json") for e in book.events(case_id)]
        return data

    @app.post("/v1/cases/{case_id}/ack", tags=["cases"], summary="acknowledge (确认)")
    def ack(case_id: int, actor: str = Depends(write)) -> dict[str, Any]:
        return _case_call(lambda: book.acknowledge(case_id, actor, clock()))

    @app.post("/v1/cases/{case_id}/assign", tags=["cases"], summary="assign (批办)")
    def assign(case_id: int, body: AssignBody, actor: str = Depends(write)) -> dict[str, Any]:
        return _case_call(lambda: book.assign(case_id, body.assignee, actor, clock(), body.unit))

    @app.post("/v1/cases/{case_id}/reply", tags=["cases"], summary="record the reply (回复)")
    def reply(case_id: int, body: ReplyBody, actor: str = Depends(write)) -> dict[str, Any]:
        return _case_call(lambda: book.reply(case_id, body.text, actor, clock()))

    @app.post("/v1/cases/{case_id}/close", tags=["cases"], summary="close (销号)")
    def close(case_id: int, body: CloseBody, actor: str = Depends(write)) -> dict[str, Any]:
        return _case_call(
            lambda: book.close(case_id, body.resolution, body.summary, actor, clock())
        )

    @app.post(
        "/v1/cases/{case_id}/extend",
        tags=["cases"],
        summary="extend the reply deadline once, with a reason (延期)",
    )
    def extend(case_id: int, body: ExtendBody, actor: str = Depends(write)) -> dict[str, Any]:
        days = body.days or settings.cases.max_extension_days
        return _case_call(lambda: book.extend(case_id, days, body.reason, actor, clock()))

    @app.post("/v1/cases/{case_id}/archive", tags=["cases"], summary="archive (归档)")
    def archive(case_id: int, actor: str = Depends(write)) -> dict[str, Any]:
        return _case_call(lambda: book.archive(case_id, actor, clock()))

    # -- sources and incident mode --------------------------------------------------------------

    def _source(source_id: str) -> Source:
        for source in settings.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in settings.sources) or "none configured"
        raise HTTPException(404, f"no source {source_id!r}; sources: {known}")

    @app.get("/v1/sources", tags=["sources"], summary="sources with their last patrol")
    def sources(_: str = Depends(read)) -> list[dict[str, Any]]:
        return ops.sources(running=starter.running())

    @app.post("/v1/sources/{source_id}/enable", tags=["sources"], summary="switch a source on")
    def enable(
        source_id: str, actor: str = Depends(write), body: ReasonBody | None = None
    ) -> dict[str, Any]:
        _source(source_id)
        reason = body.reason if body else ""
        return asdict(controls.set_enabled(source_id, True, actor, clock(), reason))

    @app.post("/v1/sources/{source_id}/disable", tags=["sources"], summary="switch a source off")
    def disable(
        source_id: str, actor: str = Depends(write), body: ReasonBody | None = None
    ) -> dict[str, Any]:
        _source(source_id)
        reason = body.reason if body else ""
        return asdict(controls.set_enabled(source_id, False, actor, clock(), reason))

    @app.post(
        "/v1/sources/{source_id}/crawl",
        tags=["sources"],
        status_code=202,
        summary="crawl a source now, in a child process",
    )
    def crawl_now(source_id: str, _: str = Depends(write)) -> dict[str, Any]:
        source = _source(source_id)
        if not starter.start(source):
            raise HTTPException(409, f"source {source_id!r} is being crawled already")
        return {"source": source_id, "started": clock().isoformat(), "status": "crawling"}

    @app.get("/v1/incidents", tags=["incidents"], summary="incident watches (7x24 mode)")
    def incidents(_: str = Depends(read), active: bool = False) -> list[dict[str, Any]]:
        now = clock()
        watches = controls.watches(now if active else None)
        return [{**asdict(w), "active": w.active(now)} for w in watches]

    @app.post(
        "/v1/incidents", tags=["incidents"], status_code=201, summary="start an incident watch"
    )
    def start_incident(body: IncidentBody, actor: str = Depends(write)) -> dict[str, Any]:
        if (body.source is None) == (body.watch_rule is None):
            raise HTTPException(422, "give exactly one of `source` or `watch_rule`")
        if body.source is not None:
            kind: Literal["source", "watch_rule"] = "source"
            target = _source(body.source).id
        else:
            kind, target = "watch_rule", str(body.watch_rule)
            if target not in {r.id for r in settings.watch_rules}:
                known = ", ".join(r.id for r in settings.watch_rules) or "none configured"
                raise HTTPException(404, f"no watch rule {target!r}; watch rules: {known}")
        now = clock()
        interval = body.interval_seconds or int(settings.crawl.incident_interval.total_seconds())
        watch = controls.start_watch(
            kind,
            target,
            now,
            now + timedelta(hours=body.hours),
            interval,
            actor,
            now,
            body.reason,
        )
        return {**asdict(watch), "active": watch.active(now)}

    @app.delete("/v1/incidents/{watch_id}", tags=["incidents"], summary="end a watch early")
    def end_incident(watch_id: int, _: str = Depends(write)) -> dict[str, Any]:
        now = clock()
        try:
            watch = controls.end_watch(watch_id, now)
        except KeyError:
            raise HTTPException(404, f"no incident watch {watch_id}") from None
        return {**asdict(watch), "active": watch.active(now)}

    # -- reports --------------------------------------------------------------------------------

    reports_dir = folder / "reports"

    @app.get("/v1/reports", tags=["reports"], summary="reports produced, newest first")
    def reports(_: str = Depends(read)) -> list[dict[str, Any]]:
        found = []
        for path in sorted(reports_dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a report being written, or damaged: not listed
            found.append(
                {
                    "name": path.stem,
                    "kind": data.get("kind"),
                    "title": data.get("title"),
                    "period": data.get("period"),
                    "generated_at": data.get("generated_at"),
                    "html": f"/v1/reports/{path.stem}",
                    "json": f"/v1/reports/{path.stem}.json",
                }
            )
        return found[::-1]

    @app.get("/v1/reports/{name}", tags=["reports"], summary="a report as HTML (or .json)")
    def report(name: str, _: str = Depends(read)) -> FileResponse:
        stem, _, ext = name.partition(".")
        if not _REPORT_NAME.match(stem) or ext not in ("", "json", "html"):
            raise HTTPException(400, f"{name!r} is not a report name (e.g. daily-2026-11-21)")
        path: Path = reports_dir / f"{stem}.{ext or 'html'}"
        if not path.is_file():
            raise HTTPException(404, f"no report {name!r}; GET /v1/reports lists them")
        return FileResponse(path)

    app.state.index, app.state.state_db, app.state.crawls = index, state, starter
    return app
