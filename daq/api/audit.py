"""Audit of every state-changing request: who, when, what, to what, and the result.

An ASGI middleware records each POST/PUT/PATCH/DELETE after it is answered, also the
refused ones (401, 403, 404, 409, 422): the audit log shows attempts, not only successes.
Routes describe what they did with :func:`note_action`; the auth dependency names the
user with :func:`note_user`. Rows go to ``audit_log`` with the simulated time (``ts``)
and the wall time (``wall_ts``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daq.api.texts import MAX_JSON_DEPTH, json_depth, storable, storable_text
from daq.clock import SimClock
from daq.storage.models import AuditLog

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = "lamina_audit"
MAX_KEPT_BODY = 16_384
#: Key of a route's ``openapi_extra`` naming its audit action (so that a request refused
#: before the route runs, by auth or validation, is still logged under the right action).
AUDIT_KEY = "x-audit-action"


def audited(action: str) -> dict[str, Any]:
    """``openapi_extra`` of a state-changing route: ``@router.post(..., **audited("x"))``."""
    return {"openapi_extra": {AUDIT_KEY: action}}


def _notes(conn: HTTPConnection) -> dict[str, Any]:
    state: MutableMapping[str, Any] = conn.scope.setdefault("state", {})
    notes: dict[str, Any] = state.setdefault(_KEY, {})
    return notes


def note_user(conn: HTTPConnection, user: str) -> None:
    """Remember who is making this request (for its audit row)."""
    _notes(conn)["user"] = user


def note_action(
    conn: HTTPConnection,
    action: str,
    target: str | None = None,
    from_state: str | None = None,
    **detail: Any,
) -> None:
    """Describe what this request does (for its audit row)."""
    notes = _notes(conn)
    notes.update(action=action, target=target, from_state=from_state)
    notes.setdefault("detail", {}).update(detail)


def note_detail(conn: HTTPConnection, **detail: Any) -> None:
    """Add facts to this request's audit detail (e.g. the refusal message)."""
    _notes(conn).setdefault("detail", {}).update(detail)


def redacted_json(body: bytes) -> Any:
    """The JSON request body with secrets (passwords) masked; None if not JSON."""
    if not body or json_depth(body) > MAX_JSON_DEPTH:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        data = {k: ("***" if "password" in k.lower() else v) for k, v in data.items()}
    return data


def result_of(status_code: int) -> str:
    """The audit result text of an HTTP status."""
    if status_code < 400:
        return "ok"
    if status_code in (401, 403):
        return f"denied {status_code}"
    if status_code < 500:
        return f"refused {status_code}"
    return f"error {status_code}"


@dataclass
class AuditCounters:
    """How many audit rows were written and how many could not be."""

    written: int = 0
    failures: int = 0


class AuditMiddleware:
    """Writes one ``audit_log`` row per state-changing HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        sessions: async_sessionmaker[AsyncSession],
        clock: SimClock,
        counters: AuditCounters,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.clock = clock
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status_holder = {"code": 500}
        body = bytearray()

        async def receive_and_keep(message: Message | None = None) -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_KEPT_BODY:
                body.extend(message.get("body", b"")[: MAX_KEPT_BODY - len(body)])
            return message

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_and_watch)
        finally:
            await self._write(scope, status_holder["code"], bytes(body))

    async def _write(self, scope: Scope, status_code: int, body: bytes) -> None:
        notes: dict[str, Any] = scope.get("state", {}).get(_KEY, {})
        route = scope.get("route")
        path_template = getattr(route, "path", scope.get("path", ""))
        declared = (getattr(route, "openapi_extra", None) or {}).get(AUDIT_KEY)
        params = scope.get("path_params") or {}
        request = redacted_json(body)
        if not params and isinstance(request, dict) and not notes.get("target"):
            # Refused before the route ran: name the target from the request itself.
            params = {k: request[k] for k in ("name", "username", "recipe_name") if k in request}
        target = notes.get("target") or next(iter(params.values()), None) or scope.get("path")
        # Whatever the request carried (a lone surrogate, a NUL) is stored as an escape:
        # the audit log must stay writable and readable after any request.
        user = notes.get("user")
        from_state = notes.get("from_state")
        row = AuditLog(
            ts=self.clock.now(),
            wall_ts=time.time(),
            user=storable_text(str(user))[:64] if user is not None else None,
            action=storable_text(str(notes.get("action") or declared
                                     or f"{scope['method']} {path_template}"))[:64],
            target=storable_text(str(target))[:128],
            from_state=storable_text(str(from_state))[:32] if from_state is not None else None,
            detail=storable({"method": scope["method"], "path": scope.get("path", ""),
                             "status": status_code, **notes.get("detail", {}),
                             **({"request": request} if status_code >= 400 and request
                                else {})}),
            result=result_of(status_code),
        )
        try:
            async with self.sessions() as session:
                session.add(row)
                await session.commit()
            self.counters.written += 1
        except Exception:  # the audit must not take the request down with it
            self.counters.failures += 1
            log.exception("could not write the audit row for %s %s", scope["method"],
                          scope.get("path"))
