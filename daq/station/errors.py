"""Errors of the station's ownership of instruments, free of heavy imports so that the
CLI can name them without loading the database layer."""

from __future__ import annotations

import time
from dataclasses import dataclass


def iso_utc(epoch_s: float) -> str:
    """``2026-12-01T09:30:00Z`` for a wall-clock epoch (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


@dataclass(frozen=True)
class Holder:
    """Who holds a claim: station, process and how fresh its heartbeat is."""

    station: str
    instrument: str
    host: str
    pid: int
    instance: str
    since: float  # wall epoch s
    heartbeat: float  # wall epoch s


class InstrumentClaimed(Exception):
    """An instrument another station (or another process of this one) controls now."""

    def __init__(self, instrument: str, resource: str, holder: Holder, *, now: float) -> None:
        self.instrument = instrument
        self.resource = resource
        self.holder = holder
        self.station = holder.station
        self.host = holder.host
        self.pid = holder.pid
        self.since = holder.since
        self.heartbeat_age_s = max(0.0, now - holder.heartbeat)
        alias = "" if holder.instrument == instrument else f" as {holder.instrument}"
        super().__init__(
            f"{instrument} ({resource}) is held by station {holder.station}{alias} "
            f"(host {holder.host}, pid {holder.pid}) since {iso_utc(holder.since)}, "
            f"heartbeat {self.heartbeat_age_s:.0f} s ago"
        )
