"""`daq run` and `daq instruments` as an operator uses them: real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.test_crash import read_line_matching

DAQ = str(Path(sys.executable).with_name("daq"))


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DAQ_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
            "DAQ_EMBEDDED_MQTT_PORT": "0", "DAQ_TIME_SCALE": "600", **extra}


def test_daq_instruments_identifies_and_reads_the_simulated_press(tmp_path: Path) -> None:
    done = subprocess.run([DAQ, "instruments", "--json"], capture_output=True, text=True,
                          env=env(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    found = {item["name"]: item for item in json.loads(done.stdout)}
    press = found["press1"]
    assert all(item["health"] == "ok" for item in found.values())
    assert press["name"] == "press1" and press["health"] == "ok"
    assert "Lamination Press" in press["idn"]
    assert set(press["values"]) == {"temp_top", "temp_bottom", "pressure", "ram"}


def test_daq_instruments_reports_an_unreachable_instrument(tmp_path: Path) -> None:
    config = tmp_path / "daq.toml"
    config.write_text('[instruments.press9]\ndriver = "lamination_press"\n'
                      'resource = "TCPIP::127.0.0.1::1::SOCKET"\ntimeout_s = 0.5\n')
    done = subprocess.run([DAQ, "instruments", "--config", str(config)], capture_output=True,
                          text=True, env=env(tmp_path), timeout=60)
    assert done.returncode == 1
    assert "press9" in done.stdout and "offline" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("DAQ_MQTT_URL", "carrier-pigeon://x", "DAQ_MQTT_URL"),
    ("DAQ_DATABASE_URL", "oracle://nope", "oracle"),
])
def test_daq_run_refuses_bad_settings_without_a_traceback(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    done = subprocess.run([DAQ, "run", "--port", "0"], capture_output=True, text=True,
                          env=env(tmp_path, **{setting: value}), timeout=60)
    assert done.returncode != 0
    assert named in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_daq_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([DAQ, "run", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env(tmp_path))
    try:
        read_line_matching(proc, r"Log in at http://127\.0\.0\.1:\d+/", 30)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out and "Traceback" not in out


def test_daq_run_explains_a_taken_embedded_broker_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run([DAQ, "run", "--port", "0"], capture_output=True, text=True,
                              env=env(tmp_path, DAQ_EMBEDDED_MQTT_PORT=port), timeout=60)
    assert done.returncode != 0
    assert "embedded MQTT broker cannot listen" in done.stderr and "DAQ_MQTT_URL" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
