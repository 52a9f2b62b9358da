"""The declarative base every table of the service derives from."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Base class of all ORM models (one metadata for Alembic and ``create_all``)."""
