"""Event-loop stall monitor for the benches: the loop's longest stall, and what it was doing.

A callback on the loop stamps a heartbeat every ``tick_s``; a watchdog thread samples the
heartbeat every ``tick_s`` and, while the heartbeat is older than ``threshold_s``, records
the loop thread's Python stack (``sys._current_frames``) once per stall. A stall is the
time between two heartbeats minus the tick; the longest is what a reading published at
its start waits before any other callback runs.

    monitor = StallMonitor(asyncio.get_running_loop())
    monitor.start()
    ...
    monitor.stop()
    print(monitor.summary())
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field


@dataclass
class StallReport:
    """What the monitor saw: stall lengths and the stacks that were running in them."""

    stalls_s: list[float] = field(default_factory=list)
    stacks: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def longest_s(self) -> float:
        """The longest stall seen (0 if none)."""
        return max(self.stalls_s, default=0.0)

    def over(self, bound_s: float) -> int:
        """How many stalls exceeded ``bound_s``."""
        return sum(1 for s in self.stalls_s if s > bound_s)


def _short(filename: str) -> str:
    """The last two parts of a path (``mqtt/client.py``)."""
    return "/".join(filename.split("/")[-2:])


def _innermost(frame_stack: list[traceback.FrameSummary], depth: int) -> str:
    keep = [f for f in frame_stack if "/asyncio/" not in f.filename][-depth:]
    return " <- ".join(f"{f.name} ({_short(f.filename)}:{f.lineno})" for f in reversed(keep))


class StallMonitor:
    """Measures the loop's stalls from a heartbeat; samples the stack during long ones."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, tick_s: float = 0.001,
                 threshold_s: float = 0.005, depth: int = 4) -> None:
        self.loop = loop
        self.tick_s = tick_s
        self.threshold_s = threshold_s
        self.depth = depth
        self.report = StallReport()
        self._beat = time.perf_counter()
        self._loop_thread = threading.get_ident()
        self._running = False
        self._handle: asyncio.TimerHandle | None = None
        self._watchdog: threading.Thread | None = None

    def start(self) -> None:
        """Start the heartbeat (call on the loop's thread) and the watchdog."""
        self._loop_thread = threading.get_ident()
        self._running = True
        self._beat = time.perf_counter()
        self._handle = self.loop.call_later(self.tick_s, self._heartbeat)
        self._watchdog = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> StallReport:
        """Stop both; returns the report."""
        self._running = False
        if self._handle is not None:
            self._handle.cancel()
        if self._watchdog is not None:
            self._watchdog.join(1.0)
        return self.report

    def _heartbeat(self) -> None:
        now = time.perf_counter()
        gap = now - self._beat - self.tick_s
        if gap > self.threshold_s:
            self.report.stalls_s.append(gap)
        self._beat = now
        if self._running:
            self._handle = self.loop.call_later(self.tick_s, self._heartbeat)

    def _watch(self) -> None:
        sampled_beat = -1.0
        while self._running:
            time.sleep(self.tick_s)
            beat = self._beat
            if time.perf_counter() - beat > self.threshold_s and beat != sampled_beat:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    self.report.stacks[_innermost(stack, self.depth)] += 1
                sampled_beat = beat

    def summary(self, top: int = 8) -> str:
        """Longest stall, counts over 5/10/50 ms, and the most frequent stall stacks."""
        r = self.report
        lines = [f"event loop: longest stall {r.longest_s * 1e3:.1f} ms; stalls > 5 ms: "
                 f"{r.over(0.005)}, > 10 ms: {r.over(0.010)}, > 50 ms: {r.over(0.050)}"]
        for stack, n in r.stacks.most_common(top):
            lines.append(f"  {n:5d} × {stack}")
        return "\n".join(lines)
