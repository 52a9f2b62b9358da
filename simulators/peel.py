"""Simulated 90° peel tester (JIS C 6481) on a serial line, with a physical force curve.

Protocol (``\\n``-terminated ASCII; every error is an ``ERR,<code>,<text>`` line):

=====================================  ==========================================
``ID?``                                 ``LAMINA,PEEL-90,SIM0001,1.0``
``WIDTH <mm>`` (0.5–25)                 ``OK`` — strip width
``SPEED <mm/min>`` (1–500)              ``OK`` — crosshead speed
``ANGLE <deg>`` (45–180)                ``OK``
``LENGTH <mm>`` (5–300)                 ``OK`` — travel of one peel (default 50)
``ZERO``                                ``OK`` — tare the load cell
``LOAD <specimen-id>``                  ``OK`` or ``ERR,301,no film: …``
``LOAD?``                               the loaded specimen id (``NONE``)
``START``                               ``OK``, then ``BEGIN,<id>,<width>,<speed>,<angle>``,
                                        ``D,<mm>,<N>`` at 100 Hz of simulated time,
                                        ``END,COMPLETE|STOPPED|OVERLOAD``
``STOP``                                ``END,STOPPED`` while peeling, else ``OK``
``STAT?``                               ``IDLE`` or ``PEELING,<mm>``
=====================================  ==========================================

Simulation only: ``SIM:SAMPLE <id>,<material-key>,<thickness_um>[,<aging_h>]`` says
which material (and aging hours at 150 °C) a specimen or sample lot id is made of;
without it ``LOAD`` takes the material from the id's prefix (``EX1-…``). The station's
simulator wiring sends it through the side door (``simulators.door``), not the serial line.
``SIM:PANEL START`` / ``SIM:PANEL STOP`` press the front-panel buttons (the tester
streams with no command). Faults (``SIM:FAULT <name>[,<arg>]``): ``garble[,n]`` corrupts
the next n output lines (stream lines included), ``stall[,s]`` freezes the tester,
``drop`` pulls the cable (the peel in progress is lost), ``overload`` drives the load
cell past its capacity so the tester ends the peel with ``END,OVERLOAD``.

The force curve: a second-order rise from zero with a small overshoot over the first
few millimetres, a steady region with stick-slip (a saw-tooth of ±6 % plus ±2 % noise),
and a fall to zero over the last 3 mm as the strip runs out. Its mean steady force is
Table 1's peel strength for the material and aging state × width in cm, plus a
specimen-to-specimen scatter (σ = 0.25 N/cm) seeded by the specimen id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from simulators.clock import Clock
from simulators.door import SimulationDoor
from simulators.framework import CommandError, SimInstrument, command, garble, number
from simulators.materials import MATERIALS, Material, material_for_id, peel_strength_n_per_cm
from simulators.servers import PtyServer

IDENTITY = "LAMINA,PEEL-90,SIM0001,1.0"
SAMPLE_RATE_HZ = 100.0
LOAD_CELL_CAPACITY_N = 50.0
SCATTER_N_PER_CM = 0.25
END_TRANSIENT_MM = 3.0
UNASSIGNED = "-"


@dataclass(frozen=True)
class SpecimenModel:
    """What the tester's clamp holds: its id, material and aging state."""

    specimen_id: str
    material: Material
    aging_hours: float = 0.0


def specimen_rng(specimen_id: str) -> random.Random:
    """A random source seeded by the specimen id, so a specimen always peels the same."""
    return random.Random(zlib.crc32(specimen_id.encode("utf-8")))


def mean_force_n(specimen: SpecimenModel, width_mm: float) -> float:
    """The specimen's true mean steady force: Table 1 × width in cm, plus its scatter."""
    nominal = peel_strength_n_per_cm(specimen.material, specimen.aging_hours) or 0.0
    scatter = specimen_rng("scatter:" + specimen.specimen_id).gauss(0.0, SCATTER_N_PER_CM)
    return max(0.05, nominal + scatter) * width_mm / 10.0


