"""The operator surface over HTTP: FastAPI app factory, routers, auth, audit, live stream."""

from daq.api.app import create_app

__all__ = ["create_app"]
