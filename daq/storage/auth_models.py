"""Tables of the operator surface: users and their roles, API tokens, saved press recipes.

Token and password times are *wall-clock* epoch seconds (security does not run on the
simulated clock); recipes carry wall times too. Only hashes are stored: argon2 for
passwords, SHA-256 for bearer tokens (they are long random strings, so a fast hash is
enough and lets a token be looked up by its hash).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from daq.storage.base import Base

#: Roles in increasing order of power.
ROLES = ("viewer", "operator", "admin")


class User(Base):
    """A person or program allowed to use the API, with one role."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_ts: Mapped[float] = mapped_column(Float)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A bearer token (stored as its SHA-256) issued to a user; expires or is revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    label: Mapped[str | None] = mapped_column(String(64), default=None)
    created_ts: Mapped[float] = mapped_column(Float)
    expires_ts: Mapped[float | None] = mapped_column(Float, default=None)
    revoked_ts: Mapped[float | None] = mapped_column(Float, default=None)


class SavedRecipe(Base):
    """A named press recipe (the JSON of a validated ``PressRecipe``)."""

    __tablename__ = "recipes"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_ts: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
