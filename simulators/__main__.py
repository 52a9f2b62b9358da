"""``python -m simulators [press|peel|oven|laser|all] …``: run simulated instruments alone.

Prints one ``name resource`` line per simulator, then serves until Ctrl-C or SIGTERM.
Needs nothing from ``daq`` or ``drivers`` (the simulators share only the wire protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from simulators import registry
from simulators.framework import CommandError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    p.add_argument("names", nargs="*", default=["all"],
                   help=f"simulators to run: {', '.join(registry.names())} or all (default)")
    p.add_argument("--time-scale", type=float,
                   default=float(os.environ.get("DAQ_TIME_SCALE", "1") or 1),
                   help="simulated time runs this many times faster (env DAQ_TIME_SCALE)")
    p.add_argument("--time-origin", type=float,
                   default=float(os.environ["DAQ_TIME_ORIGIN"])
                   if os.environ.get("DAQ_TIME_ORIGIN") else None,
                   help="epoch seconds where simulated and real time agree (env DAQ_TIME_ORIGIN)")
    p.add_argument("--host", default="127.0.0.1", help="address TCP simulators listen on")
    p.add_argument("--port", action="append", default=[], metavar="[NAME=]PORT",
                   help="TCP port (0 = any free one); default 5025 press, 5026 laser")
    p.add_argument("--fault", action="append", default=[], metavar="[NAME:]FAULT[,ARG]",
                   help="inject a fault at start, e.g. door, stall,5, press:garble,3")
    p.add_argument("--link-dir", type=Path, default=None,
                   help="directory for the serial simulators' stable symlinks")
    return p


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        _run(registry.serve(
            args.names, time_scale=args.time_scale, time_origin=args.time_origin,
            host=args.host, port_args=args.port, faults=args.fault, link_dir=args.link_dir,
        ))
    except (KeyError, ValueError, CommandError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
