"""The one ERP snapshot parser, as the CLI and the dashboard page both read the file."""

from __future__ import annotations

import pytest

from gateway.reconcile import ErpFileError, read_erp_csv

CATS = {"available": ["available"], "unavailable": ["quality"]}


def test_a_byte_order_mark_blank_lines_and_header_case_are_accepted():
    assert read_erp_csv("\ufeffSKU,Category,Qty\r\nA,available,1.5\r\n\r\nA,available,2\r\n",
                        CATS) == [("A", "available", 1.5), ("A", "available", 2.0)]


def test_every_bad_line_is_named_with_its_field_and_raw_text():
    with pytest.raises(ErpFileError) as e:
        read_erp_csv("item,qty\n", CATS, source="erp.csv")
    assert e.value.errors == ["erp.csv: line 1: header must be sku,category,qty, got 'item,qty'"]
    with pytest.raises(ErpFileError) as e:
        read_erp_csv("sku,category,qty\nA,available\n,available,1\nB,available,nan\n"
                     "C,availible,3\nD,unavailable,inf\n", CATS, source="s.csv")
    assert e.value.errors == [
        "s.csv: line 2: expected 3 fields, got 2: 'A,available'",
        "s.csv: line 3: sku: empty: ',available,1'",
        "s.csv: line 4: qty: 'nan' is not a number: 'B,available,nan'",
        "s.csv: line 5: category: 'availible' is not one of available, unavailable:"
        " 'C,availible,3'",
        "s.csv: line 6: qty: 'inf' is not a number: 'D,unavailable,inf'"]
