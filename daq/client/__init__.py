"""A typed, async client of a station's HTTP API and live stream (``daq.client.Station``).

The ``daq`` command line is built on it; a notebook or script can use it the same way::

    async with Station("http://127.0.0.1:8000", token) as station:
        async with station.stream() as live:
            started = await station.start_run("press_cycle", {"dwell_min": 5})
            async for message in live.of_run(started.run_id):
                ...
        record = await station.run(started.run_id)

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
from daq.client.models import (
    AbortReply,
    CampaignRecord,
    ChannelValue,
    Health,
    InstrumentInfo,
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
    Token,
)
from daq.client.station import Station, station_answers
from daq.client.stream import LiveStream

__all__ = [
    "DEFAULT_STATION_URL",
    "AbortReply",
    "CampaignRecord",
    "ChannelValue",
    "Health",
    "InstrumentInfo",
    "LiveStream",
    "NotAuthorized",
    "NotFound",
    "PulloutRecord",
    "Refused",
    "ResetReply",
    "RunDetail",
    "RunEventRecord",
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
    "Token",
    "load_token",
    "save_token",
    "station_answers",
    "station_url",
    "token_file",
]
