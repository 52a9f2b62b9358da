"""The operator surface over HTTP: FastAPI app factory, routers, auth, audit, live stream.

``create_app`` is imported on first use: ``daq user`` needs only :mod:`daq.api.accounts`,
and loading FastAPI, pydantic's schemas and every router for it cost ~1.7 s per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daq.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from daq.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
