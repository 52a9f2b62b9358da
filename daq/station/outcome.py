"""How a run ended: one enum for every kind of run (as OpenHTF has one outcome type).

The values are the ones stored in ``runs.status`` (see
:data:`daq.storage.models.RUN_STATUSES`), so ``str(outcome)`` is what the database, MQTT
and the API show.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The end of a run, whatever its kind."""

    DONE = "DONE"
    ABORTED = "ABORTED"
    FAULTED = "FAULTED"
    #: Ended without a complete result (a peel whose stream broke off).
    INCOMPLETE = "INCOMPLETE"
    #: Cut short by the station stopping (a resumable run stays RUNNING in the database).
    INTERRUPTED = "INTERRUPTED"

    @classmethod
    def of(cls, status: str) -> Outcome:
        """The outcome of a stored status string; an unknown one counts as FAULTED."""
        try:
            return cls(status)
        except ValueError:
            return cls.FAULTED
