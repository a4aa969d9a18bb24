"""The rounding account takes an entry's rounding and nothing more.

An entry's exact amounts sum to zero; each posted line is one of them rounded to a minor
unit, off by at most half a unit. So n lines can be off by at most n/2 together, and the
rounding line may be at most floor(n/2). Anything more is a bug: it raises with the
entry's figures and leaves every balance as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from costing import batch_columns as bc
from costing import batch_kernel as bk
from costing.kernels import rounding_limit
from costing.ledger import Entry, EntryUnbalanced, Ledger
from tests.costing.toy_plant import ACCOUNTS


def _ledger() -> Ledger:
    return Ledger(ACCOUNTS, ())


def test_one_unpaired_line_of_five_minor_units_raises_with_the_figures():
    ledger = _ledger()
    entry = Entry()
    entry.one("1310", 5, "receipt PO-1", "R-STD")
    with pytest.raises(EntryUnbalanced) as caught:
        ledger.post(entry)
    message = str(caught.value)
    assert "off by 5 minor units over 1 line" in message
    assert "at most 0" in message
    assert "1310 +5 (receipt PO-1)" in message
    assert caught.value.imbalance == 5 and caught.value.lines == (("1310", 5, "receipt PO-1"),)
    assert not ledger.balance.any() and not ledger.touched.any()
    assert ledger.cols[0].n == 0


def test_rounding_within_the_bound_is_booked_to_the_rounding_account():
    ledger = _ledger()
    entry = Entry()
    for _ in range(3):  # a third each of 1.00, rounded: 0.33 three times
        entry.one("5400", 33, "split")
    entry.one("1400", -100, "split")
    lines, start, end = ledger.post(entry)
    assert (end - start, lines[-1].account, lines[-1].debit, lines[-1].memo) == (
        5, "5900", 1, "rounding")
    assert int(ledger.balance.sum()) == 0


@pytest.mark.parametrize("lines, off, ok", [(4, 2, True), (4, 3, False), (5, 2, True),
                                            (5, 3, False), (2, 1, True), (1, 1, False)])
def test_the_bound_is_half_the_number_of_lines(lines, off, ok):
    ledger = _ledger()
    entry = Entry()
    entry.one("1310", 1000 + off, "a")
    for _ in range(lines - 2):
        entry.one("1320", 0 + 1, "b")  # zero lines are dropped: one unit each
    entry.one("2100", -1000 - (lines - 2), "c")
    assert rounding_limit(lines) == lines // 2
    if ok:
        ledger.post(entry)
        assert int(ledger.balance.sum()) == 0
    else:
        with pytest.raises(EntryUnbalanced):
            ledger.post(entry)
        assert not ledger.balance.any()


def _lines_buffer(n_accounts: int) -> bc.Lines:
    return bc.Lines(np.zeros((6, 16), np.int64), np.zeros(n_accounts, np.int64),
                    np.zeros(n_accounts, np.bool_))


@pytest.mark.parametrize("close", [bk._close_entry, bk._close_entry.py_func])
def test_the_batch_kernel_refuses_an_unpaired_line_and_undoes_its_balance(close):
    L = _lines_buffer(4)
    ctr = np.zeros(bc.N_COUNTERS, np.int64)
    bk._line.py_func(L, ctr, 1, 5, 0, 0, 0, 7)
    assert not close(L, ctr, 0, 3, 0)
    assert L.balance.tolist() == [0, 0, 0, 0] and ctr[bc.C_LINE] == 0
    assert ctr[bc.C_BAD_END] == 1  # the refused lines stay in the buffer for the message


@pytest.mark.parametrize("close", [bk._close_entry, bk._close_entry.py_func])
def test_the_batch_kernel_books_rounding_within_the_bound(close):
    L = _lines_buffer(4)
    ctr = np.zeros(bc.N_COUNTERS, np.int64)
    for acc, x in ((0, 33), (0, 33), (0, 33), (1, -100)):
        bk._line.py_func(L, ctr, acc, x, 0, 0, 0, 7)
    assert close(L, ctr, 0, 3, 0)
    assert ctr[bc.C_LINE] == 5 and L.cols[:2, 4].tolist() == [3, 1]
    assert L.balance.tolist() == [99, -100, 0, 1]