class ForceCurve:
    """Force on the load cell against travel for one specimen (stateful: stick-slip)."""

    def __init__(self, mean_n: float, length_mm: float, rng: random.Random) -> None:
        self.mean_n = mean_n
        self.length_mm = length_mm
        self.rng = rng
        self._tooth_start_mm = 0.0
        self._tooth_len_mm = self._new_tooth()
        self._tooth_amp = self._new_amp()

    def _new_tooth(self) -> float:
        return self.rng.uniform(0.4, 1.2)

    def _new_amp(self) -> float:
        return self.rng.uniform(0.04, 0.08)

    def force_n(self, x_mm: float) -> float:
        """Force at travel ``x_mm`` (call with increasing ``x_mm``)."""
        # Start: under-damped second-order step response (≈7 % overshoot near 1.7 mm).
        rise = 1.0 - math.exp(-1.5 * x_mm) * math.cos(1.8 * x_mm)
        # End: the bond front reaches the end of the strip and the force falls away.
        left = self.length_mm - x_mm
        fall = 1.0 if left >= END_TRANSIENT_MM else max(0.0, left / END_TRANSIENT_MM) ** 2
        # Stick-slip: force builds linearly, then the front jumps (a zero-mean saw-tooth).
        while x_mm - self._tooth_start_mm >= self._tooth_len_mm:
            self._tooth_start_mm += self._tooth_len_mm
            self._tooth_len_mm = self._new_tooth()
            self._tooth_amp = self._new_amp()
        phase = (x_mm - self._tooth_start_mm) / self._tooth_len_mm
        stick_slip = self._tooth_amp * (2.0 * phase - 1.0)
        noise = self.rng.gauss(0.0, 0.02)
        return self.mean_n * rise * fall * (1.0 + stick_slip + noise)


