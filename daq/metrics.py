"""Counters and gauges of a running station, as Prometheus text (served at ``/metrics``).

Everything is read from the live objects (pollers, bus, readings writer, MQTT
publisher, outbox drainer, the Lab's monitor gauges) at scrape time, synchronously:
nothing here touches the database or the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from daq.station.interface import Station


@dataclass
class Metric:
    """One metric family: name, type, help and its labelled samples."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Metric:
        """Add a sample (returns self for chaining)."""
        self.samples.append((labels, float(value)))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(metrics: Iterable[Metric]) -> str:
    """Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for m in metrics:
        lines.append(f"# HELP {m.name} {m.help}")
        lines.append(f"# TYPE {m.name} {m.kind}")
        for labels, value in m.samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{m.name}{{{label_text}}} {value:g}" if label_text
                         else f"{m.name} {value:g}")
    return "\n".join(lines) + "\n"


def _g(name: str, help_text: str) -> Metric:
    return Metric(name, "gauge", help_text)


def _c(name: str, help_text: str) -> Metric:
    return Metric(name, "counter", help_text)


def collect(station: Station) -> list[Metric]:
    """Every metric of ``station`` (a :class:`daq.station.lab.Lab`)."""
    out: list[Metric] = []
    gauges = station.gauges
    out.append(_g("daq_readings_per_second", "Instrument readings per second (all pollers).")
               .add(gauges.get("readings_per_s", 0.0)))

    polls, errors, up, status = (
        _c("daq_polls_total", "Successful polls per instrument."),
        _c("daq_poll_errors_total", "Failed polls per instrument."),
        _g("daq_instrument_up", "1 if the instrument answered its last poll."),
        _g("daq_instrument_status", "Link state per instrument (1 for the current state)."),
    )
    for name, poller in station.pollers.items():
        polls.add(poller.polls, instrument=name)
        errors.add(poller.errors, instrument=name)
        up.add(1.0 if poller.status == "online" else 0.0, instrument=name)
        for state in ("online", "offline", "fault"):
            status.add(1.0 if poller.status == state else 0.0, instrument=name, state=state)
    out += [polls, errors, up, status]

    bus = station.bus
    depth = _g("daq_bus_queue_depth", "Messages waiting per bus subscriber.")
    dropped = _c("daq_bus_dropped_total", "Messages dropped per bus subscriber (full).")
    for sub in bus.subscriptions:
        depth.add(sub.depth(), subscriber=sub.name)
        dropped.add(sub.dropped, subscriber=sub.name)
    out += [_c("daq_bus_published_total", "Messages published on the bus.")
            .add(bus.published), depth, dropped]

    st = station.writer.stats
    out += [
        _c("daq_storage_rows_written_total", "Reading rows committed.").add(st.rows_written),
        _c("daq_storage_batches_total", "Batches committed.").add(st.batches),
        _c("daq_storage_failures_total", "Failed batch writes (retried).").add(st.failures),
        _c("daq_storage_rows_dropped_total", "Rows dropped beyond the buffer bound.")
        .add(st.rows_dropped),
        _g("daq_storage_buffered_rows", "Rows waiting to be written.").add(st.buffered),
    ]
    out.append(_g("daq_database_up", "1 if the database answered the last check.")
               .add(gauges.get("database_up", 0.0)))

    journal = station.journal
    js = journal.stats
    out += [
        _g("daq_journal_depth", "Records in the journal not yet in the database.")
        .add(journal.depth),
        _g("daq_journal_oldest_age_seconds",
           "Real seconds the oldest record not yet in the database has waited.")
        .add(journal.oldest_age_s()),
        _g("daq_journal_spilled_pending", "Records on the spill file not yet stored.")
        .add(journal.spilled_pending),
        _g("daq_journal_spilling", "1 while new records go to the spill file.")
        .add(1.0 if journal.spilling else 0.0),
        _g("daq_journal_records_at_risk",
           "1 while records cannot be kept on file (live instruments are made safe).")
        .add(0.0 if journal.lost is None else 1.0),
        _c("daq_journal_appended_total", "Records appended.").add(js.appended),
        _c("daq_journal_applied_total", "Records stored in the database.").add(js.applied),
        _c("daq_journal_spilled_total", "Records written to the spill file.")
        .add(js.spilled),
        _c("daq_journal_write_failures_total", "Database writes of the journal that failed.")
        .add(js.write_failures),
        _c("daq_journal_rejected_total", "Records the database refused (kept on file).")
        .add(js.rejected),
    ]

    publisher = station.publisher
    ps = publisher.stats
    out += [
        _g("daq_mqtt_connected", "1 while connected to the broker.")
        .add(1.0 if publisher.connected else 0.0),
        _c("daq_mqtt_connects_total", "Connections made to the broker.").add(ps.connects),
        _c("daq_mqtt_disconnects_total", "Connections lost.").add(ps.disconnects),
        _c("daq_mqtt_connect_failures_total", "Connection attempts that failed.")
        .add(ps.connect_failures),
        _c("daq_mqtt_readings_published_total", "Readings published (QoS 0).")
        .add(ps.readings_published),
        _c("daq_mqtt_readings_replayed_total", "Readings published late, after an outage.")
        .add(ps.readings_replayed),
        _c("daq_mqtt_readings_dropped_total", "Readings dropped beyond the queue bound.")
        .add(ps.readings_dropped),
        _g("daq_mqtt_readings_queue_depth", "Readings waiting for the broker.")
        .add(publisher.queue_depth),
    ]
    outbox = publisher.outbox
    if outbox is not None:
        out += [
            _c("daq_mqtt_outbox_published_total", "Outbox messages acknowledged (QoS 1).")
            .add(outbox.stats.published),
            _g("daq_mqtt_outbox_pending", "Outbox messages not yet acknowledged.")
            .add(gauges.get("outbox_pending", 0.0)),
        ]

    out.append(_g("daq_runs_active", "Procedures running now.")
               .add(len(station.run_engine.active())))
    return out


def render_prometheus(station: Station) -> str:
    """The station's metrics as Prometheus text (what the API's ``/metrics`` serves)."""
    return render(collect(station))
