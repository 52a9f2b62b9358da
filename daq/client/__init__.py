"""A typed, async client of a station's HTTP API and live stream (``daq.client.Station``).

The ``daq`` command line is built on it; a notebook or script can use it the same way::

    async with Station("http://127.0.0.1:8000", token) as station:
        async with station.stream() as live:
            started = await station.start_run("press_cycle", {"dwell_min": 5})
            async for message in live.of_run(started.run_id):
                ...
        record = await station.run(started.run_id)
        df = await station.readings(started.run_id)   # a pandas DataFrame

:class:`SyncStation` is the same without ``await`` (for notebooks: it runs its own loop
in a thread). The DataFrame calls (``readings`` awaited, ``peel_curve``, ``aging_run``,
``table1``) need the ``notebook`` extra (pandas, pyarrow), imported only when called;
docs/notebook.md shows them at work.

Nothing here imports the station's own parts (SQLAlchemy, drivers, MQTT): only httpx,
websockets and pydantic models of what the API answers.
"""

from daq.client.credentials import (
    DEFAULT_STATION_URL,
    load_token,
    save_token,
    station_url,
    token_file,
)
from daq.client.errors import (
    NotAuthorized,
    NotFound,
    Refused,
    StationError,
    StationUnreachable,
)
from daq.client.frames import NotebookExtraMissing
from daq.client.models import (
    AbortReply,
    AgingRunRecord,
    CampaignRecord,
    ChannelValue,
    Health,
    InstrumentInfo,
    PeelCurve,
    PeelTestRecord,
    PulloutRecord,
    ResetReply,
    RunDetail,
    RunEventRecord,
    RunRecord,
    RunStarted,
    StoredReading,
    StreamAlarm,
    StreamDropped,
    StreamEvent,
    StreamHello,
    StreamMessage,
    StreamReading,
    StreamStatus,
    Table1Record,
    Token,
)
from daq.client.station import AgingRun, RunReadings, Station, station_answers
from daq.client.stream import LiveStream
from daq.client.sync import SyncStation

__all__ = [
    "DEFAULT_STATION_URL",
    "AbortReply",
    "AgingRun",
    "AgingRunRecord",
    "CampaignRecord",
    "ChannelValue",
    "Health",
    "InstrumentInfo",
    "LiveStream",
    "NotAuthorized",
    "NotFound",
    "NotebookExtraMissing",
    "PeelCurve",
    "PeelTestRecord",
    "PulloutRecord",
    "Refused",
    "ResetReply",
    "RunDetail",
    "RunEventRecord",
    "RunReadings",
    "RunRecord",
    "RunStarted",
    "Station",
    "StationError",
    "StationUnreachable",
    "StoredReading",
    "StreamAlarm",
    "StreamDropped",
    "StreamEvent",
    "StreamHello",
    "StreamMessage",
    "StreamReading",
    "StreamStatus",
    "SyncStation",
    "Table1Record",
    "Token",
    "load_token",
    "save_token",
    "station_answers",
    "station_url",
    "token_file",
]
