"""Typed errors raised by transports, protocols and drivers.

Each carries what a person needs to act on it: the instrument's address, the command
that was sent and what came back.
"""

from __future__ import annotations


class InstrumentError(Exception):
    """Base of every error an instrument link can raise."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        self.resource = resource
        super().__init__(f"{resource}: {message}" if resource else message)


class InstrumentConnectionError(InstrumentError):
    """The link could not be opened, or it was lost (closed by the peer, reset, unplugged)."""


class InstrumentTimeout(InstrumentError):
    """No complete reply arrived in time. The link is closed, since a late reply would
    otherwise be taken as the answer to the next query."""


class ProtocolError(InstrumentError):
    """A reply that does not parse: garbled line, wrong field count, not a number."""

    def __init__(self, message: str, *, reply: str | None = None, resource: str | None = None):
        self.reply = reply
        super().__init__(message if reply is None else f"{message} (reply {reply!r})",
                         resource=resource)


class InstrumentCommandError(InstrumentError):
    """The instrument reported an error for a command (e.g. SCPI ``-222,"Data out of range"``)."""

    def __init__(self, code: int, text: str, *, command: str | None = None,
                 resource: str | None = None) -> None:
        self.code = code
        self.text = text
        self.command = command
        where = f" after {command!r}" if command else ""
        super().__init__(f"instrument error {code}, {text!r}{where}", resource=resource)


class InvalidResource(InstrumentError):
    """A VISA resource string that names no instrument we can reach."""
