"""Progress and result of a laser job reach a real Mosquitto (QoS 1, via the outbox)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import aiomqtt

from tests.conftest import need_service

DAQ = str(Path(sys.executable).parent / "daq")


async def test_cli_job_publishes_progress_and_result(tmp_path: Path) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    prefix = f"lamina/test-{secrets.token_hex(4)}"
    received: list[dict[str, Any]] = []
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/runs/+/events", qos=1)
        env = dict(os.environ, DAQ_TIME_SCALE="100", DAQ_MQTT_URL="mqtt://127.0.0.1:1883",
                   DAQ_MQTT_PREFIX=prefix, COLUMNS="200",
                   DAQ_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'lamina.db'}")
        env.pop("DAQ_CONFIG", None)
        proc = await asyncio.create_subprocess_exec(
            DAQ, "laser", "run", "--sample", "EX1-2026-042", "--holes", "300", env=env,
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )

        async def collect() -> None:
            async for message in client.messages:
                assert message.qos == 1
                assert isinstance(message.payload, bytes)
                received.append(json.loads(message.payload))
                if received[-1]["kind"] == "result" and "status" in received[-1]["data"]:
                    return

        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        await asyncio.wait_for(collect(), 10)
    kinds = [m["kind"] for m in received]
    assert "progress" in kinds and "transition" in kinds
    progress = [m["data"] for m in received if m["kind"] == "progress"]
    assert progress[-1]["holes_done"] == 300
    grades = [m["data"].get("grade") for m in received if m["kind"] == "result"]
    assert "O" in grades
    seqs = [m["seq"] for m in received]
    assert seqs == sorted(seqs)  # delivered in outbox order
