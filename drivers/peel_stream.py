"""What a peel tester sends while it peels, as typed items, and the parsers of its lines.

``BEGIN,<id>,<width>,<speed>,<angle>`` → :class:`PeelBegin`; ``D,<mm>,<N>`` →
:class:`PeelPoint` (or runs of them, :class:`PeelPoints`, when parsed a chunk at a time);
``END,<reason>`` → :class:`PeelEnd`; ``ERR,<code>,<text>`` → :class:`PeelFault`; anything
that does not parse → :class:`GarbledLine` (counted and skipped by a capture, never raised).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

END_REASONS = frozenset({"COMPLETE", "STOPPED", "OVERLOAD"})
STREAM_PREFIXES = ("D,", "END,", "BEGIN,")


@dataclass(frozen=True, slots=True)
class PeelBegin:
    """The tester started a peel (by command or from its front panel)."""

    specimen_id: str | None  # None when the tester does not know what it holds
    width_mm: float
    speed_mm_per_min: float
    angle_deg: float


@dataclass(frozen=True, slots=True)
class PeelPoint:
    """One sample: crosshead travel and force on the load cell."""

    mm: float
    n: float


@dataclass(frozen=True, slots=True)
class PeelEnd:
    """The peel ended: ``COMPLETE``, ``STOPPED`` or ``OVERLOAD``."""

    reason: str


@dataclass(frozen=True, slots=True)
class PeelFault:
    """An ``ERR,<code>,<text>`` line sent during a peel."""

    code: int
    text: str


@dataclass(frozen=True, slots=True)
class GarbledLine:
    """A line that does not parse (noise on the line); the peel goes on."""

    text: str


@dataclass(frozen=True, slots=True)
class PeelPoints:
    """Consecutive samples that arrived together: travel (mm) and force (N), in order."""

    mm: list[float]
    n: list[float]


StreamItem = PeelBegin | PeelPoint | PeelEnd | PeelFault | GarbledLine
ChunkItem = PeelBegin | PeelPoints | PeelEnd | PeelFault | GarbledLine

# What a line from a noisy cable looks like: control characters or bytes ≥ 0x7F.
_GARBAGE = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f-\xff]")
# A chunk made only of lines with a D and two more fields.
_ALL_POINTS = re.compile(r"(?:D,[^,\n]*,[^,\n]*\n)+")


def parse_stream_line(line: str) -> StreamItem | None:
    """Parse one line of the peel stream; ``None`` for a stray ``OK``/blank line."""
    if line.startswith("D,"):
        parts = line.split(",")
        if len(parts) == 3:
            try:
                return PeelPoint(float(parts[1]), float(parts[2]))
            except ValueError:
                pass
        return GarbledLine(line)
    if line.startswith("END,"):
        reason = line[4:].strip()
        return PeelEnd(reason) if reason in END_REASONS else GarbledLine(line)
    if line.startswith("ERR,"):
        fault = parse_err(line)
        return fault if fault is not None else GarbledLine(line)
    if line.startswith("BEGIN,"):
        parts = line.split(",")
        if len(parts) == 5:
            try:
                ident = parts[1].strip()
                return PeelBegin(
                    None if ident in {"", "-"} else ident,
                    float(parts[2]),
                    float(parts[3]),
                    float(parts[4]),
                )
            except ValueError:
                pass
        return GarbledLine(line)
    if line.strip() in {"", "OK"}:
        return None
    return GarbledLine(line)


def parse_err(line: str) -> PeelFault | None:
    """``ERR,<code>,<text>`` as a fault, or ``None`` if it is not one."""
    parts = line.split(",", 2)
    if len(parts) != 3 or parts[0] != "ERR":
        return None
    try:
        return PeelFault(int(parts[1]), parts[2])
    except ValueError:
        return None


def _all_points(text: str) -> PeelPoints | None:
    """The chunk as points if every line is a well-formed ``D,<mm>,<N>`` (the hot path:
    one ``split`` and ``map(float)`` for the whole chunk), else ``None``."""
    if _ALL_POINTS.fullmatch(text) is None:
        return None
    fields = text.replace("\nD,", ",").split(",")
    fields[-1] = fields[-1].rstrip("\n")
    try:
        values = list(map(float, fields[1:]))
    except ValueError:
        return None
    return PeelPoints(values[0::2], values[1::2])


def parse_chunk(raw_lines: list[bytes]) -> list[ChunkItem]:
    """Parse lines received together; runs of ``D`` lines become one :class:`PeelPoints`.

    The common case — clean ASCII — is checked and decoded once for the whole chunk, so
    a 100 Hz stream costs a split and two ``float()`` per line.
    """
    blob = b"".join(raw_lines)
    noisy: set[int] = set()
    if _GARBAGE.search(blob) is None:
        text = blob.decode("ascii")
        points = _all_points(text)
        if points is not None:
            return [points]
        lines = text.split("\n")
        lines.pop()  # after the last terminator
    else:
        lines = []
        for raw in raw_lines:
            stripped = raw.rstrip(b"\r\n")
            if _GARBAGE.search(stripped) is not None:
                noisy.add(len(lines))
            lines.append(stripped.decode("ascii", errors="backslashreplace"))
    items: list[ChunkItem] = []
    mm: list[float] = []
    n: list[float] = []
    for index, line in enumerate(lines):
        if noisy and index in noisy:
            if mm:
                items.append(PeelPoints(mm, n))
                mm, n = [], []
            items.append(GarbledLine(line))
            continue
        if line.startswith("D,"):
            parts = line.split(",")
            if len(parts) == 3:
                try:
                    x, f = float(parts[1]), float(parts[2])
                except ValueError:
                    pass
                else:
                    mm.append(x)
                    n.append(f)
                    continue
        if mm:
            items.append(PeelPoints(mm, n))
            mm, n = [], []
        item = parse_stream_line(line)
        if item is None or isinstance(item, PeelPoint):
            continue
        items.append(item)
    if mm:
        items.append(PeelPoints(mm, n))
    return items
