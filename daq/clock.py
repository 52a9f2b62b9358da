"""Simulated time shared by every part of the service.

Time runs ``scale`` times faster than the wall clock from a fixed ``origin`` (epoch
seconds). Every process that uses the same origin and scale (the service, the
simulators it starts, a restarted service) agrees on the simulated time, which is what
lets an aging run back-fill a gap from the oven's own log after a restart. At scale 1
simulated time is wall-clock time.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime


class SimClock:
    """A clock whose time runs ``scale`` times faster than real time since ``origin``."""

    def __init__(self, scale: float = 1.0, origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self.scale = float(scale)
        self._wall_base = time.time()
        self._mono_base = time.monotonic()
        self.origin = float(origin) if origin is not None else self._wall_base

    def wall(self) -> float:
        """Real epoch seconds, immune to wall-clock jumps after construction."""
        return self._wall_base + (time.monotonic() - self._mono_base)

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.origin + (self.wall() - self.origin) * self.scale

    def set_scale(self, new_scale: float) -> None:
        """Run at ``new_scale`` from now on, keeping :meth:`now` continuous.

        The origin moves so that ``origin + (wall − origin) × scale`` still holds (and
        :meth:`env` still describes this clock to a child process). Scale 1 cannot carry
        an accumulated lead over the wall clock in that formula, so it is refused once
        simulated time has moved away from wall time."""
        if new_scale <= 0:
            raise ValueError(f"time scale must be > 0, got {new_scale}")
        self.origin = continuous_origin(self.now(), self.wall(), float(new_scale))
        self.scale = float(new_scale)

    def now_datetime(self) -> datetime:
        """Simulated time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def to_real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self.scale

    def to_sim(self, real_seconds: float) -> float:
        """Simulated seconds that pass in ``real_seconds`` of real time."""
        return real_seconds * self.scale

    async def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, sim_seconds) / self.scale)

    async def sleep_until(self, sim_epoch: float) -> None:
        """Sleep until the simulated time reaches ``sim_epoch``."""
        await self.sleep(sim_epoch - self.now())

    def env(self) -> dict[str, str]:
        """Environment variables that give a child process the same clock."""
        return {"DAQ_TIME_SCALE": repr(self.scale), "DAQ_TIME_ORIGIN": repr(self.origin)}


def continuous_origin(sim_now: float, wall_now: float, scale: float) -> float:
    """The origin at which ``origin + (wall_now − origin) × scale == sim_now``.

    Used to re-scale a running clock (or to rebuild one after a restart) without a jump
    in simulated time; shared with ``simulators.clock`` through the same formula."""
    if abs(scale - 1.0) < 1e-9:
        if abs(sim_now - wall_now) > 1e-3:
            raise ValueError("scale 1 cannot continue a clock that runs ahead of the wall clock")
        return wall_now
    return (sim_now - wall_now * scale) / (1.0 - scale)


def iso(ts: float) -> str:
    """UTC ISO-8601 text of an epoch time, millisecond precision."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def clock_from_env() -> SimClock:
    """The clock described by ``DAQ_TIME_SCALE`` and ``DAQ_TIME_ORIGIN`` (defaults 1, now)."""
    scale = float(os.environ.get("DAQ_TIME_SCALE", "1") or 1)
    origin_text = os.environ.get("DAQ_TIME_ORIGIN")
    origin = float(origin_text) if origin_text else None
    return SimClock(scale=scale, origin=origin)
