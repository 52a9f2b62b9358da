"""A private Mosquitto for the benches, configured as ``deploy/mosquitto.conf`` is for
latency: ``set_tcp_nodelay true``.

Mosquitto leaves Nagle's algorithm on its client sockets unless told otherwise. A
subscriber's delayed ACK (40 ms on Linux) then holds the broker's next small messages:
in issue 16 that was the 40–50 ms tail of every sample → subscriber figure (p99 46 ms
with the machine's stock Mosquitto, 12 ms with ``set_tcp_nodelay``, same station, same
run length). The benches measure the station against a broker set up as a lab should set
it up; ``--mqtt mqtt://host:port`` measures any other.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CONFIG = """listener {port} 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 100000
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_mosquitto() -> Iterator[int]:
    """Run a Mosquitto of our own on a free port for the block; yields the port."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError("mosquitto is not installed (scripts/services installs it)")
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="lamina-bench-broker-"))
    conf = folder / "mosquitto.conf"
    conf.write_text(CONFIG.format(port=port))
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private mosquitto did not start ({conf})")
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def mqtt_url(choice: str, stack: contextlib.ExitStack) -> str:
    """``private`` → a private Mosquitto for the bench (kept open on ``stack``); any other
    value is used as it is (``mqtt://host:port`` or ``embedded``)."""
    if choice != "private":
        return choice
    return f"mqtt://127.0.0.1:{stack.enter_context(private_mosquitto())}"
