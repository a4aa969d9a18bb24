"""Counter deltas: a PLC's production is booked exactly once, whatever the wire does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.counters import Count, CounterBook, CounterSpec

GOOD = CounterSpec("ns=2;s=Assy.Good", "WC-ASSY", "good")
WRAP = CounterSpec("ns=2;s=Weld.Good", "WC-WELD", "good", wrap_max=65535)


def test_first_sight_is_a_baseline_then_deltas():
    book = CounterBook([GOOD])
    assert book.observe(GOOD.node, 120) is None
    assert book.observe(GOOD.node, 120) is None  # repeated notification
    assert book.observe(GOOD.node, 125) == Count(GOOD.node, 0, 125, 120, 5, "count")
    assert book.state() == {GOOD.node: (0, 125)}


def test_reset_without_wrap_counts_the_new_value_in_a_new_epoch():
    book = CounterBook([GOOD], state={GOOD.node: (3, 900)})
    count = book.observe(GOOD.node, 4)
    assert count == Count(GOOD.node, 4, 4, 900, 4, "reset")
    assert count.event_id("plc1") == "plc1:ns=2;s=Assy.Good:4:4"


def test_reset_to_zero_counts_nothing_but_moves_the_epoch():
    book = CounterBook([GOOD], state={GOOD.node: (0, 50)})
    assert book.observe(GOOD.node, 0) is None
    # Back above the old value: still counted from 0, because the reset was seen.
    assert book.observe(GOOD.node, 60) == Count(GOOD.node, 1, 60, 0, 60, "count")


def test_rollover_of_a_uint16():
    book = CounterBook([WRAP], state={WRAP.node: (0, 65530)})
    count = book.observe(WRAP.node, 3)
    # 65531..65535 is 5 units, 0..3 is 4 more
    assert (count.delta, count.epoch, count.cause) == (9, 1, "rollover")


def test_value_seen_again_after_a_rollover_gets_a_new_event_id():
    book = CounterBook([WRAP], state={WRAP.node: (0, 100)})
    ids = []
    for value in (40000, 10, 100):
        ids.append(book.observe(WRAP.node, value).event_id("d"))
    assert ids == ["d:ns=2;s=Weld.Good:0:40000", "d:ns=2;s=Weld.Good:1:10", "d:ns=2;s=Weld.Good:1:100"]
    assert book.observe(WRAP.node, 100) is None


def test_undo_makes_the_next_read_report_the_same_count_again():
    book = CounterBook([GOOD, WRAP], state={GOOD.node: (2, 50), WRAP.node: (0, 65535)})
    for node, value in ((GOOD.node, 60), (GOOD.node, 5), (WRAP.node, 1)):
        count = book.observe(node, value)
        book.undo(count)
        assert book.observe(node, value) == count


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"node": "", "line": "L"}, "counters.node: required non-empty string, got ''"),
        ({"node": "n", "line": "L", "kind": "bad"}, "counters.kind: must be one of ('good', 'scrap'), got 'bad'"),
        ({"node": "n", "line": "L", "wrap_max": 0}, "counters.wrap_max: must be a positive integer, got 0"),
        ({"node": "n", "line": "L", "operation": "10"}, "counters.operation: must be an integer, got '10'"),
        ({"node": "n", "line": "L", "wrapmax": 1}, "counters: unknown key(s) ['wrapmax']"),
    ],
)
def test_bad_counter_spec_names_field_and_value(raw, message):
    with pytest.raises(ValueError) as err:
        CounterSpec.from_mapping(raw)
    assert str(err.value) == message


def test_bad_raw_values_are_refused_by_name():
    book = CounterBook([WRAP])
    with pytest.raises(ValueError, match="outside 0..65535"):
        book.observe(WRAP.node, 70000)
    with pytest.raises(ValueError, match="not configured"):
        book.observe("ns=2;s=Nope", 1)
    with pytest.raises(ValueError, match="must be an integer, got 1.5"):
        book.observe(WRAP.node, 1.5)


# --- property: total booked == true production ----------------------------------------

class Gateway:
    """The journal's half of the seam: idempotent on event id, state saved with the event."""

    def __init__(self):
        self.ids: set[str] = set()
        self.state: dict[str, tuple[int, int]] = {}
        self.booked = 0
        self.pending: list[Count] = []

    def deliver(self, count: Count | None):
        if count is not None:
            self.pending.append(count)

    def commit(self):
        for count in self.pending:
            self.apply(count)
        self.pending.clear()

    def apply(self, count: Count):
        event_id = count.event_id("plc")
        if event_id in self.ids:
            return  # acknowledged and ignored, state untouched
        self.ids.add(event_id)
        self.booked += count.delta
        self.state[count.node] = (count.epoch, count.value)


