"""The link life cycle every driver shares: open, close, reconnect, ``async with``.

A driver holds one :class:`~drivers.transport.base.Transport` in ``self.transport`` and
inherits from :class:`InstrumentLink`; its own methods then do one exchange each.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from drivers.transport.base import Transport


class InstrumentLink:
    """Opening, closing and reopening the link to one instrument."""

    transport: Transport

    @property
    def resource(self) -> str:
        """The instrument's VISA resource string."""
        return self.transport.resource

    @property
    def is_connected(self) -> bool:
        """True while the link is open."""
        return self.transport.is_open

    async def open(self) -> None:
        """Open the link (raises ``InstrumentConnectionError`` if it cannot be reached)."""
        await self.transport.open()

    async def connect(self) -> None:
        """Open the link (the same as :meth:`open`)."""
        await self.open()

    async def close(self) -> None:
        """Close the link; the instrument keeps its state."""
        await self.transport.close()

    async def reconnect(self) -> None:
        """Close and open the link again (after a timeout or a dropped connection)."""
        await self.transport.reconnect()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
