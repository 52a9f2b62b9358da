"""Queries per second through each way of talking to a SOCKET instrument, on 1 and on 10
connections, and the ratios against the foundation issue's targets.

    .venv/bin/python bench/transport.py                 # bare echo server, uvloop
    .venv/bin/python bench/transport.py --server press  # the press simulator
    .venv/bin/python bench/transport.py --seconds 1     # shorter run

The server runs in its own process so that it does not share the client's core. Methods:
our transport (``drivers.transport``), raw asyncio streams (write + readuntil, no timeout,
no lock: the floor of what asyncio can do), pyvisa-py called directly (blocking; on 10
connections it queries them in turn), pyvisa-py through ``asyncio.to_thread`` (one task
per connection), and PyMeasure's ``Instrument.ask`` over its VISAAdapter with pyvisa-py
(``@py``; 10 connections in turn, as a PyMeasure script does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.transport import make_transport  # noqa: E402
from drivers.transport.loop import loop_factory  # noqa: E402

QUERY = "*IDN?"


class Figure(NamedTuple):
    """Queries per second (wall clock) and client CPU time per query (all threads)."""

    qps: float
    cpu_us: float


def _figure(count: int, wall0: float, cpu0: float) -> Figure:
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Figure(count / wall, cpu / count * 1e6)

ECHO_SERVER = r'''
import asyncio, sys
REPLY = b"Lamina Instruments,HP-250 Lamination Press (simulated),SIM-0001,1.0\n"
DELAY_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        import socket
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        out = b"".join(REPLY for line in lines if line.rstrip().endswith(b"?"))
        if out and DELAY_S:
            asyncio.get_running_loop().call_later(DELAY_S, self.t.write, out)
        elif out:
            self.t.write(out)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(f"echo TCPIP::127.0.0.1::{server.sockets[0].getsockname()[1]}::SOCKET", flush=True)
    await asyncio.Event().wait()
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
'''


def start_server(kind: str, delay_s: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    """Start the server process; return it and the resource string it prints."""
    if kind == "echo":
        argv = [sys.executable, "-c", ECHO_SERVER, repr(delay_s)]
    else:
        argv = [sys.executable, "-m", "simulators", "press", "--port", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line[1]


def host_port(resource: str) -> tuple[str, int]:
    parts = resource.split("::")
    return parts[1], int(parts[2])


# -- async methods: n tasks, each querying its own connection for `seconds` -------------
async def _timed_tasks(workers: list[Callable[[], Awaitable[None]]], seconds: float) -> Figure:
    count = 0
    stop_at = 0.0

    async def run(work: Callable[[], Awaitable[None]]) -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            await work()
            count += 1

    for work in workers:  # warm-up round
        await work()
    start, cpu0 = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    await asyncio.gather(*(run(w) for w in workers))
    return _figure(count, start, cpu0)


async def ours(resource: str, n: int, seconds: float) -> Figure:
    links = [make_transport(resource, timeout=2.0) for _ in range(n)]
    for link in links:
        await link.open()
    try:
        workers = [lambda link=link: link.query(QUERY) for link in links]
        return await _timed_tasks(workers, seconds)  # type: ignore[arg-type]
    finally:
        for link in links:
            await link.close()


async def raw_asyncio(resource: str, n: int, seconds: float) -> Figure:
    host, port = host_port(resource)
    pairs = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pairs.append((reader, writer))
    line = QUERY.encode() + b"\n"

    def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Callable[[], Any]:
        async def query() -> None:
            writer.write(line)
            await reader.readuntil(b"\n")
        return query

    try:
        return await _timed_tasks([worker(r, w) for r, w in pairs], seconds)
    finally:
        for _, writer in pairs:
            writer.close()


def _open_visa(resource: str, n: int) -> tuple[Any, list[Any]]:
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    insts = []
    for _ in range(n):
        inst = rm.open_resource(resource, read_termination="\n", write_termination="\n")
        inst.timeout = 2000
        insts.append(inst)
    return rm, insts


async def pyvisa_to_thread(resource: str, n: int, seconds: float) -> Figure:
    rm, insts = _open_visa(resource, n)
    try:
        workers = [lambda inst=inst: asyncio.to_thread(inst.query, QUERY) for inst in insts]
        return await _timed_tasks(workers, seconds)
    finally:
        for inst in insts:
            inst.close()
        rm.close()


# -- blocking methods: n connections queried in turn ---------------------------------------
def _timed_in_turn(asks: list[Callable[[], Any]], seconds: float) -> Figure:
    for ask in asks:
        ask()
    count = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    while time.perf_counter() < stop_at:
        for ask in asks:
            ask()
        count += len(asks)
    return _figure(count, start, cpu0)


def pyvisa_direct(resource: str, n: int, seconds: float) -> Figure:
    rm, insts = _open_visa(resource, n)
    try:
        return _timed_in_turn([lambda inst=inst: inst.query(QUERY) for inst in insts], seconds)
    finally:
        for inst in insts:
            inst.close()
        rm.close()


def pymeasure_ask(resource: str, n: int, seconds: float) -> Figure:
    import logging

    from pymeasure.instruments import Instrument

    logging.getLogger("pymeasure").setLevel(logging.ERROR)
    insts = [
        Instrument(resource, f"press{i}", includeSCPI=False, visa_library="@py",
                   read_termination="\n", write_termination="\n", timeout=2000)
        for i in range(n)
    ]
    try:
        return _timed_in_turn([lambda inst=inst: inst.ask(QUERY) for inst in insts], seconds)
    finally:
        for inst in insts:
            inst.adapter.close()


AsyncMethod = Callable[[str, int, float], Awaitable[Figure]]


def measure_async(method: AsyncMethod, resource: str, n: int, seconds: float,
                  use_uvloop: bool) -> Figure:
    factory = loop_factory() if use_uvloop else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(method(resource, n, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["echo", "press"], default="echo")
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=4,
                        help="measure every figure this many times, interleaved; keep the best")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=1.0,
                        help="also compare 10 instruments that each take this long to answer "
                             "(0: skip)")
    args = parser.parse_args()
    proc, resource = start_server(args.server)
    n_many, secs = args.connections, args.seconds
    loop = "uvloop" if loop_factory() is not None else "asyncio (uvloop not installed)"
    print(f"server: {args.server} at {resource} (own process); client loop: {loop}; "
          f"best of {args.rounds} × {secs:g} s per figure; CPUs: {os.cpu_count()}")
    results: dict[str, dict[int, float]] = {}
    cpu: dict[str, dict[int, float]] = {}
    rows: list[tuple[str, Callable[[int], Figure]]] = [
        ("our transport", lambda n: measure_async(ours, resource, n, secs, True)),
        ("raw asyncio streams", lambda n: measure_async(raw_asyncio, resource, n, secs, True)),
        ("our transport, plain asyncio loop",
         lambda n: measure_async(ours, resource, n, secs, False)),
        ("raw asyncio streams, plain asyncio loop",
         lambda n: measure_async(raw_asyncio, resource, n, secs, False)),
        ("pyvisa-py direct (in turn)", lambda n: pyvisa_direct(resource, n, secs)),
        ("pyvisa-py via asyncio.to_thread",
         lambda n: measure_async(pyvisa_to_thread, resource, n, secs, True)),
        ("PyMeasure Instrument.ask (in turn)", lambda n: pymeasure_ask(resource, n, secs)),
    ]
    try:
        # Best of interleaved rounds (as timeit does): the machine is shared, and a slow
        # round measures the neighbours, not the method.
        for _ in range(args.rounds):
            for name, fn in rows:
                cell = results.setdefault(name, {1: 0.0, n_many: 0.0})
                cpu_cell = cpu.setdefault(name, {1: float("inf"), n_many: float("inf")})
                for n in (1, n_many):
                    figure = fn(n)
                    cell[n] = max(cell[n], figure.qps)
                    cpu_cell[n] = min(cpu_cell[n], figure.cpu_us)
        print(f"\n{'method':<42}{'1 conn q/s':>12}{f'{n_many} conn q/s':>14}"
              f"{'client CPU µs/query (1 / ' + str(n_many) + ')':>34}")
        for name, _ in rows:
            print(f"{name:<42}{results[name][1]:>12,.0f}{results[name][n_many]:>14,.0f}"
                  f"{cpu[name][1]:>22.1f} / {cpu[name][n_many]:.1f}")
    finally:
        proc.terminate()
        proc.wait(5)

    ours_r, raw_r = results["our transport"], results["raw asyncio streams"]
    pym = results["PyMeasure Instrument.ask (in turn)"]
    checks = [
        ("1 connection: ours / raw asyncio", ours_r[1] / raw_r[1], 0.8),
        (f"{n_many} connections: ours / raw asyncio", ours_r[n_many] / raw_r[n_many], 0.7),
        (f"{n_many} connections: ours / PyMeasure", ours_r[n_many] / pym[n_many], 5.0),
    ]
    print(f"\n{'ratio':<42}{'measured':>12}{'target':>10}")
    for label, ratio, target in checks:
        verdict = "ok" if ratio >= target else "MISSED"
        print(f"{label:<42}{ratio:>12.2f}{f'≥ {target:g}':>10}  {verdict}")
    plain = results["our transport, plain asyncio loop"]
    print(f"\nuvloop over plain asyncio (our transport): "
          f"{ours_r[1] / plain[1]:.2f}× on 1, {ours_r[n_many] / plain[n_many]:.2f}× on {n_many}")
    thread = results["pyvisa-py via asyncio.to_thread"]
    print(f"ours over pyvisa-py via to_thread: {ours_r[1] / thread[1]:.1f}× on 1, "
          f"{ours_r[n_many] / thread[n_many]:.1f}× on {n_many}")
    if args.latency_ms > 0:
        with_latency(args.latency_ms, n_many, secs, args.rounds)


def with_latency(latency_ms: float, n: int, secs: float, rounds: int) -> None:
    """The same 10-instrument comparison when each instrument takes ``latency_ms`` to answer
    (real instruments take 0.5–10 ms): the case concurrency is for."""
    proc, resource = start_server("echo", latency_ms / 1000)
    best = {"ours": 0.0, "pymeasure": 0.0}
    try:
        for _ in range(rounds):
            best["ours"] = max(best["ours"],
                               measure_async(ours, resource, n, secs, True).qps)
            best["pymeasure"] = max(best["pymeasure"], pymeasure_ask(resource, n, secs).qps)
    finally:
        proc.terminate()
        proc.wait(5)
    ratio = best["ours"] / best["pymeasure"]
    print(f"\nwith {latency_ms:g} ms instrument response time, {n} instruments: "
          f"ours {best['ours']:,.0f} q/s, PyMeasure in turn {best['pymeasure']:,.0f} q/s, "
          f"ratio {ratio:.1f} (target ≥ 5: {'ok' if ratio >= 5 else 'MISSED'})")


if __name__ == "__main__":
    main()
