"""The politeness gate on a virtual clock: spacing per host, and no global slot held by a
request that is only waiting for its host's turn."""

from __future__ import annotations

from collections.abc import Callable

from flows.stages.polite import HostGate


class Clock:
    """Virtual time: `sleep` advances it (and may run something "meanwhile")."""

    def __init__(self) -> None:
        self.now = 100.0
        self.meanwhile: list[Callable[[], None]] = []
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        while self.meanwhile:
            self.meanwhile.pop(0)()


def _gate(total: int, per_host: int = 2, delay: float = 0.5) -> tuple[HostGate, Clock]:
    clock = Clock()
    return HostGate(total, per_host, delay, clock=clock, sleep=clock.sleep), clock


def test_starts_to_one_host_are_spaced_and_other_hosts_do_not_wait() -> None:
    gate, clock = _gate(total=4)
    starts = []
    for url in ("http://a.example/1", "http://a.example/2", "http://b.example/1",
                "http://A.example/3"):
        with gate.slot(url):
            starts.append((url.rsplit("/", 1)[1], clock.now - 100.0))
    assert starts == [("1", 0.0), ("2", 0.5), ("1", 0.5), ("3", 1.0)]


def test_no_global_slot_is_held_while_waiting_for_the_host() -> None:
    """With one global slot, a request waiting out a.example's delay must leave that slot
    to b.example, which may start at once."""
    gate, clock = _gate(total=1)
    started: list[str] = []

    def other_host() -> None:
        if gate.total.acquire(blocking=False):   # what a request to b.example would take
            gate.total.release()
            with gate.slot("http://b.example/x"):
                started.append("b")

    with gate.slot("http://a.example/1"):
        pass
    clock.meanwhile.append(other_host)
    with gate.slot("http://a.example/2"):
        started.append("a")
    assert started == ["b", "a"] and clock.slept == [0.5]


def test_a_request_that_lost_its_turn_while_waiting_waits_again() -> None:
    """X waits for a.example; meanwhile Z starts there: X must then keep `delay` after Z."""
    gate, clock = _gate(total=2)
    starts: list[tuple[str, float]] = []

    def z() -> None:
        with gate.slot("http://a.example/z"):
            starts.append(("z", clock.now - 100.0))

    with gate.slot("http://a.example/1"):
        starts.append(("1", clock.now - 100.0))
    clock.meanwhile.append(z)
    with gate.slot("http://a.example/x"):
        starts.append(("x", clock.now - 100.0))
    assert starts == [("1", 0.0), ("z", 0.5), ("x", 1.0)]


def test_no_delay_never_sleeps() -> None:
    gate, clock = _gate(total=1, delay=0.0)
    for i in range(5):
        with gate.slot(f"http://a.example/{i}"):
            pass
    assert clock.slept == []
