"""Starting a run from an HTTP request, for ``POST /api/runs`` and the per-kind aliases
(``POST /api/press/cycles``): one path into the station's run engine, one way of
answering its refusals (422 naming the field and range, 409 naming the holder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from daq.api.audit import note_action, note_detail
from daq.api.schemas import RunStarted
from daq.recipes import RecipeError
from daq.station.errors import (
    InstrumentBusy,
    NoSuchInstrument,
    NotOnRecord,
    Refused,
    RunNotLive,
    StationError,
    UnknownKind,
)
from daq.station.interface import Station
from drivers.errors import InstrumentError


def _invalid(loc: Sequence[str | int], msg: str, kind: str = "value_error"
             ) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": msg}])


async def start_run(
    request: Request,
    station: Station,
    kind: str,
    params: BaseModel | Mapping[str, object],
    operator: str,
    *,
    action: str,
    loc: Sequence[str] = ("body", "params"),
) -> RunStarted:
    """Start ``kind`` with ``params`` for ``operator``; the audit row names both.

    422: bad parameters (field and range named), unknown kind (known ones listed), an
    unknown sample, specimen or recipe; 409: the instrument is busy (holder named) or
    missing."""
    note_action(request, action, target=kind, kind=kind)
    try:
        run_id = await station.run_engine.start(kind, params, operator, "api")
    except ValidationError as exc:
        errors = [{**err, "loc": (*loc, *err["loc"])} for err in exc.errors()]
        raise RequestValidationError(errors) from None
    except UnknownKind as exc:
        raise _invalid(("body", "kind"), str(exc)) from None
    except NotOnRecord as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except Refused as exc:
        raise _invalid((*loc, exc.field), str(exc)) from None
    except RecipeError as exc:
        raise RequestValidationError(
            [{"type": "recipe", "loc": tuple(loc), "msg": p} for p in exc.problems]
        ) from None
    except InstrumentBusy as exc:
        note_detail(request, holder=exc.holder.run_id, holder_kind=exc.holder.kind,
                    holder_operator=exc.holder.operator)
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except (NoSuchInstrument, RunNotLive, StationError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except InstrumentError as exc:  # the factory's first words with the instrument
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"the instrument did not answer: {exc}") from None
    except ValueError as exc:  # a kind's own check (a specimen already in an oven, …)
        raise _invalid(tuple(loc), str(exc)) from None
    note_action(request, action, target=run_id, kind=kind)
    return RunStarted(run_id=run_id, kind=kind)
