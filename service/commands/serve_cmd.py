"""`yuqing serve`: the HTTP API (service/api.py) under uvicorn."""

from __future__ import annotations

import argparse

from service.cli import UserError
from service.wiring import SetupError, settings_from_args


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen {value!r} is not host:port — write e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the HTTP API (OpenAPI at /docs)",
        description="Serve the HTTP API: search, posts, alerts, cases, sources, incident mode, "
        "reports and /metrics. Tokens come from `api.tokens` in the settings.",
    )
    p.add_argument("--listen", help="host:port (default: `api.listen` in the settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api import create_app

    try:
        settings = settings_from_args(args)
    except SetupError as exc:
        raise UserError(str(exc)) from None
    host, port = _listen(args.listen or settings.api.listen)
    if not any(t.token for t in settings.api.tokens):
        print(
            "yuqing serve: no API token is set — every call but /health, /ready and /metrics "
            "will be refused; set the variables named by `api.tokens[].token_env`",
            flush=True,
        )
    app = create_app(settings)
    print(f"yuqing serve: http://{host}:{port}/docs", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0
