"""GS1 and plain barcode decoding (drivers.gs1): pure, no ports."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gs1 import GS, Scan, ScanError, decode_scan
from simulators.scanner import check_digit, gs1_element_string

# 9506000134352 is GS1's own example GTIN-13; as GTIN-14: 09506000134352.
GTIN = "09506000134352"
SSCC = "376104250021234569"


def test_gs1_128_with_gs_separators():
    text = f"]C101{GTIN}17271231104711-A{GS}21SN0042{GS}3712"
    scan = decode_scan(text)
    assert isinstance(scan, Scan), scan
    assert scan.attrs == {
        "symbology": "]C1", "gtin": GTIN, "lot": "4711-A", "expiry": "2027-12-31",
        "serial": "SN0042", "sscc": None, "count": 12, "net_kg": None, "work_order": None,
        "ais": {"01": GTIN, "17": "271231", "10": "4711-A", "21": "SN0042", "37": "12"}}


def test_datamatrix_net_weight_and_qr_sscc():
    scan = decode_scan(f"]d201{GTIN}3103001250")
    assert scan.attrs["net_kg"] == 1.25 and scan.attrs["symbology"] == "]d2"
    pallet = decode_scan(f"]Q300{SSCC}02{GTIN}3724")
    assert (pallet.attrs["sscc"], pallet.attrs["gtin"], pallet.attrs["count"]) == \
        (SSCC, GTIN, 24)


def test_a_configured_separator_stands_for_fnc1():
    text = f"]C101{GTIN}10LOT-7|21X9"
    assert isinstance(decode_scan(text), ScanError)  # '|' is data without the setting
    scan = decode_scan(text, separator="|")
    assert (scan.attrs["lot"], scan.attrs["serial"]) == ("LOT-7", "X9")
    assert decode_scan(f"]C101{GTIN}10LOT-7<GS>21X9", separator="<GS>").attrs["serial"] == "X9"


def test_a_leading_fnc1_after_the_identifier_is_accepted():
    assert decode_scan(f"]C1{GS}01{GTIN}").attrs["gtin"] == GTIN


def test_gs1_without_identifier_but_with_gs_is_gs1():
    scan = decode_scan(f"01{GTIN}10L1{GS}21S1")
    assert (scan.attrs["symbology"], scan.attrs["lot"], scan.attrs["serial"]) == \
        (None, "L1", "S1")


@pytest.mark.parametrize("text, reason", [
    (f"]C101{GTIN[:-1]}3", "Invalid GTIN check digit"),
    (f"]Q300{SSCC[:-1]}8", "Invalid SSCC check digit"),
    ("]C10112345", "GS1:"),
    ("]d2garbage", "GS1:"),
    ("]C1", "no element string"),
    (f"]C101{GTIN}17271399", "GS1:"),  # month 13
])
def test_bad_gs1_is_an_error_value_with_the_raw_text(text, reason):
    result = decode_scan(text)
    assert isinstance(result, ScanError)
    assert reason in result.reason
    assert result.raw == text


def test_work_order_code():
    assert decode_scan("WO:WO-1042").attrs == {"symbology": None, "work_order": "WO-1042"}
    assert decode_scan("]C0WO:7").attrs == {"symbology": "]C0", "work_order": "7"}
    assert isinstance(decode_scan("WO:"), ScanError)


def test_plain_codes():
    assert decode_scan("BIN-A-07").attrs == {"symbology": None, "code": "BIN-A-07"}
    ean = decode_scan("]E09506000134352")
    assert ean.attrs == {"symbology": "]E0", "code": "9506000134352", "gtin": GTIN}
    bad_ean = decode_scan("]E09506000134353")
    assert isinstance(bad_ean, ScanError) and "check digit" in bad_ean.reason


@pytest.mark.parametrize("text", ["", "ab\x00cd", "\x07"])
def test_empty_and_control_characters_are_errors(text):
    result = decode_scan(text)
    assert isinstance(result, ScanError) and result.raw == text


def test_check_digit_matches_gs1_examples():
    assert check_digit("0950600013435") == "2"
    assert check_digit("37610425002123456") == "9"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60), separator=st.sampled_from([None, "|", "~", GS]))
def test_decode_scan_never_raises(text, separator):
    result = decode_scan(text, separator)
    assert isinstance(result, (Scan, ScanError))


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789]CdQ1" + GS, max_size=60))
def test_decode_scan_never_raises_on_gs1_looking_text(text):
    assert isinstance(decode_scan(text), (Scan, ScanError))


lots = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=13, max_size=13), lot=st.none() | lots,
       serial=st.none() | lots, count=st.none() | st.integers(1, 99_999_999),
       expiry=st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2049, 12, 31)),
       net_g=st.none() | st.integers(0, 999_999),
       symbology=st.sampled_from(["]C1", "]d2", "]Q3"]),
       separator=st.sampled_from([GS, "|"]))
def test_simulator_element_strings_round_trip(body, lot, serial, count, expiry, net_g,
                                              symbology, separator):
    net_kg = None if net_g is None else net_g / 1000
    text = symbology + gs1_element_string(gtin=body, lot=lot, serial=serial, count=count,
                                          expiry=expiry, net_kg=net_kg, separator=separator)
    scan = decode_scan(text, separator=None if separator == GS else separator)
    assert isinstance(scan, Scan), scan
    a = scan.attrs
    assert a["gtin"] == body + check_digit(body)
    assert (a["lot"], a["serial"], a["count"]) == (lot, serial, count)
    assert a["expiry"] == (expiry.isoformat() if expiry else None)
    assert a["net_kg"] == net_kg


@settings(max_examples=100, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_a_wrong_check_digit_is_always_caught(body):
    text = "]C1" + gs1_element_string(gtin=body, bad_check_digit=True, lot="L")
    result = decode_scan(text)
    assert isinstance(result, ScanError) and "check digit" in result.reason


def test_gs1_digital_link_uri_gives_gs1_attrs_and_other_urls_are_plain():
    scan = decode_scan(f"]Q1https://id.gs1.org/01/{GTIN}/10/ABC?17=271231")
    assert isinstance(scan, Scan), scan
    a = scan.attrs
    assert (a["gtin"], a["lot"], a["expiry"], a["digital_link"]) == \
        (GTIN, "ABC", "2027-12-31", True)
    bad = decode_scan(f"https://id.gs1.org/01/{GTIN[:-1]}3")
    assert isinstance(bad, ScanError) and "check digit" in bad.reason
    assert decode_scan("https://example.com/hello").attrs == \
        {"symbology": None, "code": "https://example.com/hello"}
