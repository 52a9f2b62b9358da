"""Users, roles and bearer tokens: hashing, login, token issue and lookup, first admin.

Used by the API (login, auth dependency, user management) and by ``daq user``.
Passwords are hashed with argon2; tokens are 32 random bytes (URL-safe text) of which
only the SHA-256 is stored.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.storage.auth_models import ROLES, ApiToken, User

__all__ = ["ROLES", "AccountError", "Principal", "ensure_admin", "login_hint"]

#: Tokens live this long unless asked otherwise (wall-clock seconds).
DEFAULT_TOKEN_LIFETIME_S = 12 * 3600.0
#: The longest a token may live (30 days: a service account renews monthly).
MAX_TOKEN_LIFETIME_S = 30 * 24 * 3600.0
#: The shortest (a token that expires before it is used is a mistake).
MIN_TOKEN_LIFETIME_S = 60.0

_hasher = PasswordHasher()
T = TypeVar("T")
_generation = 0


def accounts_generation() -> int:
    """A number that changes whenever this process changes a user or revokes a token
    (what a cache of token lookups must forget, see :mod:`daq.api.principals`)."""
    return _generation


def _accounts_changed() -> None:
    global _generation
    _generation += 1


class AccountError(Exception):
    """A user-management request that cannot be done (unknown user, bad role, duplicate)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user name and role."""

    name: str
    role: str

    def has(self, role: str) -> bool:
        """True if this principal's role is at least ``role``."""
        return role_rank(self.role) >= role_rank(role)


def role_rank(role: str) -> int:
    """Position of ``role`` in viewer < operator < admin."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return ROLES.index(role)


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash the passwords set from now on with ``hasher``'s argon2 parameters; a stored
    hash always verifies with the parameters it was made with. A station keeps argon2's
    defaults; a test suite that creates users by the hundred may choose cheaper ones, as
    Django's test settings choose a fast password hasher."""
    global _hasher
    _hasher = hasher


def hash_password(password: str) -> str:
    """The argon2 hash of ``password``."""
    return _hasher.hash(password)


#: Where password hashes are computed: one thread beside the event loop. An argon2 hash
#: is memory-hard CPU work (about 0.1–0.9 s here); on the loop it would stall acquisition,
#: and more than one at a time would take the cores the instruments' polls need.
_HASH_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


@dataclass
class HashCounters:
    """How many argon2 computations this process made (for ``/metrics``)."""

    computed: int = 0


HASHES = HashCounters()


async def _off_loop(fn: Callable[..., T], *args: str) -> T:
    HASHES.computed += 1
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, fn, *args)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A random password an operator can type (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


async def add_user(
    session: AsyncSession, name: str, role: str, password: str | None = None
) -> str:
    """Create a user; returns the password (generated when not given)."""
    role_rank(role)
    if not name or len(name) > 64:
        raise AccountError("a user name must be 1–64 characters")
    if await session.get(User, name) is not None:
        raise AccountError(f"user {name!r} already exists")
    password = password or new_password()
    session.add(
        User(name=name, password_hash=await _off_loop(hash_password, password), role=role,
             created_ts=time.time())
    )
    await session.commit()
    return password


async def set_role(session: AsyncSession, name: str, role: str) -> None:
    """Change a user's role."""
    await change_user(session, name, role=role)


class UnknownUser(AccountError):
    """No user of that name."""


async def change_user(session: AsyncSession, name: str, role: str | None = None,
                      disabled: bool | None = None) -> User:
    """Change a user's role and/or disable or enable them. The last enabled admin cannot
    be demoted or disabled: a station must always have someone who can manage it."""
    if role is not None:
        role_rank(role)
    user = await session.get(User, name)
    if user is None:
        raise UnknownUser(f"no user {name!r}")
    loses_admin = user.role == "admin" and not user.disabled and (
        (role is not None and role != "admin") or disabled is True)
    if loses_admin:
        admins = await session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.disabled.is_(False), User.name != name))
        if not admins:
            raise AccountError(f"{name!r} is the last enabled admin; make another user "
                               f"admin first")
    if role is not None:
        user.role = role
    if disabled is not None:
        user.disabled = disabled
    await session.commit()
    _accounts_changed()
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """Every user, by name."""
    return list((await session.scalars(select(User).order_by(User.name))).all())


