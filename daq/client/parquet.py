"""A run's readings as a Parquet file (``daq runs export --format parquet``; pyarrow).

The file holds the CSV export's rows and columns, typed by
:func:`daq.client.frames.readings_schema` (``ts`` float64 epoch seconds, ``time`` UTC
timestamp in µs, ``instrument``/``channel``/``unit`` strings, ``value`` float64, null
where not finite, ``replayed`` bool), and the run's record as JSON in the schema's
metadata under ``lamina.run``. ``pandas.read_parquet`` opens it as
``Station.readings(run_id, long=True)`` gives the same run.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from daq.client.frames import ExportRow, export_batch, need, readings_schema

#: Readings per row group: a press cycle at scale 1 (about 200 000 readings) in a few.
BATCH = 65_536
RUN_METADATA_KEY = b"lamina.run"


async def write_parquet(out: Path, run: dict[str, Any], rows: AsyncIterator[ExportRow]) -> int:
    """Write the readings to ``out`` (via a ``.partial`` file renamed at the end, so a
    failed export never leaves a file that looks whole); how many readings."""
    need("pyarrow")
    import pyarrow.parquet as pq

    schema = readings_schema().with_metadata({RUN_METADATA_KEY: json.dumps(run).encode()})
    partial = out.with_name(out.name + ".partial")
    count = 0
    try:
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            batch: list[ExportRow] = []
            async for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    writer.write_batch(export_batch(batch).replace_schema_metadata(
                        schema.metadata))
                    count += len(batch)
                    batch = []
            # The last (or only, or empty) batch: an empty run is a file with the schema.
            writer.write_batch(export_batch(batch).replace_schema_metadata(schema.metadata))
            count += len(batch)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return count
