"""A broker that requires a user and password (deploy/mosquitto.conf does): the
credentials in ``DAQ_MQTT_URL`` reach it, and wrong ones leave the publisher retrying."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from daq.bus import Bus
from daq.clock import SimClock
from daq.mqtt.publisher import MqttPublisher
from daq.mqtt.topics import parse_mqtt_url
from tests.conftest import need_service
from tests.mqtt.helpers import PrivateMosquitto


def authenticated_broker(tmp_path: Path) -> PrivateMosquitto:
    need_service("127.0.0.1", 1883, "Mosquitto")  # the binaries come with the service
    broker = PrivateMosquitto(tmp_path)
    passwd = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-b", "-c", str(passwd), "lamina-station", "s@cret pw"], check=True)
    passwd.chmod(0o600)
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
        "user root\n"
    )
    broker.start()
    return broker


async def connected_within(pub: MqttPublisher, seconds: float) -> bool:
    for _ in range(int(seconds / 0.02)):
        if pub.connected:
            return True
        await asyncio.sleep(0.02)
    return pub.connected


async def test_credentials_in_the_url_reach_an_authenticating_broker(tmp_path: Path) -> None:
    broker = authenticated_broker(tmp_path)
    try:
        for password, should_connect in (("s%40cret%20pw", True), ("wrong", False)):
            address = parse_mqtt_url(
                f"mqtt://lamina-station:{password}@127.0.0.1:{broker.port}", 1884)
            pub = MqttPublisher(host=address.host, port=address.port, prefix="lamina/test-auth",
                                clock=SimClock(), bus=Bus(), username=address.username,
                                password=address.password)
            await pub.start()
            try:
                assert await connected_within(pub, 3.0) is should_connect
            finally:
                await pub.stop()
    finally:
        broker.stop()
