"""What the station refuses, as typed errors the API and the CLI turn into answers.

Free of heavy imports so that the CLI can name them without loading the database layer:
the engine's refusals (:class:`InstrumentBusy` naming the :class:`RunHolder`, unknown
kinds, bad references) and the ownership's (:class:`InstrumentClaimed` naming the
:class:`ClaimHolder`, another station or process that controls the instrument)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from daq.clock import iso


class StationError(Exception):
    """A request the station cannot carry out (unknown run, instrument busy or missing)."""


@dataclass(frozen=True)
class RunHolder:
    """Who holds an instrument: the run, its kind, its operator, since when."""

    run_id: str
    kind: str
    operator: str | None
    since_wall: float  # real epoch seconds
    since_ts: float  # simulated epoch seconds

    def describe(self) -> str:
        """``press_cycle run press-3f… of alice since 2026-…``"""
        who = f" of {self.operator}" if self.operator else ""
        return f"{self.kind} run {self.run_id}{who} since {iso(self.since_wall)}"


class InstrumentBusy(StationError):
    """The instrument is held by another live run; names the holder."""

    def __init__(self, instrument: str, holder: RunHolder) -> None:
        self.instrument = instrument
        self.holder = holder
        super().__init__(
            f"{instrument} is busy with {holder.describe()}; abort it first or wait")


class InstrumentNotReady(StationError):
    """The instrument cannot start a run as it stands (a press latched SAFE, its
    emergency stop pressed): refused before a run exists, saying what to do."""


class UnknownKind(StationError):
    """No procedure of that kind; lists the known ones."""

    def __init__(self, kind: str, known: list[str]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(f"unknown run kind {kind!r}; known kinds: {', '.join(known)}")


class NoSuchInstrument(StationError):
    """The station has no instrument of that name or kind."""


class RunNotLive(StationError):
    """The run is not live in this station (ended, unknown, or another station's)."""


class Refused(StationError):
    """The parameters are well-formed but the lab refuses them (unknown specimen or
    sample, a specimen already in an oven): ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class NotOnRecord(Refused):
    """A named record the parameters point at does not exist (a stored recipe)."""


# --- ownership: claims in the shared database ---

def iso_utc(epoch_s: float) -> str:
    """``2026-12-01T09:30:00Z`` for a wall-clock epoch (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


@dataclass(frozen=True)
class ClaimHolder:
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

    def __init__(self, instrument: str, resource: str, holder: ClaimHolder, *, now: float) -> None:
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
