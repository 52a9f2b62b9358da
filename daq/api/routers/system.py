"""``/health`` (no auth: for load balancers and systemd) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from daq.api.deps import LabDep, get_sessions
from daq.api.lab_access import active_run_ids, pollers_of
from daq.clock import iso

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(request: Request, lab: LabDep) -> dict[str, Any]:
    """Is the service up, is its database reachable and keeping up, is the broker
    connected, which instruments are online; ``degraded`` names each part that is not."""
    database = "ok"
    try:
        async with get_sessions(request)() as session:
            # Bounded: a locked or stopped database must not hang the probe.
            await asyncio.wait_for(session.execute(text("SELECT 1")), 2.0)
    except Exception as exc:  # report, do not fail the probe with a 500
        database = f"down: {type(exc).__name__}"
    now = lab.clock.now()
    service: dict[str, Any] = lab.status() if hasattr(lab, "status") else {}
    degraded: dict[str, str] = dict(service.get("degraded", {}))
    if database != "ok":
        degraded["database"] = database
    return {
        "mqtt": service.get("mqtt", "unknown"),
        # ok only when every part is: database (answering and keeping up with the
        # journal), broker, every instrument; otherwise each part that is not, and why.
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "journal": service.get("journal", {}),
        "station": lab.settings.station,
        "ts": now,
        "time": iso(now),
        "time_scale": lab.clock.scale,
        "database": database,
        "instruments": {
            name: str(getattr(p, "status", None) or "unknown")
            for name, p in pollers_of(lab).items()
        },
        "active_runs": active_run_ids(lab),
    }


def _fallback_metrics(lab: Any, request: Request) -> str:
    lines = [
        "# HELP daq_bus_published_total Messages published on the in-process bus.",
        "# TYPE daq_bus_published_total counter",
        f"daq_bus_published_total {lab.bus.published}",
        "# HELP daq_bus_queue_depth Messages waiting per bus subscriber.",
        "# TYPE daq_bus_queue_depth gauge",
    ]
    for sub in lab.bus.subscriptions:
        lines.append(f'daq_bus_queue_depth{{subscriber="{sub.name}"}} {sub.depth()}')
    lines += [
        "# HELP daq_bus_dropped_total Messages dropped per bus subscriber (queue full).",
        "# TYPE daq_bus_dropped_total counter",
    ]
    for sub in lab.bus.subscriptions:
        lines.append(f'daq_bus_dropped_total{{subscriber="{sub.name}"}} {sub.dropped}')
    lines += [
        "# HELP daq_instrument_up 1 if the instrument answered its last poll.",
        "# TYPE daq_instrument_up gauge",
    ]
    for name, poller in pollers_of(lab).items():
        up = 1 if getattr(poller, "status", None) == "online" else 0
        lines.append(f'daq_instrument_up{{instrument="{name}"}} {up}')
    return "\n".join(lines) + "\n"


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
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, lab: LabDep) -> str:
    """Prometheus text: readings/s, queue depths, drops, broker, database, instruments."""
    render = None
    if importlib.util.find_spec("daq.metrics") is not None:
        service_metrics = importlib.import_module("daq.metrics")
        render = getattr(service_metrics, "render_prometheus", None) or getattr(
            service_metrics, "render", None
        )
    body = render(lab) if render is not None else _fallback_metrics(lab, request)
    if hasattr(body, "__await__"):
        body = await body
    return str(body) + api_metrics(request)
