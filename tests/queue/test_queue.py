"""The run queue on a real station: press items added, reordered, removed, run in order
through the run engine; stop, busy instruments, failures, bad items, a restart."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from daq.config import Settings
from daq.station.lab import Lab
from daq.station.outcome import Outcome
from daq.station.queue import (
    BadItem,
    BadPlacement,
    ItemNotFound,
    ItemState,
    Placement,
    QueueConflict,
    QueueSnapshot,
    QueueState,
)
from daq.storage.models import MqttOutbox, Run
from daq.storage.queue_models import QueueItemRow
from tests.mqtt.helpers import Recorder
from tests.queue.conftest import press_item

#: Hang guard only: a short cycle is a few simulated minutes, well under 5 s real at 600×;
#: three of them and the station's start fit many times over.
HANG_S = 60.0


def stopped_with_history(n: int):  # type: ignore[no-untyped-def]
    return lambda s: s.state is QueueState.STOPPED and len(s.history) == n


async def runs_by_start(lab: Lab) -> list[Run]:
    async with lab.sessions() as session:
        return list(await session.scalars(select(Run).order_by(Run.started_ts)))


async def test_three_items_one_moved_one_removed_run_in_the_new_order(lab: Lab) -> None:
    q = lab.run_queue
    a = await q.add("press_cycle", press_item("S-A"), "alice")
    b = await q.add("press_cycle", press_item("S-B"), "alice")
    c = await q.add("press_cycle", press_item("S-C"), "bob")
    assert [i.uid for i in q.snapshot().items] == [a.uid, b.uid, c.uid]

    await q.move(c.uid, Placement(before=a.uid), "bob")  # C, A, B
    await q.remove(a.uid, "alice")  # C, B
    assert [i.params["sample_id"] for i in q.snapshot().items] == ["S-C", "S-B"]
    assert await runs_by_start(lab) == []  # nothing ran while the queue was stopped

    assert await q.start("carol") is QueueState.RUNNING
    done = await q.wait_until(stopped_with_history(2), HANG_S)

    assert done.items == [] and done.running is None
    assert [(h.uid, h.state, h.outcome) for h in done.history] == [
        (c.uid, ItemState.DONE, Outcome.DONE), (b.uid, ItemState.DONE, Outcome.DONE)]
    runs = await runs_by_start(lab)
    assert [(r.sample_id, r.status) for r in runs] == [("S-C", "DONE"), ("S-B", "DONE")]
    assert [r.id for r in runs] == [h.run_id for h in done.history]
    # one after the other on the one press: the second starts once the first has ended
    assert runs[0].ended_ts is not None and runs[1].started_ts >= runs[0].ended_ts
    assert [r.operator for r in runs] == ["bob", "alice"]  # who queued it runs it


async def test_stop_lets_the_running_item_finish_and_holds_the_rest(lab: Lab) -> None:
    q = lab.run_queue
    items = [await q.add("press_cycle", press_item(f"S-{n}"), "alice") for n in (1, 2, 3)]
    await q.start("alice")
    running = await q.wait_until(lambda s: s.running is not None, HANG_S)
    assert running.running is not None and running.running.uid == items[0].uid
    run_id = running.running.run_id
    assert run_id is not None and lab.run_engine.is_live(run_id)

    assert await q.stop("alice") is QueueState.STOPPING
    after = await q.wait_until(stopped_with_history(1), HANG_S)

    assert after.history[0].uid == items[0].uid
    assert (after.history[0].state, after.history[0].outcome) == (ItemState.DONE, Outcome.DONE)
    assert [i.uid for i in after.items] == [items[1].uid, items[2].uid]
    assert all(i.state is ItemState.QUEUED and i.run_id is None for i in after.items)
    assert [(r.id, r.status) for r in await runs_by_start(lab)] == [(run_id, "DONE")]
    assert lab.run_engine.active() == []
    with pytest.raises(QueueConflict, match="not running"):
        await q.stop("alice")


async def test_first_item_waits_while_its_press_is_busy_and_nothing_skips_ahead(
    lab: Lab,
) -> None:
    direct = await lab.run_engine.start("press_cycle", press_item("S-direct"), "dana", "cli")
    q = lab.run_queue
    first = await q.add("press_cycle", press_item("S-1"), "alice")
    second = await q.add("press_cycle", press_item("S-2"), "alice")
    await q.start("alice")

    waiting = await q.wait_until(
        lambda s: bool(s.items) and s.items[0].waiting_for is not None, HANG_S)
    assert waiting.running is None and [i.uid for i in waiting.items] == [first.uid, second.uid]
    assert direct in (waiting.items[0].waiting_for or "")
    assert "dana" in (waiting.items[0].waiting_for or "")
    assert lab.run_engine.is_live(direct)  # it waited because the press was held

    assert await lab.run_engine.wait(direct, HANG_S) is Outcome.DONE
    done = await q.wait_until(stopped_with_history(2), HANG_S)
    assert [h.uid for h in done.history] == [first.uid, second.uid]
    runs = await runs_by_start(lab)
    assert [r.sample_id for r in runs] == ["S-direct", "S-1", "S-2"]
    assert runs[0].ended_ts is not None and runs[1].started_ts >= runs[0].ended_ts


async def test_an_aborted_item_stops_the_queue_and_goes_back_to_the_front(lab: Lab) -> None:
    q = lab.run_queue
    first = await q.add("press_cycle", press_item("S-1"), "alice")
    second = await q.add("press_cycle", press_item("S-2"), "alice")
    await q.start("alice")
    snap = await q.wait_until(lambda s: s.running is not None, HANG_S)
    assert snap.running is not None and snap.running.run_id is not None
    with pytest.raises(QueueConflict, match="abort the run"):
        await q.remove(first.uid, "alice")

    assert await lab.run_engine.abort(snap.running.run_id, "alice")
    after = await q.wait_until(stopped_with_history(1), HANG_S)

    ended = after.history[0]
    assert (ended.uid, ended.state, ended.outcome) == (first.uid, ItemState.ABORTED,
                                                       Outcome.ABORTED)
    again, rest = after.items
    assert again.uid not in (first.uid, second.uid) and again.params == first.params
    assert rest.uid == second.uid
    assert [r.sample_id for r in await runs_by_start(lab)] == ["S-1"]  # S-2 never started


async def test_a_bad_item_is_refused_when_added_naming_the_field(lab: Lab) -> None:
    q = lab.run_queue
    with pytest.raises(ValidationError) as too_long:
        await q.add("press_cycle", press_item("S-1", dwell_min=30), "alice")
    assert "dwell 30 min is outside the allowed window 5–20 min" in str(too_long.value)
    with pytest.raises(BadItem, match="unknown run kind 'kiln'") as unknown_kind:
        await q.add("kiln", {}, "alice")
    assert unknown_kind.value.field == "kind"
    with pytest.raises(BadItem, match="press9"):
        await q.add("press_cycle", press_item("S-1", press="press9"), "alice")
    kept = await q.add("press_cycle", press_item("S-1"), "alice")
    with pytest.raises(BadPlacement, match="one of position, before, after") as both:
        await q.add("press_cycle", press_item("S-2"), "alice",
                    Placement(position=0, after=kept.uid))
    assert both.value.field == "after"
    with pytest.raises(BadPlacement, match="no queued item 'nope'"):
        await q.move(kept.uid, Placement(before="nope"), "alice")
    with pytest.raises(ItemNotFound):
        await q.remove("nope", "alice")
    assert [i.uid for i in q.snapshot().items] == [kept.uid]
    async with lab.sessions() as session:
        rows = list(await session.scalars(select(QueueItemRow)))
    assert [r.uid for r in rows] == [kept.uid]


async def test_positions_and_before_after_place_items_like_queueserver(lab: Lab) -> None:
    q = lab.run_queue
    a = await q.add("press_cycle", press_item("A"), "alice")
    b = await q.add("press_cycle", press_item("B"), "alice", Placement(position=0))
    c = await q.add("press_cycle", press_item("C"), "alice", Placement(after=b.uid))
    d = await q.add("press_cycle", press_item("D"), "alice", Placement(position=99))

    def order(s: QueueSnapshot) -> list[str]:
        return [str(i.params["sample_id"]) for i in s.items]

    assert order(q.snapshot()) == ["B", "C", "A", "D"]
    await q.move(d.uid, Placement(position=1), "alice")
    assert order(q.snapshot()) == ["B", "D", "C", "A"]
    await q.move(b.uid, Placement(after=a.uid), "alice")
    assert order(q.snapshot()) == ["D", "C", "A", "B"]
    await q.move(a.uid, Placement(), "alice")  # nothing given: to the end
    assert order(q.snapshot()) == ["D", "C", "B", "A"]
    assert c.uid == q.snapshot().items[1].uid
    assert await q.clear("alice") == 4
    assert q.snapshot().items == []
    with pytest.raises(QueueConflict, match="empty"):
        await q.start("alice")


async def test_every_change_is_announced_on_the_queue_topic_through_the_outbox(
    lab: Lab,
) -> None:
    q = lab.run_queue
    a = await q.add("press_cycle", press_item("S-1"), "alice")
    await q.remove(a.uid, "bob")
    topic = f"{lab.settings.mqtt_prefix}/queue"
    async with lab.sessions() as session:
        rows = list(await session.scalars(
            select(MqttOutbox).where(MqttOutbox.topic == topic).order_by(MqttOutbox.id)))
    bodies = [json.loads(r.payload) for r in rows]
    assert [(b["change"], b["uid"], b["by"]) for b in bodies] == [
        ("added", a.uid, "alice"), ("removed", a.uid, "bob")]
    assert bodies[0]["queued"] == [a.uid] and bodies[1]["queued"] == []
    assert all(r.qos == 1 for r in rows)


async def test_a_restart_keeps_the_queued_items_and_comes_back_stopped(
    settings: Settings,
) -> None:
    async with Lab(settings) as lab:
        first = await lab.run_queue.add("press_cycle", press_item("S-1"), "alice")
        second = await lab.run_queue.add("press_cycle", press_item("S-2"), "alice",
                                         Placement(position=0))
        gone = await lab.run_queue.add("press_cycle", press_item("S-3"), "alice")
        await lab.run_queue.remove(gone.uid, "alice")
    async with Lab(settings) as lab:
        snap = lab.run_queue.snapshot()
        assert snap.state is QueueState.STOPPED
        assert [(i.uid, i.params["sample_id"], i.operator) for i in snap.items] == [
            (second.uid, "S-2", "alice"), (first.uid, "S-1", "alice")]
        assert snap.items[0].params == press_item("S-2")


async def test_an_item_running_when_the_station_died_is_interrupted_in_history(
    settings: Settings,
) -> None:
    async with Lab(settings) as lab:
        queued = await lab.run_queue.add("press_cycle", press_item("S-2"), "alice")
        # What a SIGKILL during a run leaves: the run RUNNING, its item running.
        async with lab.sessions() as session:
            session.add(Run(id="press-crashed", kind="press_cycle", instrument="press1",
                            status="RUNNING", station=settings.station,
                            started_ts=lab.clock.now()))
            session.add(QueueItemRow(uid="item-crashed", station=settings.station,
                                     position=None, state="running", kind="press_cycle",
                                     params=press_item("S-1"), operator="alice",
                                     added_wall=1.0, started_wall=2.0,
                                     run_id="press-crashed"))
            await session.commit()
    async with Lab(settings) as lab:
        snap = lab.run_queue.snapshot()
        assert snap.state is QueueState.STOPPED and snap.running is None
        crashed = snap.history[-1]
        assert (crashed.uid, crashed.state, crashed.outcome) == (
            "item-crashed", ItemState.FAILED, Outcome.INTERRUPTED)
        assert crashed.run_id == "press-crashed"
        assert [i.uid for i in snap.items] == [queued.uid]
        async with lab.sessions() as session:
            run = await session.get(Run, "press-crashed")
        assert run is not None and run.status == "INTERRUPTED"


async def test_an_item_that_cannot_start_stops_the_queue_by_default(lab: Lab) -> None:
    q = lab.run_queue
    # Accepted when added (well-formed); the stored recipe it names is gone when reached.
    bad = await q.add("press_cycle", {"recipe_name": "gone", "sample_id": "S-1"}, "alice")
    good = await q.add("press_cycle", press_item("S-2"), "alice")
    await q.start("alice")
    after = await q.wait_until(stopped_with_history(1), HANG_S)
    failed = after.history[0]
    assert (failed.uid, failed.state, failed.outcome) == (bad.uid, ItemState.FAILED,
                                                          Outcome.FAULTED)
    assert failed.run_id is None and "no recipe 'gone'" in (failed.message or "")
    assert [i.params.get("sample_id") for i in after.items] == ["S-1", "S-2"]
    assert after.items[1].uid == good.uid
    assert await runs_by_start(lab) == []


async def test_with_ignore_failures_the_queue_goes_on_after_a_faulted_item(
    settings: Settings,
) -> None:
    async with Lab(settings.model_copy(update={"queue_ignore_failures": True})) as lab:
        q = lab.run_queue
        bad = await q.add("press_cycle", {"recipe_name": "gone", "sample_id": "S-1"}, "alice")
        good = await q.add("press_cycle", press_item("S-2"), "alice")
        await q.start("alice")
        after = await q.wait_until(stopped_with_history(2), HANG_S)
        assert [(h.uid, h.outcome) for h in after.history] == [
            (bad.uid, Outcome.FAULTED), (good.uid, Outcome.DONE)]
        assert after.items == []
        assert [r.sample_id for r in await runs_by_start(lab)] == ["S-2"]


async def test_a_dashboard_follows_the_queue_on_the_broker(lab: Lab) -> None:
    assert lab.broker is not None
    topic = f"{lab.settings.mqtt_prefix}/queue"
    async with Recorder(lab.broker.port, topic) as dashboard:
        a = await lab.run_queue.add("press_cycle", press_item("S-1"), "alice")
        b = await lab.run_queue.add("press_cycle", press_item("S-2"), "alice")
        await lab.run_queue.move(b.uid, Placement(position=0), "bob")
        # the publisher is woken by each commit; 10 s is a hang guard, not the verdict
        await dashboard.wait_for(lambda d: len(d.on("/queue")) >= 3, 10.0)
    bodies = [m.json() for m in dashboard.on("/queue")]
    assert [(m["change"], m["uid"], m["by"]) for m in bodies] == [
        ("added", a.uid, "alice"), ("added", b.uid, "alice"), ("moved", b.uid, "bob")]
    assert bodies[-1]["queued"] == [b.uid, a.uid] and bodies[-1]["state"] == "stopped"
    assert [m["seq"] for m in bodies] == sorted(m["seq"] for m in bodies)
