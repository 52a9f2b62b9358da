"""How errors reach API callers: 422 naming the field and the allowed range, never a trace.

FastAPI's validation errors keep their standard shape (``detail``: list of ``loc``,
``msg``, ``type``) so generated clients still understand them; a ``message`` line
joins them in plain words (``recipe.temperature_c: temperature 250 °C is outside the
allowed window 150–200 °C``) for people and for the dashboard.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from daq.api.audit import note_detail
from daq.storage.errors import is_transient

log = logging.getLogger(__name__)

_LOC_ROOTS = ("body", "query", "path", "header", "cookie")


def field_name(loc: Sequence[Any]) -> str:
    """``("body", "recipe", "temperature_c")`` → ``recipe.temperature_c``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOC_ROOTS:
        parts = parts[1:]
    return ".".join(parts) or "request"


def describe(error: dict[str, Any]) -> str:
    """One validation error in plain words, naming the field and, if known, the range."""
    name = field_name(error.get("loc", ()))
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    bounds = [f"{k} {v}" for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")]
    if bounds and "allowed" not in msg:
        msg = f"{msg} (allowed: {', '.join(bounds)})"
    return f"{name}: {msg}"


def validation_response(request: Request, errors: Sequence[Any]) -> JSONResponse:
    """The 422 answer for these pydantic/FastAPI errors."""
    cleaned: list[dict[str, Any]] = []
    for err in errors:
        item = dict(err)
        item.pop("input", None)  # may echo secrets (passwords) back
        item.pop("url", None)
        if "ctx" in item:
            item["ctx"] = {k: str(v) for k, v in item["ctx"].items()}
        item["msg"] = describe(item).split(": ", 1)[-1]
        item["field"] = field_name(item.get("loc", ()))
        cleaned.append(item)
    message = "; ".join(f"{e['field']}: {e['msg']}" for e in cleaned)
    note_detail(request, message=message)
    return JSONResponse(
        status_code=422, content=jsonable_encoder({"detail": cleaned, "message": message})
    )


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API answers at ``path`` (HEAD with GET, and OPTIONS), read from
    its OpenAPI paths; outside ``/api`` the dashboard's static files answer GET."""
    templates: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "allowed_methods", None)
    if templates is None:
        templates = [
            (compile_path(template)[0], {m.upper() for m in ops if m.upper() in HTTP_METHODS})
            for template, ops in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = templates
    methods: set[str] = {"OPTIONS"}
    for regex, declared in templates:
        if regex.match(path):
            methods |= declared
    if methods == {"OPTIONS"} and not path.startswith("/api/"):
        methods |= {"GET"}
    if "GET" in methods:
        methods.add("HEAD")
    return [m for m in HTTP_METHODS if m in methods]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that shape error answers."""

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the one route it tried; a path has several.
            allowed = allowed_methods(app, request.url.path)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=headers)
        note_detail(request, message=str(exc.detail))
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": exc.detail},
            headers=headers,
        )

    @app.exception_handler(DBAPIError)
    async def on_database(request: Request, exc: DBAPIError) -> JSONResponse:
        # The database is down, locked or read-only for a while: the station keeps
        # running and says so; the caller may try again.
        if not is_transient(exc):
            return await on_unexpected(request, exc)
        reason = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        note_detail(request, message=f"database unavailable: {reason}")
        return JSONResponse(
            status_code=503, headers={"Retry-After": "5"},
            content={"detail": f"database unavailable ({reason}); try again shortly"},
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        note_detail(request, message=f"internal error: {type(exc).__name__}")
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error ({type(exc).__name__}); see the service log"},
        )
