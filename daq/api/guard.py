"""The request-body guard: what no route has to defend against by itself.

An ASGI middleware in front of every route. A body larger than :data:`MAX_BODY_BYTES`
is answered 413, a JSON body nested deeper than :data:`MAX_JSON_DEPTH` 400 (counted
without recursion, so a body 10 000 levels deep costs a scan, not a stack), and a text
anywhere in a JSON body (value or key) holding a lone surrogate or a control character
422 naming the field. What passes reaches the route unchanged. The audit middleware
sits outside this one, so every refusal here is audited too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daq.api.audit import note_detail
from daq.api.texts import MAX_JSON_DEPTH, bad_character, json_depth, storable_text

#: The largest request body accepted (a campaign file with its samples is a few kB).
MAX_BODY_BYTES = 1 << 20


class BodyRefused(Exception):
    """A request body refused before any route sees it: HTTP status and plain words."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _texts(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string of a parsed JSON value (keys too) with where it is; iterative."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield (*where, str(key)), str(key)
                stack.append((child, (*where, str(key))))
        elif isinstance(item, list):
            stack.extend((child, (*where, str(i))) for i, child in enumerate(item))


def check_json_body(body: bytes) -> None:
    """Raise :class:`BodyRefused` if ``body`` is too deep or holds a text that is not one.

    A body that is not JSON at all is left for the route's own validation (422)."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BodyRefused(400, f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return
    for where, text in _texts(data, ()):
        problem = bad_character(text)
        if problem is not None:
            field = storable_text(".".join(where)) or "body"  # the name may be the culprit
            raise BodyRefused(422, f"{field}: {problem}", field)


def refusal(exc: BodyRefused) -> JSONResponse:
    """The answer to a refused body: FastAPI's error shape plus a ``message`` line."""
    if exc.status == 422:
        loc = ["body", *(exc.field.split(".") if exc.field and exc.field != "body" else [])]
        detail: object = [{"loc": loc, "msg": exc.message.split(": ", 1)[-1],
                           "type": "value_error", "field": exc.field or "body"}]
    else:
        detail = exc.message
    return JSONResponse(status_code=exc.status, content={"detail": detail,
                                                          "message": exc.message})


class BodyGuard:
    """Refuses oversized, over-deep or non-text JSON request bodies before any route."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
            headers = Headers(scope=scope)
            body = await self._read(headers, receive)
            if body and "json" in headers.get("content-type", "").lower():
                check_json_body(body)
        except BodyRefused as exc:
            note_detail(HTTPConnection(scope), message=exc.message)
            await refusal(exc)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _read(self, headers: Headers, receive: Receive) -> bytes:
        length = headers.get("content-length", "")
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > self.max_body_bytes:
            raise BodyRefused(413, f"request body of {declared} bytes is over the limit of "
                                   f"{self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyRefused(413, f"request body is over the limit of "
                                       f"{self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
