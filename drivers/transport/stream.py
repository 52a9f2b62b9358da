"""The native line transport shared by TCP sockets and serial ports: an asyncio
``Protocol`` that splits received bytes into lines and hands each straight to the query
waiting for it.

Why not ``StreamReader.readuntil`` + ``asyncio.timeout``: per query that costs a waiter
future inside the reader, a timer handle pushed on and cancelled off the loop's heap and
a timeout context; on 10 busy connections it was ~40 % slower than raw streams
(``bench/transport.py``). Here a reply resolves the waiting future directly from
``data_received``, and timeouts use one lazily re-armed timer per link: it fires at most
once per timeout period, and only then compares the pending query's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections import deque
from typing import cast

from drivers.errors import InstrumentConnectionError, InstrumentTimeout, ProtocolError
from drivers.transport.base import DEFAULT_TIMEOUT_S, MAX_LINE_BYTES, Transport, decode_line

#: A deadline timer that fires this many seconds late says the process itself was not
#: running (a busy machine, a long GC): the reply may be waiting unread (an in-process
#: simulator may not even have read the command), so the link listens once more.
STALL_S = 0.05
#: How long it listens again after such a stall before the query times out.
STALL_GRACE_S = 0.1

#: Lines kept for a reader that is not reading (a stream with nobody listening) before
#: reading from the device is paused, like a full UART buffer.
MAX_QUEUED_LINES = 100_000


class _LineTooLong(Exception):
    pass


class LineProtocol(asyncio.Protocol):
    """Splits the byte stream into ``\\n``-terminated lines and queues or delivers them."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.lines: deque[bytes] = deque()
        self.waiter: asyncio.Future[bytes] | None = None
        self.discard = 0  # replies owed to cancelled queries, dropped when they arrive
        self.lost = False
        self.lost_reason: str | None = None
        self.partial = b""
        self.closed = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._reading_paused = False
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None

    # -- asyncio callbacks -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def _deliver(self, line: bytes) -> None:
        if self.discard:
            self.discard -= 1
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(line)
            return
        self.lines.append(line)
        self._pause_if_full()

    def _pause_if_full(self) -> None:
        """Stop reading from the device while too many lines wait (a full UART buffer)."""
        if len(self.lines) > MAX_QUEUED_LINES and not self._reading_paused:
            self._reading_paused = True
            with contextlib.suppress(Exception):
                assert self.transport is not None
                self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if not buf and data and data.find(b"\n") == len(data) - 1:
            self._deliver(data)  # the common case: exactly one whole reply
            return
        buf += data
        cut = buf.rfind(b"\n") + 1
        if cut:
            # A streaming instrument sends many lines per read: split them in one C call
            # rather than one find/slice/deliver round per line.
            lines = [part + b"\n" for part in bytes(buf[:cut]).split(b"\n")[:-1]]
            del buf[:cut]
            first = 0
            while first < len(lines) and (
                self.discard or (self.waiter is not None and not self.waiter.done())
            ):
                self._deliver(lines[first])
                first += 1
            if first < len(lines):
                self.lines.extend(lines[first:] if first else lines)
                self._pause_if_full()
        if len(buf) > self.limit:
            buf.clear()
            self._fail(_LineTooLong())

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_reason = str(exc) if exc else None
        self.partial = bytes(self._buf)
        self._buf.clear()
        self._fail(ConnectionResetError(self.lost_reason or "closed by the instrument"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- used by the transport ---------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def pop_line(self) -> bytes | None:
        if not self.lines:
            return None
        line = self.lines.popleft()
        if self._reading_paused and len(self.lines) < MAX_QUEUED_LINES // 2:
            self._reading_paused = False
            with contextlib.suppress(Exception):
                assert self.transport is not None
                self.transport.resume_reading()
        return line

    def pop_all(self) -> list[bytes]:
        lines = list(self.lines)
        self.lines.clear()
        if self._reading_paused:
            self._reading_paused = False
            with contextlib.suppress(Exception):
                assert self.transport is not None
                self.transport.resume_reading()
        return lines

    async def drain(self) -> None:
        if self.write_paused and not self.lost:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain


class StreamTransport(Transport):
    """A native asyncio line transport; subclasses say how to connect."""

    def __init__(self, resource: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(resource, timeout)
        self._protocol: LineProtocol | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0  # when the timer was asked to fire (its lateness = a stall)
        self._open_lock = asyncio.Lock()

    @abstractmethod
    async def _connect(self) -> LineProtocol:
        """Open the link with a fresh :class:`LineProtocol` and return it."""

    @property
    def is_open(self) -> bool:
        p = self._protocol
        return p is not None and not p.lost and p.transport is not None and (
            not p.transport.is_closing()
        )

    async def open(self) -> None:
        if self.is_open:
            return
        # Two tasks reconnecting at once (a poller and a safe-state routine) must not both
        # connect: the second link would replace the first while a query waits on it, and
        # that query would wait forever (its timer watches only the current link).
        async with self._open_lock:
            if self.is_open:
                return
            self._protocol = None
            try:
                self._protocol = await asyncio.wait_for(self._connect(), self.timeout)
            except (OSError, TimeoutError) as exc:
                raise InstrumentConnectionError(
                    f"cannot open: {exc or type(exc).__name__}", resource=self.resource
                ) from exc

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if protocol is None or protocol.transport is None:
            return
        protocol.transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.closed), 1.0)

    def _require_open(self) -> LineProtocol:
        p = self._protocol
        if p is None or p.transport is None or p.transport.is_closing():
            raise InstrumentConnectionError("link is not open", resource=self.resource)
        return p

    async def write_line(self, line: str) -> None:
        p = self._require_open()
        if p.lost:
            await self.close()
            raise InstrumentConnectionError("link closed by the instrument",
                                            resource=self.resource)
        try:
            assert p.transport is not None
            p.transport.write(line.encode("ascii", errors="replace") + b"\n")
        except (OSError, RuntimeError) as exc:
            await self.close()
            raise InstrumentConnectionError(f"write failed: {exc}", resource=self.resource) from exc
        if p.write_paused:
            await p.drain()

    # -- the lazy deadline timer ----------------------------------------------------------
    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._deadline = deadline
        timer = self._timer
        if timer is not None and timer.when() <= deadline:
            return  # it fires first and re-arms itself for what is left
        if timer is not None:
            timer.cancel()
        self._call_at(loop, deadline)

    def _call_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer_due = when
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        p, deadline = self._protocol, self._deadline
        if p is None or deadline is None or p.waiter is None or p.waiter.done():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < deadline:
            self._call_at(loop, deadline)
        elif now - self._timer_due > STALL_S:
            # The deadline passed while this process was not running, so it says nothing
            # about the instrument: listen again for a moment the loop actually runs.
            self._deadline = now + STALL_GRACE_S
            self._call_at(loop, self._deadline)
        else:
            p._fail(TimeoutError())

    async def _receive(self, timeout: float | None, owed: bool) -> str:
        p = self._require_open()
        raw = p.pop_line()
        if raw is not None:
            return decode_line(raw, self.resource)
        if p.lost:
            await self.close()
            raise self._lost_error(p)
        return await self._await_line(p, timeout, owed)

    def _expect(self, p: LineProtocol, timeout: float | None) -> asyncio.Future[bytes]:
        """The future the next received line resolves, with its deadline armed."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes] = loop.create_future()
        p.waiter = waiter
        self._arm(loop, loop.time() + (self.timeout if timeout is None else timeout))
        return waiter

    def _abandon(self) -> None:
        """Close at once, without waiting (the error paths of a read)."""
        protocol, self._protocol = self._protocol, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    def _failure(self, p: LineProtocol, exc: BaseException, timeout: float | None) -> Exception:
        """The typed error for a read that failed with ``exc``; the link is closed."""
        self._abandon()
        if isinstance(exc, TimeoutError):
            wait = self.timeout if timeout is None else timeout
            return InstrumentTimeout(f"no reply within {wait:g} s", resource=self.resource)
        if isinstance(exc, _LineTooLong):
            return ProtocolError("reply line too long", resource=self.resource)
        return self._lost_error(p)

    async def _await_line(self, p: LineProtocol, timeout: float | None, owed: bool) -> str:
        waiter = self._expect(p, timeout)
        try:
            raw = await waiter
        except (TimeoutError, _LineTooLong, ConnectionError) as exc:
            raise self._failure(p, exc, timeout) from exc
        except asyncio.CancelledError:
            if owed and (waiter.cancelled() or not waiter.done()):  # reply still to come
                p.discard += 1
            raise
        finally:
            self._deadline = None
            if p.waiter is waiter:
                p.waiter = None
        return decode_line(raw, self.resource)

    async def query(self, line: str, timeout: float | None = None) -> str:
        """Send ``line`` and return its reply: the hot path, inlined (see the module doc)."""
        lock = self.lock
        await lock.acquire()  # not ``async with``: two coroutine frames fewer per query
        try:
            p = self._protocol
            t = p.transport if p is not None else None
            if p is None or t is None or p.lost or p.lines or p.write_paused or t.is_closing():
                await self.write_line(line)  # the general path raises the right errors
                return await self._receive(timeout, owed=True)
            try:
                t.write(line.encode("ascii", errors="replace") + b"\n")
            except (OSError, RuntimeError) as exc:
                self._abandon()
                raise InstrumentConnectionError(
                    f"write failed: {exc}", resource=self.resource
                ) from exc
            waiter = self._expect(p, timeout)
            try:
                raw = await waiter
            except (TimeoutError, _LineTooLong, ConnectionError) as exc:
                raise self._failure(p, exc, timeout) from exc
            except asyncio.CancelledError:
                if waiter.cancelled() or not waiter.done():  # the reply is still to come
                    p.discard += 1
                raise
            finally:
                self._deadline = None
                if p.waiter is waiter:
                    p.waiter = None
            return decode_line(raw, self.resource)
        finally:
            lock.release()

    def _lost_error(self, p: LineProtocol) -> InstrumentConnectionError:
        partial = p.partial.decode("ascii", errors="backslashreplace")
        detail = f" (partial line {partial!r})" if partial else ""
        reason = f": {p.lost_reason}" if p.lost_reason else ""
        return InstrumentConnectionError(
            f"link closed by the instrument{reason}{detail}", resource=self.resource
        )

    async def read_line(self, timeout: float | None = None) -> str:
        return await self._receive(timeout, owed=False)

    async def read_lines(self, timeout: float | None = None) -> list[bytes]:
        p = self._require_open()
        if p.lines:
            return p.pop_all()
        first = (await self._receive(timeout, owed=False)).encode("ascii") + b"\n"
        return [first, *p.pop_all()] if p.lines else [first]

    async def read_reply(self, timeout: float | None = None) -> str:
        return await self._receive(timeout, owed=True)