class PeelTester(SimInstrument):
    """The simulated peel tester (see the module docstring for its protocol)."""

    error_style = "line"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.width_mm = 3.0
        self.speed_mm_per_min = 50.0
        self.angle_deg = 90.0
        self.length_mm = 50.0
        self.tare_n = 0.04  # the load cell reads this much with nothing on it until ZERO
        self.samples: dict[str, tuple[str, float, float]] = {}  # id → key, µm, aging h
        self.loaded: SpecimenModel | None = None
        self.peeling = False
        self.overload_pending = False
        self._curve: ForceCurve | None = None
        self._t_s = 0.0  # simulated seconds since the peel started
        self._n_sent = 0  # samples sent in this peel
        self.peels_started = 0

    # -- settings --------------------------------------------------------------------------
    def _idle_only(self) -> None:
        if self.peeling:
            raise CommandError(-221, "Settings conflict; peel in progress")

    @command(r"ID\?")
    def _id(self) -> str:
        return IDENTITY

    @command(r"WIDTH\s+(\S+)")
    def _width(self, text: str) -> str:
        self._idle_only()
        self.width_mm = number(text, 0.5, 25.0)
        return "OK"

    @command(r"SPEED\s+(\S+)")
    def _speed(self, text: str) -> str:
        self._idle_only()
        self.speed_mm_per_min = number(text, 1.0, 500.0)
        return "OK"

    @command(r"ANGLE\s+(\S+)")
    def _angle(self, text: str) -> str:
        self._idle_only()
        self.angle_deg = number(text, 45.0, 180.0)
        return "OK"

    @command(r"LENGTH\s+(\S+)")
    def _length(self, text: str) -> str:
        self._idle_only()
        self.length_mm = number(text, 5.0, 300.0)
        return "OK"

    @command(r"ZERO")
    def _zero(self) -> str:
        self._idle_only()
        self.tare_n = 0.0
        return "OK"

    # -- specimens -------------------------------------------------------------------------
    @command(r"SIM:SAMPLE\s+([^,\s]+)\s*,\s*([A-Za-z0-9]+)\s*,\s*([^,\s]+)(?:\s*,\s*([^,\s]+))?")
    def _sim_sample(self, ident: str, key: str, thickness: str, aging: str | None) -> str:
        if key.upper() not in MATERIALS:
            raise CommandError(302, f"unknown material {key}")
        aging_h = number(aging, 0.0, 100_000.0) if aging else 0.0
        self.samples[ident] = (key.upper(), number(thickness, 0.0, 1000.0), aging_h)
        return "OK"

    def resolve(self, specimen_id: str) -> SpecimenModel:
        """The material of a specimen id: registered id, registered lot prefix, id prefix."""
        entry = self.samples.get(specimen_id)
        if entry is None:
            prefixes = [i for i in self.samples if specimen_id.startswith(i)]
            if prefixes:
                entry = self.samples[max(prefixes, key=len)]
        if entry is not None:
            material, aging_h = MATERIALS[entry[0]], entry[2]
        else:
            found = material_for_id(specimen_id)
            if found is None:
                raise CommandError(303, f"unknown specimen {specimen_id}: no material known")
            material, aging_h = found, 0.0
        if not material.film_forms:
            raise CommandError(301, f"{material.note} ({material.name}): no specimen possible")
        return SpecimenModel(specimen_id, material, aging_h)

    @command(r"LOAD\s+(\S+)")
    def _load(self, specimen_id: str) -> str:
        self._idle_only()
        self.loaded = self.resolve(specimen_id)
        return "OK"

    @command(r"LOAD\?")
    def _load_q(self) -> str:
        return self.loaded.specimen_id if self.loaded else "NONE"

    # -- the peel --------------------------------------------------------------------------
    @command(r"START")
    def _start(self) -> str:
        self._idle_only()
        if self.loaded is None:
            raise CommandError(-221, "Settings conflict; no specimen loaded")
        self._begin()
        return "OK"

    @command(r"STOP")
    def _stop(self) -> str | None:
        if self.peeling:
            self._end("STOPPED")
            return None
        return "OK"

    @command(r"STAT\?")
    def _stat(self) -> str:
        if self.peeling:
            return f"PEELING,{self._position_mm(self._t_s):.3f}"
        return "IDLE"

    @command(r"SIM:PANEL\s+(START|STOP)")
    def _panel(self, button: str) -> None:
        if button.upper() == "STOP":
            if self.peeling:
                self._end("STOPPED")
            return
        if self.peeling:
            return
        if self.loaded is None:
            # Whatever is clamped: an unidentified Example 1 strip.
            self.loaded = SpecimenModel(UNASSIGNED, MATERIALS["EX1"])
        self._begin(reply_first=False)

    def _begin(self, reply_first: bool = True) -> None:
        assert self.loaded is not None
        rng = specimen_rng(f"curve:{self.loaded.specimen_id}:{self.peels_started}")
        self._curve = ForceCurve(mean_force_n(self.loaded, self.width_mm), self.length_mm, rng)
        self.peeling = True
        self.peels_started += 1
        self._t_s = 0.0
        self._n_sent = 0
        header = (
            f"BEGIN,{self.loaded.specimen_id},{self.width_mm:g},"
            f"{self.speed_mm_per_min:g},{self.angle_deg:g}"
        )
        if reply_first:
            # The OK reply goes out after this handler returns; the header must follow it.
            asyncio.get_running_loop().call_soon(self._emit_line, header)
        else:
            self._emit_line(header)

    def _end(self, reason: str) -> None:
        self.peeling = False
        self._curve = None
        self.overload_pending = False
        self._emit_line(f"END,{reason}")

    def _position_mm(self, t_s: float) -> float:
        return t_s * self.speed_mm_per_min / 60.0

    def _emit_line(self, line: str) -> None:
        if self.faults.garble_next > 0:
            self.faults.garble_next -= 1
            line = garble(line)
        self.emit(line)

    def advance(self, dt: float) -> None:
        if not self.peeling or self._curve is None or self.faults.stalled:
            return  # a stalled tester sends nothing and its crosshead waits
        self._t_s += dt
        curve = self._curve
        due = int(self._t_s * SAMPLE_RATE_HZ)
        while self._n_sent < due:
            self._n_sent += 1
            x_mm = self._position_mm(self._n_sent / SAMPLE_RATE_HZ)
            if x_mm >= self.length_mm:
                self._end("COMPLETE")
                return
            force = curve.force_n(x_mm) + self.tare_n
            if self.overload_pending:
                force = LOAD_CELL_CAPACITY_N * 1.02
            if force > LOAD_CELL_CAPACITY_N:
                self._emit_line(f"ERR,210,load cell overload ({force:.1f} N)")
                self._end("OVERLOAD")
                return
            self._emit_line(f"D,{x_mm:.3f},{force:.4f}")

    # -- faults ----------------------------------------------------------------------------
    def inject(self, name: str, arg: str | None = None) -> None:
        super().inject(name, arg)
        if name.strip().lower() == "drop" and self.peeling:
            # The cable is pulled: the operator stops the machine; the data is lost.
            self.peeling = False
            self._curve = None

    def on_fault(self, name: str, arg: str | None) -> bool:
        if name == "overload":
            self.overload_pending = True
            return True
        return False

    def clear_faults(self) -> None:
        super().clear_faults()
        self.overload_pending = False


async def serve(link: str | None, time_scale: float, time_origin: float | None) -> None:
    """Run the simulator on a pty until cancelled, printing its resource string."""
    tester = PeelTester(Clock(time_scale, time_origin))
    server = PtyServer(tester, link=link)
    print(await server.start(), flush=True)
    # The side door (simulation commands), announced beside the link: <link>.door.
    door = SimulationDoor(tester, beside=Path(link) if link else None)
    print(f"# side door {await door.start()}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await door.stop()
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m simulators.peel [--link PATH] [--time-scale N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", help="stable symlink to the pty, e.g. /tmp/peel1")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--time-origin", type=float, default=None)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.link, args.time_scale, args.time_origin))


if __name__ == "__main__":
    main()
