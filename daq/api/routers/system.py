"""``/health`` (no auth: for load balancers and systemd) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from daq.api import accounts
from daq.api.deps import StationDep
from daq.api.probe import DatabaseProbe
from daq.api.shared_read import SharedRead
from daq.api.snapshots import json_bytes, snapshot
from daq.clock import iso
from daq.metrics import render_prometheus
from daq.station.interface import Station

router = APIRouter(tags=["system"])


async def health(request: Request) -> Response:  # app.add_hot_reads routes it
    """Is the service up, is its database reachable and keeping up, is the broker
    connected, which instruments are online; ``degraded`` names each part that is not.
    The answer is at most 50 ms old (``ts`` says when it was made) and never older than
    the last command."""
    # The hottest read (load balancers, systemd, monitoring): one rendered answer is shared
    # for 50 ms (daq.api.snapshots), not built, validated against ``HealthOut`` and
    # re-encoded per request (the schema is still declared, and the schemathesis test
    # checks answers against it).
    shared: SharedRead[bytes] = request.app.state.health_snapshot
    return Response(await shared.get(), media_type="application/json")


def health_snapshot(station: Station, probe: DatabaseProbe) -> SharedRead[bytes]:
    """The rendered ``GET /health`` of ``station``, shared for a moment."""

    async def render() -> bytes:
        return json_bytes(await health_body(station, probe))

    return snapshot(render)


async def health_body(station: Station, probe: DatabaseProbe) -> dict[str, Any]:
    """The body of ``GET /health`` (a :class:`HealthOut`)."""
    database = await probe.state()
    now = station.clock.now()
    service = station.status()
    degraded = dict(service["degraded"])
    if database != "ok":
        degraded["database"] = database
    return {
        "mqtt": station.publisher.state,
        # ok only when every part is: database (answering and keeping up with the
        # journal), broker, every instrument; otherwise each part that is not, and why.
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "journal": service["journal"],
        "station": station.settings.station,
        "ts": now,
        "time": iso(now),
        "time_scale": station.clock.scale,
        "database": database,
        "instruments": {
            name: str(p.status or "unknown") for name, p in station.pollers.items()
        },
        "active_runs": [run.run_id for run in station.run_engine.active()],
    }


def api_metrics(request: Request) -> str:
    """Metrics of the API itself: stream clients, stream drops, audit write failures."""
    hub = request.app.state.stream_hub
    audit = request.app.state.audit_counters
    return (
        "# HELP daq_api_stream_clients Connected WebSocket stream clients.\n"
        "# TYPE daq_api_stream_clients gauge\n"
        f"daq_api_stream_clients {len(hub.clients)}\n"
        "# HELP daq_api_stream_dropped_total Stream messages dropped for slow clients.\n"
        "# TYPE daq_api_stream_dropped_total counter\n"
        f"daq_api_stream_dropped_total {hub.dropped}\n"
        "# HELP daq_api_audit_failures_total Audit rows that could not be written.\n"
        "# TYPE daq_api_audit_failures_total counter\n"
        f"daq_api_audit_failures_total {audit.failures}\n"
        "# HELP daq_api_password_hashes_total Argon2 hashes computed (logins, new users).\n"
        "# TYPE daq_api_password_hashes_total counter\n"
        f"daq_api_password_hashes_total {accounts.HASHES.computed}\n"
        "# HELP daq_api_logins_throttled_total Login attempts told to wait (429).\n"
        "# TYPE daq_api_logins_throttled_total counter\n"
        f"daq_api_logins_throttled_total {request.app.state.login_throttle.refused}\n"
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, station: StationDep) -> str:
    """Prometheus text: readings/s, queue depths, drops, broker, database, instruments."""
    return render_prometheus(station) + api_metrics(request)
