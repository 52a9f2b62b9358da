"""Every line of README.md's command-line block runs as printed, in its order, from a
second shell beside a running `daq run` (the simulators, SQLite in ./lamina.db of the
same directory, Mosquitto), as a new user would type them after `scripts/run`.

A line says how it ends in its comment: ``(exit N)`` for a refusal, ``until Ctrl-C`` for
a command that serves until stopped; every other line must exit 0. No line may print a
traceback or fall back to an in-process station (each goes through the one running).
The one liberty taken: ``campaigns/table1.toml`` in the test's directory is the shipped
file with the faster clocks the campaign tests use, one specimen per condition and 100 h
of aging (what the whole file reproduces is the campaign tests' to check; here only that
the commands run as printed, on 35 steps instead of 67).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.campaign.conftest import faster_campaign
from tests.cli.conftest import DAQ, clear_station_retained, daq_run
from tests.conftest import need_service

README = Path(__file__).resolve().parents[2] / "README.md"
#: The station's clock: the 20-minute dwell in 1 s, a peel's 60 mm in 0.1 s.
SCALE = 1200.0
#: Hang guard per line only (the campaign, the longest, takes about a minute).
LINE_GUARD_S = 300.0

pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Line:
    """One command of the README's block and how it should end."""

    command: str
    comment: str

    @property
    def exit_code(self) -> int:
        found = re.search(r"\(exit (\d+)\)", self.comment)
        return int(found.group(1)) if found else 0

    @property
    def serves(self) -> bool:
        return "until Ctrl-C" in self.comment


def readme_lines() -> list[Line]:
    """The commands of the fenced block under "### Command line", in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Command line", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = []
    for raw in block.splitlines():
        if not raw.strip():
            continue
        command, _, comment = raw.partition("  #")
        lines.append(Line(command.strip(), comment.strip()))
    return lines


def test_the_block_is_found_and_every_line_is_a_daq_command() -> None:
    lines = readme_lines()
    assert len(lines) >= 15
    assert all(shlex.split(line.command)[0] == "daq" for line in lines), lines
    assert [line.command for line in lines if line.exit_code] == ["daq press start --temp 250"]


@dataclass
class Shell:
    """The second shell: its directory, environment and the admin's password."""

    cwd: Path
    env: dict[str, str]
    admin_password: str


@pytest.fixture
async def shell(tmp_path: Path) -> AsyncIterator[Shell]:
    """`daq run` on its defaults in ``tmp_path`` (SQLite ./lamina.db), on Mosquitto under
    its own prefix, a free port; and the environment of a shell beside it."""
    need_service("127.0.0.1", 1883, "Mosquitto")
    prefix = f"lamina/readme-{secrets.token_hex(4)}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("DAQ_")}
    base["PATH"] = f"{Path(DAQ).parent}{os.pathsep}{base.get('PATH', '')}"
    station_env = {**base, "DAQ_MQTT_URL": "mqtt://127.0.0.1:1883", "DAQ_MQTT_PREFIX": prefix,
                   "DAQ_TIME_SCALE": str(SCALE), "DAQ_STATION": f"readme-{secrets.token_hex(3)}",
                   "COLUMNS": "200"}
    (tmp_path / "campaigns").mkdir()
    faster_campaign(tmp_path / "campaigns", specimens_per_condition=1, hours=100.0)
    try:
        async with daq_run(tmp_path, station_env) as (_, url, password, seen):
            yield Shell(tmp_path, {**base, "DAQ_STATION_URL": url, "COLUMNS": "120",
                                   "XDG_CONFIG_HOME": str(tmp_path / "config")}, password)
    finally:
        await clear_station_retained(prefix)
    assert "Traceback" not in "".join(seen), "".join(seen)[-4000:]


async def run_line(shell: Shell, line: Line, stdin: bytes) -> tuple[int, str]:
    """Run one line in bash as typed; its exit code and everything it printed."""
    child = await asyncio.create_subprocess_exec(
        "bash", "-c", line.command, cwd=shell.cwd, env=shell.env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        # A session of its own: no terminal, so a password prompt reads stdin, and
        # Ctrl-C goes to the command's whole process group.
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    if not line.serves:
        out, _ = await asyncio.wait_for(child.communicate(stdin), LINE_GUARD_S)
        assert child.returncode is not None
        return child.returncode, out.decode()
    assert child.stdout is not None
    printed = []
    async with asyncio.timeout(LINE_GUARD_S):
        # It prints one `name resource` line per simulator, then serves: Ctrl-C ends it.
        while len([p for p in printed if "::" in p]) < 4:
            line_out = (await child.stdout.readline()).decode()
            if not line_out:  # it ended by itself: its exit code says how
                break
            printed.append(line_out)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGINT)
        rest, _ = await child.communicate()
    assert child.returncode is not None
    return child.returncode, "".join(printed) + rest.decode()


async def test_every_command_of_the_readme_runs_as_printed(shell: Shell) -> None:
    outputs: dict[str, str] = {}
    for line in readme_lines():
        stdin = (shell.admin_password + "\n").encode() if "login" in line.command else b""
        code, out = await run_line(shell, line, stdin)
        expected = (0, 130) if line.serves else (line.exit_code,)
        assert code in expected, f"{line.command}: exit {code}\n{out}"
        assert "Traceback" not in out, f"{line.command}\n{out}"
        assert "in-process station" not in out, f"{line.command}\n{out}"
        outputs[line.command] = " ".join(out.split())

    def said(prefix: str) -> str:
        return next(out for command, out in outputs.items() if command.startswith(prefix))

    # What a user reads back, in numbers they can check.
    assert "logged in to" in said("daq login") and "as admin (admin)" in said("daq login")
    assert "150–200 °C" in said("daq press start --temp 250")
    assert "DONE" in said("daq press start --temp 200")
    cycle = (shell.cwd / "cycle.csv").read_text().splitlines()
    assert cycle[0].startswith("time,ts,run_id,phase") and len(cycle) > 10
    exported = (shell.cwd / "run.csv").read_text().splitlines()
    assert exported[0].startswith("ts,time,instrument,channel,value,unit")
    assert len(exported) > 10
    assert "N/cm" in said("daq peel run")
    assert "EX1-2026-001-A1" in said("daq peel results")
    assert re.search(r"grade [OΔX]", said("daq laser run"))
    assert (shell.cwd / "report").is_dir() and any((shell.cwd / "report").iterdir())
    assert "RUNNING (detached; the station goes on)" in said("daq aging start")
    assert re.search(r"pulled EX1-2026-002-B1 from aging-\w+ at \d+\.\d h in tolerance",
                     said("daq aging pullout"))
    # The simulators alone: a TCP resource each for press and laser, a pty for the others.
    simulated = said("daq simulate")
    assert simulated.count("TCPIP::127.0.0.1::") >= 2 and simulated.count("ASRL/") >= 2
