"""What a station's answer can mean to its client, as types carrying the station's words."""

from __future__ import annotations


class StationError(Exception):
    """The station answered with an error, or could not be talked to."""


class StationUnreachable(StationError):
    """Nothing accepts connections at the station's URL (connection refused)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"no station at {url}: {detail}")
        self.url = url


class NotAuthorized(StationError):
    """401/403: no token, an expired or revoked one, or a role too low for the request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Refused(StationError):
    """409/422: the station refused the request before anything moved (an instrument
    busy or held by another owner, a value outside its window, an unknown reference)."""

    def __init__(self, status: int, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        #: The fields a 422 names (``params.specimen_id``, ``sample_id``), if any.
        self.fields = fields

    def about(self, name: str) -> bool:
        """True if the refusal names field ``name`` (as the last part of its path)."""
        return any(f == name or f.endswith("." + name) for f in self.fields)


class NotFound(StationError):
    """404: no such run, sample, specimen or recipe on record."""