async def authenticate(session: AsyncSession, name: str, password: str) -> Principal | None:
    """The principal if ``name``/``password`` are right and the user is enabled."""
    user = await session.get(User, name)
    if user is None or user.disabled:
        # Hash anyway so that a wrong name takes as long as a wrong password.
        await _off_loop(verify_password, dummy_password_hash(), password)
        return None
    if not await _off_loop(verify_password, user.password_hash, password):
        return None
    return Principal(user.name, user.role)


async def issue_token(
    session: AsyncSession,
    name: str,
    lifetime_s: float | None = DEFAULT_TOKEN_LIFETIME_S,
    label: str | None = None,
) -> tuple[str, float]:
    """A new bearer token for user ``name`` and its expiry (wall epoch seconds). Every
    token expires: its lifetime must lie between one minute and
    :data:`MAX_TOKEN_LIFETIME_S`."""
    if lifetime_s is None or not MIN_TOKEN_LIFETIME_S <= lifetime_s <= MAX_TOKEN_LIFETIME_S:
        asked = "no expiry" if lifetime_s is None else f"{lifetime_s / 3600:g} h"
        raise AccountError(
            f"a token lives between {MIN_TOKEN_LIFETIME_S / 60:g} min and "
            f"{MAX_TOKEN_LIFETIME_S / 3600:g} h (asked: {asked})")
    if await session.get(User, name) is None:
        raise AccountError(f"no user {name!r}")
    token = secrets.token_urlsafe(32)
    now = time.time()
    expires = now + lifetime_s
    session.add(
        ApiToken(
            token_hash=token_digest(token),
            user_name=name,
            label=label,
            created_ts=now,
            expires_ts=expires,
        )
    )
    await session.commit()
    return token, expires


async def resolve_token(session: AsyncSession, token: str) -> Principal | None:
    """The principal a bearer token belongs to, or None if unknown, expired or revoked."""
    found = await resolve_token_until(session, token)
    return None if found is None else found[0]


async def resolve_token_until(session: AsyncSession, token: str
                              ) -> tuple[Principal, float | None] | None:
    """The principal of a bearer token and when the token expires (wall epoch seconds),
    or None if it is unknown, expired or revoked."""
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.name == ApiToken.user_name)
            .where(ApiToken.token_hash == token_digest(token))
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = time.time()
    if api_token.revoked_ts is not None or user.disabled:
        return None
    if api_token.expires_ts is not None and api_token.expires_ts < now:
        return None
    return Principal(user.name, user.role), api_token.expires_ts


async def revoke_token(session: AsyncSession, token: str) -> bool:
    """Revoke a token; True if it existed."""
    api_token = (
        await session.scalars(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    ).first()
    if api_token is None:
        return False
    api_token.revoked_ts = time.time()
    await session.commit()
    _accounts_changed()
    return True


async def ensure_admin(
    sessions: async_sessionmaker[AsyncSession], name: str = "admin"
) -> str | None:
    """Create user ``name`` (role admin, random password) when there is no user at all.

    Returns the new password (to print once, with how to log in) or None when users
    already exist.
    """
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(User))
        if count:
            return None
        return await add_user(session, name, "admin")


def login_hint(url: str, name: str, password: str) -> str:
    """The text printed on first start: where the dashboard is and how to log in."""
    body = f'{{"username": "{name}", "password": "{password}"}}'
    return (
        f"Created user {name!r} (role admin) with password {password}\n"
        f"Log in at {url} , or get a token: curl -H 'Content-Type: application/json' "
        f"-d '{body}' {url.rstrip('/')}/api/auth/token\n"
        f"Add operators with: daq user add NAME --role operator"
    )


@functools.cache
def dummy_password_hash() -> str:
    """What a login for an unknown name is verified against, so that it takes as long as a
    wrong password. Made on first use (the API makes it in ``create_app``): one argon2
    hash costs ~0.9 s of CPU, which every import, so every ``daq user`` call, used to pay.
    """
    return hash_password("not-a-real-password")
