"""The run queue over HTTP (bluesky-queueserver's operations): read it (viewer); add,
move, remove, clear, start and stop (operator), every change audited with its user.

An item's parameters are validated by its kind's model when it is added, so a bad item
is refused here with 422 naming the field, not when the queue reaches it. 404: no such
item; 409: the change does not fit the queue's state (remove the running item, start a
running or empty queue, stop a stopped one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from daq.api.audit import audited, note_action, note_detail
from daq.api.deps import Operator, StationDep, Viewer
from daq.api.schemas import error_responses
from daq.station.interface import Station
from daq.station.queue import (
    BadItem,
    BadPlacement,
    ItemNotFound,
    Placement,
    QueueConflict,
    QueueItem,
    QueueSnapshot,
    RunQueue,
    read_queue,
)

router = APIRouter(prefix="/api/queue", tags=["queue"], responses=error_responses(401, 403))

ItemStateName = Literal["queued", "running", "done", "failed", "aborted"]
QueueStateName = Literal["running", "stopping", "stopped"]
OutcomeName = Literal["DONE", "ABORTED", "FAULTED", "INCOMPLETE", "INTERRUPTED"]
Uid = Annotated[str, Field(min_length=1, max_length=36)]


class QueueItemOut(BaseModel):
    """One queue item: what it runs, who added it, and (once started) its run and end."""

    uid: str
    kind: str
    params: dict[str, Any]
    operator: str | None
    added_wall: float = Field(description="when it was added (real epoch seconds)")
    state: ItemStateName
    run_id: str | None = None
    outcome: OutcomeName | None = None
    started_wall: float | None = None
    ended_wall: float | None = None
    message: str | None = None
    waiting_for: str | None = Field(
        default=None, description="first in a running queue but its instrument is held: "
                                  "by which run, of whom, since when")

    @classmethod
    def of(cls, item: QueueItem) -> QueueItemOut:
        """The answer for ``item``."""
        return cls(uid=item.uid, kind=item.kind, params=dict(item.params),
                   operator=item.operator, added_wall=item.added_wall,
                   state=item.state.value, run_id=item.run_id,
                   outcome=item.outcome.value if item.outcome else None,
                   started_wall=item.started_wall, ended_wall=item.ended_wall,
                   message=item.message, waiting_for=item.waiting_for)


class QueueOut(BaseModel):
    """A station's queue: its state, the queued items in order, the running item and the
    history (oldest first)."""

    station: str
    state: QueueStateName
    ignore_failures: bool = Field(
        description="true: a FAULTED or INCOMPLETE item does not stop the queue")
    items: list[QueueItemOut]
    running: QueueItemOut | None
    history: list[QueueItemOut]

    @classmethod
    def of(cls, snap: QueueSnapshot, history_limit: int) -> QueueOut:
        """The answer for ``snap``, the last ``history_limit`` finished items."""
        history = snap.history[-history_limit:] if history_limit else []
        return cls(station=snap.station, state=snap.state.value,
                   ignore_failures=snap.ignore_failures,
                   items=[QueueItemOut.of(i) for i in snap.items],
                   running=QueueItemOut.of(snap.running) if snap.running else None,
                   history=[QueueItemOut.of(i) for i in history])


class PlacementIn(BaseModel):
    """Where the item goes: one of ``position`` (0 = next), ``before`` or ``after`` a
    queued item's uid; none of them = at the end."""

    position: int | None = Field(default=None, ge=0, le=100_000)
    before: Uid | None = None
    after: Uid | None = None

    def placement(self) -> Placement:
        """As the queue's placement."""
        return Placement(self.position, self.before, self.after)


class QueueAddIn(PlacementIn):
    """A run to queue: its kind and parameters (as ``POST /api/runs`` takes them)."""

    kind: str = Field(min_length=1, max_length=32, description="press_cycle, laser_job, …")
    params: dict[str, Any] = Field(default_factory=dict)


class QueueStateOut(BaseModel):
    """The queue's state after a start, stop or clear."""

    state: QueueStateName
    removed: int | None = Field(default=None, description="items removed (clear)")


def queue_of(station: Station) -> RunQueue:
    """The station's run queue."""
    return station.run_queue


