"""The simulated clock: discrete jumps, ordering, and clock-aware waits."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from localcloud.core import clock as sim


@pytest.fixture
def clock() -> sim.SimClock:
    clock = sim.SimClock(0.0)
    sim.install(clock)
    yield clock
    sim.uninstall()


def test_timers_fire_in_deadline_order_and_time_jumps(clock: sim.SimClock) -> None:
    # Given timers scheduled out of order
    fired: list[tuple[str, float]] = []
    start = clock.now()
    for label, delay in [("b", 120.0), ("a", 30.0), ("c", 3600.0)]:
        clock.call_later(
            delay, lambda label=label: fired.append((label, (clock.now() - start).total_seconds()))
        )
    # When the clock runs until quiet
    clock.run()
    # Then they fired in deadline order at their simulated times
    assert fired == [("a", 30.0), ("b", 120.0), ("c", 3600.0)]


def test_cancelled_timer_does_not_fire_or_move_time(clock: sim.SimClock) -> None:
    handle = clock.call_later(600, lambda: pytest.fail("cancelled timer fired"))
    handle.cancel()
    start = clock.now()
    clock.run()
    assert clock.now() == start


def test_run_for_seconds_stops_at_the_horizon(clock: sim.SimClock) -> None:
    fired: list[str] = []
    clock.call_later(10, lambda: fired.append("early"))
    clock.call_later(100, lambda: fired.append("late"))
    start = clock.now()
    clock.run(for_seconds=50)
    assert fired == ["early"]
    assert clock.now() == start + timedelta(seconds=50)


def _recurring(clock: sim.SimClock, every: float, fired: list[float]) -> None:
    start = clock.now()

    def fire() -> None:
        fired.append((clock.now() - start).total_seconds())
        clock.call_later(every, fire, "recurring", background=True)

    clock.call_later(every, fire, "recurring", background=True)


def test_a_background_recurrence_does_not_keep_the_world_busy(clock: sim.SimClock) -> None:
    # Given a daily recurrence, for ever, and one piece of work three days away
    fired: list[float] = []
    _recurring(clock, 86400, fired)
    clock.call_later(3 * 86400 + 60, lambda: fired.append(-1.0))
    start = clock.now()
    # When the clock plays until quiet
    clock.run()
    # Then the recurrence fired as time passed it, and playing stopped with the work done
    assert fired == [86400.0, 2 * 86400.0, 3 * 86400.0, -1.0]
    assert clock.now() == start + timedelta(days=3, seconds=60)
    assert clock.pending_timers() == 0
    # And settling with nothing but the recurrence left moves no time
    clock.run(for_seconds=10 * 86400, stop_when_quiet=True)
    assert clock.now() == start + timedelta(days=3, seconds=60)


def test_playing_a_fixed_time_fires_background_timers(clock: sim.SimClock) -> None:
    fired: list[float] = []
    _recurring(clock, 86400, fired)
    start = clock.now()
    clock.run(for_seconds=2 * 86400 + 1)
    assert fired == [86400.0, 2 * 86400.0]
    assert clock.now() == start + timedelta(days=2, seconds=1)


def test_a_clock_thread_sleeping_lets_time_jump(clock: sim.SimClock) -> None:
    # Given a simulated actor that sleeps two hours
    woke_at: list[float] = []
    start = clock.now()

    def actor() -> None:
        clock.sleep(7200)
        woke_at.append((clock.now() - start).total_seconds())

    thread = sim.ClockThread(target=actor)
    thread.start()
    # When the clock runs until quiet
    clock.run()
    thread.join()
    # Then it woke after exactly two simulated hours
    assert woke_at == [7200.0]


def test_event_wait_times_out_in_simulated_time(clock: sim.SimClock) -> None:
    event = sim.ClockEvent()
    results: list[bool] = []
    start = clock.now()
    thread = sim.ClockThread(target=lambda: results.append(event.wait(timeout=300)))
    thread.start()
    clock.run()
    thread.join()
    assert results == [False]
    assert clock.now() == start + timedelta(seconds=300)


def test_event_set_by_a_timer_wakes_the_waiter_before_its_timeout(clock: sim.SimClock) -> None:
    event = sim.ClockEvent()
    results: list[tuple[bool, float]] = []
    start = clock.now()

    def waiter() -> None:
        results.append((event.wait(timeout=3600), (clock.now() - start).total_seconds()))

    thread = sim.ClockThread(target=waiter)
    thread.start()
    clock.call_later(45, event.set)
    clock.run()
    thread.join()
    assert results == [(True, 45.0)]
    # The stale timeout did not drag the clock to +3600 s.
    assert clock.now() == start + timedelta(seconds=45)


def test_condition_wait_and_join_count_as_blocked(clock: sim.SimClock) -> None:
    # A parent joins a child that sleeps; the parent's join must not keep the clock busy.
    condition = sim.ClockCondition()
    order: list[str] = []

    def child() -> None:
        clock.sleep(60)
        with condition:
            order.append("child")
            condition.notify_all()

    def parent() -> None:
        worker = sim.ClockThread(target=child)
        worker.start()
        with condition:
            condition.wait_for(lambda: "child" in order)
        worker.join()
        order.append("parent")

    thread = sim.ClockThread(target=parent)
    thread.start()
    clock.run()
    thread.join()
    assert order == ["child", "parent"]


def test_a_non_participant_sleep_drives_the_clock(clock: sim.SimClock) -> None:
    fired: list[str] = []
    clock.call_later(30, lambda: fired.append("timer"))
    clock.sleep(60)  # the test thread is outside the simulation
    assert fired == ["timer"]


def test_a_busy_actor_that_never_blocks_is_reported(clock: sim.SimClock) -> None:
    stop = threading.Event()
    thread = sim.ClockThread(target=stop.wait)  # a real, not clock-aware, wait
    thread.start()
    with pytest.raises(sim.ClockStalledError, match="stayed busy"):
        clock.run(stall_seconds=0.2)
    stop.set()
    thread.join()


def test_failing_callbacks_are_recorded_not_swallowed(clock: sim.SimClock) -> None:
    def boom() -> None:
        raise ValueError("boom")

    clock.call_later(1, boom)
    clock.run()
    assert [str(e) for e in clock.callback_errors] == ["boom"]


def test_continuous_clock_scales_real_time() -> None:
    clock = sim.SimClock(0.001)  # one simulated hour = 3.6 real seconds
    start = clock.now()
    clock.sleep(100)  # 0.1 real seconds
    elapsed = (clock.now() - start).total_seconds()
    assert 100 <= elapsed < 1000


@pytest.mark.parametrize("wait", ["sleep", "event", "condition"])
def test_a_timeout_is_scheduled_before_its_waiter_stops_counting_as_busy(
    clock: sim.SimClock, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    # The race this guards against: a participant starts a 10 s wait, stops counting as
    # busy, and only then schedules its timeout. In between the driver sees nobody busy,
    # jumps to a later deadline (a lifecycle hook's 30-minute timeout), and the 10 s wait
    # ends 30 minutes late. Under CPU load that happened in the workflow tests.
    busy_when_scheduled: list[int] = []
    push = clock._push

    def recording_push(delay: float, action: object, label: str, **kwargs: bool) -> object:
        if label == "timeout":
            busy_when_scheduled.append(clock._busy)
        return push(delay, action, label, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(clock, "_push", recording_push)
    clock.call_later(1800, lambda: None, "hook timeout")
    start = clock.now()
    woke_at: list[float] = []

    def actor() -> None:
        if wait == "sleep":
            clock.sleep(10)
        elif wait == "event":
            sim.ClockEvent().wait(10)
        else:
            condition = sim.ClockCondition()
            with condition:
                condition.wait(10)
        woke_at.append((clock.now() - start).total_seconds())

    sim.ClockThread(target=actor).start()
    clock.run()
    assert woke_at == [10.0]
    assert busy_when_scheduled == [1]  # the actor itself, still counted


def test_a_paused_continuous_clock_holds_until_its_driver_starts() -> None:
    # local up: the deploy takes real seconds; --start is when serving begins.
    clock = sim.SimClock(0.001)
    start = clock.now()
    clock.pause()
    fired = threading.Event()
    clock.call_later(1, fired.set, "one simulated second on")
    threading.Event().wait(0.05)  # 50 simulated seconds, were it running
    assert clock.now() - start < timedelta(seconds=1)
    try:
        clock.start_driver()
        assert fired.wait(5)
        assert clock.now() - start >= timedelta(seconds=1)
    finally:
        clock.stop()
    with pytest.raises(RuntimeError, match="nothing to pause"):
        sim.SimClock(0.0).pause()
