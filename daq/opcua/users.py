"""Who may open an OPC UA session: the station's own users (viewer and up), checked
against the ``users`` table with argon2, off both event loops.

asyncua asks its user manager *synchronously* (``UserManager.get_user`` is called from
``InternalSession.activate_session``, itself called without ``await`` by the request
processor), so a password check there cannot be awaited. The server therefore runs on
its own thread and loop (:mod:`daq.opcua.server`); :class:`StationUserManager` hands the
check to the station's loop with ``run_coroutine_threadsafe`` and waits for its answer
on the OPC UA thread. On the station's loop :class:`StationUsers` reads the user's row
and verifies the password in a worker thread (``asyncio.to_thread``): the station's
loop never computes a hash, so a login does not stall acquisition; while the hash is
computed, only the OPC UA thread waits (other OPC UA requests wait with it, at most one
hash, ~0.1-0.9 s at argon2's defaults).

Every station role is a plain OPC UA ``User`` (never asyncua's ``Admin``, who could write
any node and change the address space); a disabled user, an unknown one and a wrong
password are refused alike (``BadUserAccessDenied``), an unknown name after a hash as
long as a wrong password's. Anonymous sessions only when the station says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.storage.auth_models import ROLES
from daq.storage.auth_models import User as UserRow

if TYPE_CHECKING:
    from asyncua.server.internal_server import InternalServer

log = logging.getLogger(__name__)

#: The least role that may read the station over OPC UA.
LEAST_ROLE = "viewer"
#: How long a login waits for the station's answer before it is refused (real s).
LOGIN_TIMEOUT_S = 15.0

_verifier = PasswordHasher()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _verifier.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """What an unknown name is verified against (argon2's defaults, as a station's own)."""
    return _verifier.hash("not-a-real-password")


class StationUsers:
    """Checks a name and password against the station's ``users`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.logins = 0
        self.refused = 0

    async def authenticate(self, name: str, password: str) -> str | None:
        """The user's role if ``name``/``password`` are right, the user is enabled and
        at least a viewer; else ``None``. Runs on the station's loop; the hash in a
        worker thread."""
        async with self.sessions() as session:
            row = await session.get(UserRow, name)
            found = (row.password_hash, row.role, row.disabled) if row is not None else None
        if found is None or found[2] or found[1] not in ROLES:
            await asyncio.to_thread(_verify, await asyncio.to_thread(_dummy_hash), password)
            self.refused += 1
            return None
        if not await asyncio.to_thread(_verify, found[0], password):
            self.refused += 1
            return None
        if ROLES.index(found[1]) < ROLES.index(LEAST_ROLE):
            self.refused += 1
            return None
        self.logins += 1
        return found[1]


class StationUserManager(UserManager):
    """asyncua's user manager on the OPC UA thread, asking :class:`StationUsers` on the
    station's loop (see the module's docstring for why across threads)."""

    def __init__(self, users: StationUsers, station_loop: asyncio.AbstractEventLoop, *,
                 allow_anonymous: bool = False, timeout_s: float = LOGIN_TIMEOUT_S) -> None:
        self.users = users
        self.station_loop = station_loop
        self.allow_anonymous = allow_anonymous
        self.timeout_s = timeout_s

    def get_user(self, iserver: InternalServer, username: str | None = None,
                 password: str | None = None, certificate: Any = None) -> User | None:
        if username is None:  # anonymous: the server offers no certificate tokens
            if self.allow_anonymous:
                return User(role=UserRole.User, name="anonymous")
            return None
        future = asyncio.run_coroutine_threadsafe(
            self.users.authenticate(username, password or ""), self.station_loop)
        try:
            role = future.result(self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.warning("OPC UA login of %r: no answer from the station in %.0f s; refused",
                        username, self.timeout_s)
            return None
        except Exception as exc:  # the database down: refuse, say why in the log
            log.warning("OPC UA login of %r refused: cannot check it (%s)", username, exc)
            return None
        if role is None:
            log.info("OPC UA login of %r refused", username)
            return None
        log.info("OPC UA session for %s (%s)", username, role)
        return User(role=UserRole.User, name=username)