def _refused(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *field.split(".")), "msg": message}])


@router.get("", response_model=QueueOut)
async def get_queue(
    _: Viewer,
    lab: StationDep,
    station: Annotated[str | None, Query(max_length=64,
                                         description="another station's queue (read-only)")]
    = None,
    history_limit: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> QueueOut:
    """The queue: state, queued items in order, the running item, recent history."""
    queue = queue_of(lab)
    if station is None or station == queue.station_id:
        return QueueOut.of(queue.snapshot(), history_limit)
    return QueueOut.of(await read_queue(lab, station), history_limit)


@router.post("", response_model=QueueItemOut, status_code=201,
             responses=error_responses(404), **audited("queue.add"))
async def add_item(body: QueueAddIn, request: Request, me: Operator,
                   lab: StationDep) -> QueueItemOut:
    """Queue a run (operator), validated now: 422 names the bad field."""
    note_action(request, "queue.add", target=body.kind, kind=body.kind)
    try:
        item = await queue_of(lab).add(body.kind, body.params, me.name, body.placement())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "params", *e["loc"])} for e in exc.errors()]) from None
    except BadItem as exc:
        field = exc.field if exc.field in ("kind", "params") else f"params.{exc.field}"
        raise _refused(field, str(exc)) from None
    except BadPlacement as exc:
        raise _refused(exc.field, str(exc)) from None
    note_action(request, "queue.add", target=item.uid, kind=item.kind)
    note_detail(request, params=item.params)
    return QueueItemOut.of(item)


@router.delete("/{uid}", response_model=QueueItemOut,
               responses=error_responses(404, 409), **audited("queue.remove"))
async def remove_item(uid: str, request: Request, me: Operator, lab: StationDep) -> QueueItemOut:
    """Take a queued item out (operator). The running item: abort its run instead (409)."""
    note_action(request, "queue.remove", target=uid)
    try:
        return QueueItemOut.of(await queue_of(lab).remove(uid, me.name))
    except ItemNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except QueueConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


@router.post("/{uid}/move", response_model=QueueItemOut,
             responses=error_responses(404, 409), **audited("queue.move"))
async def move_item(uid: str, body: PlacementIn, request: Request, me: Operator,
                    lab: StationDep) -> QueueItemOut:
    """Move a queued item to a position or before/after another one (operator)."""
    note_action(request, "queue.move", target=uid, **body.model_dump(exclude_none=True))
    try:
        return QueueItemOut.of(await queue_of(lab).move(uid, body.placement(), me.name))
    except ItemNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except QueueConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except BadPlacement as exc:
        raise _refused(exc.field, str(exc)) from None


@router.post("/start", response_model=QueueStateOut, responses=error_responses(409),
             **audited("queue.start"))
async def start_queue(request: Request, me: Operator, lab: StationDep) -> QueueStateOut:
    """Start the queue from its first item (operator); 409 if running or empty."""
    queue = queue_of(lab)
    note_action(request, "queue.start", target=queue.station_id, from_state=str(queue.state))
    try:
        return QueueStateOut(state=(await queue.start(me.name)).value)
    except QueueConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


@router.post("/stop", response_model=QueueStateOut, responses=error_responses(409),
             **audited("queue.stop"))
async def stop_queue(request: Request, me: Operator, lab: StationDep) -> QueueStateOut:
    """Stop the queue (operator): the running item finishes, the rest stay queued."""
    queue = queue_of(lab)
    note_action(request, "queue.stop", target=queue.station_id, from_state=str(queue.state))
    try:
        return QueueStateOut(state=(await queue.stop(me.name)).value)
    except QueueConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


@router.post("/clear", response_model=QueueStateOut, **audited("queue.clear"))
async def clear_queue(request: Request, me: Operator, lab: StationDep) -> QueueStateOut:
    """Remove every queued item (operator); the running item runs on."""
    queue = queue_of(lab)
    note_action(request, "queue.clear", target=queue.station_id, from_state=str(queue.state))
    removed = await queue.clear(me.name)
    note_detail(request, removed=removed)
    return QueueStateOut(state=queue.state.value, removed=removed)
