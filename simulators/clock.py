"""The simulators' accelerated clock (same formula as the service's, no shared code).

Simulated epoch seconds = origin + (wall − origin) × scale, so that a simulator and a
service started with the same origin and scale agree on the time.
"""

from __future__ import annotations

import time


class Clock:
    """Simulated time running ``scale`` times faster than real time since ``origin``."""

    def __init__(self, scale: float = 1.0, origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self.scale = float(scale)
        self._wall_base = time.time()
        self._mono_base = time.monotonic()
        self.origin = float(origin) if origin is not None else self._wall_base

    def now(self) -> float:
        """Simulated epoch seconds."""
        wall = self._wall_base + (time.monotonic() - self._mono_base)
        return self.origin + (wall - self.origin) * self.scale

    def set_scale(self, new_scale: float, origin: float | None = None) -> None:
        """Run at ``new_scale`` from now on without a jump in :meth:`now`.

        ``origin`` (when given) is the new origin chosen by whoever re-scales the service's
        clock at the same moment, so both stay exactly in step; otherwise it is computed
        here so that ``origin + (wall − origin) × scale`` keeps today's value."""
        if new_scale <= 0:
            raise ValueError(f"time scale must be > 0, got {new_scale}")
        if origin is None:
            wall = self._wall_base + (time.monotonic() - self._mono_base)
            sim_now = self.now()
            if abs(new_scale - 1.0) < 1e-9:
                if abs(sim_now - wall) > 1e-3:
                    raise ValueError("scale 1 cannot continue a clock ahead of the wall clock")
                origin = wall
            else:
                origin = (sim_now - wall * new_scale) / (1.0 - new_scale)
        self.origin = float(origin)
        self.scale = float(new_scale)

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self.scale
