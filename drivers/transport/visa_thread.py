"""Every other VISA resource (GPIB, USB-TMC, VXI-11, a vendor VISA library) through
pyvisa, with its blocking calls in one worker thread per resource."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

from drivers.errors import InstrumentConnectionError, InstrumentTimeout
from drivers.transport.base import Transport, decode_line


class PyVisaTransport(Transport):
    """A pyvisa ``MessageBasedResource`` driven from a dedicated single worker thread.

    One thread per resource keeps calls to one instrument in order and lets several
    slow instruments wait in parallel without blocking the event loop.
    """

    def __init__(self, resource: str, timeout: float = 2.0, backend: str = "") -> None:
        super().__init__(resource, timeout)
        self.backend = backend
        self._inst: Any = None
        self._rm: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        return self._inst is not None

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise InstrumentConnectionError("link is not open", resource=self.resource)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _open_blocking(self) -> None:
        import pyvisa

        self._rm = pyvisa.ResourceManager(self.backend)
        inst = self._rm.open_resource(self.resource)
        inst.read_termination = "\n"
        inst.write_termination = "\n"
        inst.timeout = int(self.timeout * 1000)
        self._inst = inst

    async def open(self) -> None:
        if self.is_open:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"visa-{self.resource}"
        )
        try:
            await self._call(self._open_blocking)
        except Exception as exc:
            await self.close()
            raise InstrumentConnectionError(f"cannot open: {exc}", resource=self.resource) from exc

    async def close(self) -> None:
        inst, self._inst = self._inst, None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        if inst is not None:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(executor, inst.close)
        executor.shutdown(wait=False)

    def _translate(self, exc: Exception) -> Exception:
        import pyvisa

        timeout_code = pyvisa.constants.StatusCode.error_timeout
        if isinstance(exc, pyvisa.errors.VisaIOError) and exc.error_code == timeout_code:
            return InstrumentTimeout(
                f"no reply within {self.timeout:g} s", resource=self.resource
            )
        return InstrumentConnectionError(str(exc) or type(exc).__name__, resource=self.resource)

    def _query_blocking(self, inst: Any, line: str, timeout_ms: int | None) -> bytes:
        inst.write(line)
        return self._read_blocking(inst, timeout_ms)

    def _read_blocking(self, inst: Any, timeout_ms: int | None) -> bytes:
        if timeout_ms is not None:
            inst.timeout = timeout_ms
        try:
            raw: bytes = inst.read_raw()
        finally:
            if timeout_ms is not None:
                inst.timeout = int(self.timeout * 1000)
        return raw

    async def query(self, line: str, timeout: float | None = None) -> str:
        """Write and read in one hop to the worker thread (half the thread switches)."""
        async with self.lock:
            inst = self._inst
            if inst is None:
                raise InstrumentConnectionError("link is not open", resource=self.resource)
            timeout_ms = None if timeout is None else int(timeout * 1000)
            try:
                raw = await self._call(self._query_blocking, inst, line, timeout_ms)
            except Exception as exc:
                await self.close()
                raise self._translate(exc) from exc
            return decode_line(raw, self.resource)

    async def write_line(self, line: str) -> None:
        inst = self._inst
        if inst is None:
            raise InstrumentConnectionError("link is not open", resource=self.resource)
        try:
            await self._call(inst.write, line)
        except Exception as exc:
            await self.close()
            raise self._translate(exc) from exc

    async def read_line(self, timeout: float | None = None) -> str:
        inst = self._inst
        if inst is None:
            raise InstrumentConnectionError("link is not open", resource=self.resource)
        timeout_ms = None if timeout is None else int(timeout * 1000)
        try:
            raw = await self._call(self._read_blocking, inst, timeout_ms)
        except Exception as exc:
            await self.close()
            raise self._translate(exc) from exc
        return decode_line(raw, self.resource)