OPS = st.one_of(
    st.tuples(st.just("count"), st.integers(1, 400), st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 400)),
    st.tuples(st.just("dup")),
    st.tuples(st.just("replay")),
    st.tuples(st.just("commit")),
    st.tuples(st.just("crash")),
)


@settings(max_examples=300, deadline=None)
@given(
    wrap_max=st.sampled_from([None, 255, 65535]),
    start=st.integers(0, 255),
    ops=st.lists(OPS, max_size=60),
)
def test_any_history_books_true_production_exactly_once(wrap_max, start, ops):
    spec = CounterSpec("ns=2;s=L.Good", "L", "good", wrap_max=wrap_max)
    modulus = None if wrap_max is None else wrap_max + 1
    gateway = Gateway()
    book = CounterBook([spec])
    plc = start
    truth = 0
    since_committed = 0  # units the PLC made since the value the gateway stored

    def observe():
        gateway.deliver(book.observe(spec.node, plc))

    def commit():
        nonlocal since_committed
        observe()
        gateway.commit()
        since_committed = 0

    observe()  # first sight: baseline, nothing counted
    for op in ops:
        if op[0] == "count":
            _, units, seen = op
            if modulus is not None and since_committed + units >= modulus:
                # More than one full lap between two committed reads is undetectable
                # by any counter logic; the driver reads far more often than that.
                commit()
                units = min(units, modulus - 1)
            plc = plc + units if modulus is None else (plc + units) % modulus
            truth += units
            since_committed += units
            if seen:
                observe()
        elif op[0] == "reset":
            if modulus is not None:
                continue  # a wrapping counter reads a reset as a roll-over, by design
            # Units made after the last committed read but before a reset vanish with
            # the PLC's memory unless read first, so the driver reads before a reset.
            commit()
            if plc < 2:
                continue
            # Detectable only while below the old value. A reset seen at exactly 0
            # counts nothing and so sends nothing to persist (see CounterBook.observe):
            # the catch-up after a crash needs the first post-reset read to carry a unit.
            after = 1 + op[1] % (plc - 1)
            plc = after
            truth += after
            # The reset must be booked before the PLC climbs back past the old value,
            # or a restarted driver comparing with the stored value cannot see it.
            commit()
        elif op[0] == "dup":
            observe()
        elif op[0] == "replay":
            if gateway.pending:
                gateway.deliver(gateway.pending[-1])
            elif gateway.ids:
                # An already committed notification delivered again after a reconnect.
                last_state = gateway.state[spec.node]
                gateway.apply(Count(spec.node, *last_state, 0, 1, "count"))
        elif op[0] == "commit":
            commit()
        elif op[0] == "crash":
            gateway.pending.clear()  # emitted, never committed
            book = CounterBook([spec], state=gateway.state or None)
            if not gateway.state:
                # Nothing ever committed: the restarted driver takes a new baseline, so
                # what the lost readings carried is gone by definition of "baseline".
                truth = 0
                book.observe(spec.node, plc)
                since_committed = 0
            observe()  # the catch-up read after (re)connect
    commit()
    assert gateway.booked == truth
