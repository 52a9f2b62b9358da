"""The embedded MQTT broker (amqtt) run inside the service when ``DAQ_MQTT_URL=embedded``.

Zero set-up for a single station: subscribers connect to 127.0.0.1:1884. It keeps
retained messages and sessions in memory only; a station that needs durability across
broker restarts uses Mosquitto with persistence (deploy/).
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not listen (port taken, bad address)."""


class EmbeddedBroker:
    """An amqtt broker listening on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1884) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None

    async def start(self) -> int:
        """Listen; return the port actually bound."""
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        # amqtt logs every packet at INFO through its plugins, and a failed start as a
        # traceback; keep the service log readable (we raise a clear error instead).
        amqtt_log = logging.getLogger("amqtt")
        amqtt_log.setLevel(logging.CRITICAL)
        broker = Broker(config)
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps OSError in BrokerError
            raise EmbeddedBrokerError(
                f"embedded MQTT broker cannot listen on {self.host}:{self.port}: {exc} "
                "(set DAQ_EMBEDDED_MQTT_PORT or DAQ_MQTT_URL=mqtt://host:port)"
            ) from None
        finally:
            amqtt_log.setLevel(logging.WARNING)
        self._broker = broker
        server = broker._servers["default"]
        self.port = int(server.instance.sockets[0].getsockname()[1])
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Close every session and stop listening."""
        if self._broker is not None:
            broker, self._broker = self._broker, None
            try:
                await broker.shutdown()
            except Exception as exc:  # shutting down must never take the service with it
                log.warning("embedded broker shutdown: %s", exc)

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._broker is not None
