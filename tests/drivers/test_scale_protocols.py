"""Scale parsers, framers and the weighing rule: pure, no ports (see docs/architecture.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DecodeError
from drivers.scale_protocols import (
    PARSERS, FrameError, ScaleFrame, parse_generic, parse_mt_sics, parse_sbi, parse_toledo,
    toledo_checksum,
)
from drivers.backoff import Backoff
from drivers.serial_port import LineFramer, StxFramer
from drivers.serial_scale import Weighings
from simulators.scale import generic_frame, mt_sics_frame, sbi_frame, toledo_frame


def _line(frame: bytes) -> bytes:
    assert frame.endswith(b"\r\n")
    return frame[:-2]


# --- MT-SICS, as the manual writes the responses ------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (b"S S      100.00 g", ScaleFrame("stable", 100.0, "g", 2)),
    (b"S S     -12.345 kg", ScaleFrame("stable", -12.345, "kg", 3)),
    (b"S D       99.80 g", ScaleFrame("dynamic", 99.8, "g", 2)),
    (b"S S        1.5 lb", ScaleFrame("stable", 1.5, "lb", 1)),
    (b"S I", ScaleFrame("busy", message="S I")),
    (b"S +", ScaleFrame("overload", message="S +")),
    (b"S -", ScaleFrame("underload", message="S -")),
])
def test_mt_sics_weight_and_status_responses(line, expected):
    assert parse_mt_sics(line) == expected


@pytest.mark.parametrize("code", ["ES", "ET", "EL"])
def test_mt_sics_error_responses_are_error_frames_naming_the_code(code):
    frame = parse_mt_sics(code.encode())
    assert frame.status == "error"
    assert frame.message.startswith(code)
    assert frame.weight is None


@pytest.mark.parametrize("line, reason", [
    (b"", "empty line"),
    (b"S S      abc g", "weight 'abc' is not a number"),
    (b"S S      100.00 oz", "unit 'oz' is not one of"),
    (b"S X      100.00 g", "malformed weight response"),
    (b"S Q", "unknown status 'Q'"),
    (b"I4 A \"123\"", "unexpected response"),
    (b"S S \xff 100.00 g", "not printable ASCII"),
])
def test_mt_sics_garbage_is_an_error_value_with_reason_and_raw(line, reason):
    result = parse_mt_sics(line)
    assert isinstance(result, FrameError)
    assert reason in result.reason
    assert result.raw == line


# --- Toledo continuous output ----------------------------------------------------------------

def _toledo(swa: int, swb: int, swc: int, weight: bytes, tare: bytes) -> bytes:
    body = bytes([0x02, swa, swb, swc]) + weight + tare + b"\r"
    return body + bytes([toledo_checksum(body)])


def test_toledo_checksum_is_twos_complement_of_byte_sum_7_bits():
    frame = toledo_frame(12.34, unit="kg", decimals=2)
    assert (sum(frame[:17]) + frame[17]) & 0x7F == 0
    assert frame[17] < 0x80


def test_toledo_status_words_decode_point_motion_net_and_units():
    # A: bit5 const | x1 increment | point code 4 = 0.0X ; B: bit5 const | net | kg
    frame = parse_toledo(_toledo(0x20 | 0x08 | 4, 0x20 | 0x01 | 0x10, 0x20, b"001234", b"000050"))
    assert frame == ScaleFrame("stable", 12.34, "kg", 2, "net", 0.5)
    # motion bit
    assert parse_toledo(_toledo(0x2C, 0x20 | 0x08 | 0x10, 0x20, b"001234", b"000000")).status \
        == "dynamic"
    # lb when the kg bit is clear; point code 2 = no decimals; gross minus tare
    frame = parse_toledo(_toledo(0x2A, 0x20, 0x20, b"000150", b"000010"))
    assert (frame.weight, frame.unit, frame.decimals, frame.basis) == (140.0, "lb", 0, "net")
    # point code 1 = the display counts in tens
    assert parse_toledo(_toledo(0x29, 0x30, 0x20, b"000015", b"000000")).weight == 150.0
    # status word C unit code 1 = grams
    assert parse_toledo(_toledo(0x2C, 0x30, 0x21, b"012345", b"000000")).unit == "g"
    # negative weight
    assert parse_toledo(_toledo(0x2C, 0x30 | 0x02, 0x20, b"000100", b"000000")).weight == -1.0


def test_toledo_out_of_range_is_overload_or_underload_by_sign():
    assert parse_toledo(_toledo(0x2C, 0x30 | 0x04, 0x20, b"000000", b"000000")).status \
        == "overload"
    assert parse_toledo(_toledo(0x2C, 0x30 | 0x04 | 0x02, 0x20, b"000000", b"000000")).status \
        == "underload"


def test_toledo_vendor_constant_bits_and_parity_are_masked():
    plain = _toledo(0x2C, 0x30, 0x20, b"001000", b"000000")
    # bit 5 cleared and bit 6 set in every status word: other indicators differ there
    odd = bytearray(_toledo(0x0C | 0x40, 0x10 | 0x40, 0x40, b"001000", b"000000"))
    # parity bit (bit 7) set on some bytes, as a 7E1 line read as 8N1 delivers them
    odd[4] |= 0x80
    odd[17] = toledo_checksum(bytes(odd[:17]))
    assert parse_toledo(bytes(odd)).weight == parse_toledo(plain).weight == 10.0


@pytest.mark.parametrize("mutate, reason", [
    (lambda f: f[:17] + bytes([(f[17] + 1) & 0x7F]), "checksum"),
    (lambda f: f[:-1], "expected 18"),
    (lambda f: b"\x03" + f[1:], "STX"),
    (lambda f: f[:5] + b"X" + f[6:17] + bytes([toledo_checksum(f[:5] + b"X" + f[6:17])]),
     "not 6 digits"),
    (lambda f: f[:3] + b"\x25" + f[4:17] + bytes([toledo_checksum(f[:3] + b"\x25" + f[4:17])]),
     "unit code 5"),
])
def test_toledo_corrupt_frames_are_error_values(mutate, reason):
    bad = mutate(toledo_frame(5.0, unit="kg", decimals=2))
    result = parse_toledo(bad)
    assert isinstance(result, FrameError)
    assert reason in result.reason
    assert result.raw == bad


# --- Sartorius SBI ---------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (b"+    123.56 g  ", ScaleFrame("stable", 123.56, "g", 2)),
    (b"-      0.50 kg ", ScaleFrame("stable", -0.5, "kg", 2)),
    (b"+    123.56     ", ScaleFrame("dynamic", 123.56, None, 2)),
    (b"N     +    123.56 g  ", ScaleFrame("stable", 123.56, "g", 2)),
    (b"G#    +    130.00 g  ", ScaleFrame("stable", 130.0, "g", 2, basis="gross")),
    (b"T     +      6.44 g  ", ScaleFrame("other", 6.44, "g", 2, message="SBI T line")),
    (b"    High        ", ScaleFrame("overload")),
    (b"    Low         ", ScaleFrame("underload")),
    (b"  Err 54", ScaleFrame("error", message="Err 54")),
])
def test_sbi_lines(line, expected):
    assert parse_sbi(line) == expected


@pytest.mark.parametrize("line", [b"", b"hello world", b"+ 12.3.4 g", b"+ 12 furlongs"])
def test_sbi_garbage_is_an_error_value(line):
    result = parse_sbi(line)
    assert isinstance(result, FrameError) and result.raw == line


# --- generic indicator ------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (b"ST,GS,  18.000kg", ScaleFrame("stable", 18.0, "kg", 3, "gross")),
    (b"ST,NT,+  2.500kg", ScaleFrame("stable", 2.5, "kg", 3, "net")),
    (b"US,NT,   2.480kg", ScaleFrame("dynamic", 2.48, "kg", 3, "net")),
    (b"ST,GS,  1250.0 g", ScaleFrame("stable", 1250.0, "g", 1, "gross")),
    (b"OL", ScaleFrame("overload")),
    (b"OL,GS,-99.999kg", ScaleFrame("underload")),
    (b"ST,TR,   0.250kg", ScaleFrame("other", 0.25, "kg", 3, message="tare line")),
])
def test_generic_lines(line, expected):
    assert parse_generic(line) == expected


@pytest.mark.parametrize("line", [b"ST", b"ST,GS,  18.000", b"XX,GS,1kg", b"ST,GS,1.0 stone"])
def test_generic_garbage_is_an_error_value(line):
    result = parse_generic(line)
    assert isinstance(result, FrameError) and result.raw == line


# --- properties: never raise, round trip -------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=40), protocol=st.sampled_from(sorted(PARSERS)))
def test_every_parser_returns_a_value_on_arbitrary_bytes(raw, protocol):
    result = PARSERS[protocol](raw)
    assert isinstance(result, (ScaleFrame, FrameError))
    if isinstance(result, FrameError):
        assert result.raw == raw and result.reason


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(min_size=18, max_size=18))
def test_toledo_on_arbitrary_18_byte_frames(raw):
    raw = b"\x02" + raw[1:16] + b"\r" + raw[17:]  # get past the framing checks
    assert isinstance(parse_toledo(raw), (ScaleFrame, FrameError))


units = st.sampled_from(["kg", "g", "lb"])


@settings(max_examples=200, deadline=None)
@given(w=st.integers(-999_999, 999_999), decimals=st.integers(0, 4), unit=units,
       stable=st.booleans())
def test_mt_sics_round_trip(w, decimals, unit, stable):
    weight = w / 10 ** decimals
    frame = parse_mt_sics(_line(mt_sics_frame("S" if stable else "D", weight, unit, decimals)))
    assert frame.weight == pytest.approx(weight, abs=10 ** -(decimals + 3))
    assert (frame.unit, frame.decimals) == (unit, decimals)
    assert frame.status == ("stable" if stable else "dynamic")


@settings(max_examples=300, deadline=None)
@given(w=st.integers(-999_999, 999_999), t=st.integers(0, 999_999), decimals=st.integers(0, 5),
       unit=units, motion=st.booleans(), net=st.booleans())
def test_toledo_round_trip_with_checksum(w, t, decimals, unit, motion, net):
    weight, tare = w / 10 ** decimals, t / 10 ** decimals
    raw = toledo_frame(weight, tare, unit, decimals, motion=motion, net=net)
    frame = parse_toledo(raw)
    assert isinstance(frame, ScaleFrame), frame
    expected = weight if net else weight - tare
    assert frame.weight == pytest.approx(expected, abs=10 ** -(decimals + 3))
    assert frame.tare == pytest.approx(tare)
    assert (frame.unit, frame.decimals) == (unit, decimals)
    assert frame.status == ("dynamic" if motion else "stable")


@settings(max_examples=200, deadline=None)
@given(w=st.integers(-99_999_999, 99_999_999), decimals=st.integers(0, 4), unit=units,
       stable=st.booleans())
def test_sbi_round_trip(w, decimals, unit, stable):
    weight = w / 10 ** decimals
    frame = parse_sbi(_line(sbi_frame(weight, unit if stable else None, decimals)))
    assert frame.weight == pytest.approx(weight, abs=10 ** -(decimals + 3))
    assert frame.status == ("stable" if stable else "dynamic")
    assert frame.unit == (unit if stable else None)


@settings(max_examples=200, deadline=None)
@given(w=st.integers(-9_999_999, 9_999_999), decimals=st.integers(0, 3), unit=units,
       stable=st.booleans(), net=st.booleans())
def test_generic_round_trip(w, decimals, unit, stable, net):
    weight = w / 10 ** decimals
    frame = parse_generic(_line(generic_frame(weight, unit, decimals, stable=stable, net=net)))
    assert frame.weight == pytest.approx(weight, abs=10 ** -(decimals + 3))
    assert (frame.status, frame.unit) == ("stable" if stable else "dynamic", unit)
    assert frame.basis == ("net" if net else "gross")


# --- framers: a frame split anywhere is reassembled -------------------------------------------

def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.binary(min_size=1, max_size=30).filter(
           lambda b: b"\r" not in b and b"\n" not in b), max_size=8),
       ending=st.sampled_from([b"\r", b"\n", b"\r\n"]),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_line_framer_reassembles_lines_however_the_stream_is_cut(lines, ending, cuts):
    stream = b"".join(line + ending for line in lines)
    framer = LineFramer()
    out = [f for chunk in _chunks(stream, cuts) for f in framer.feed(chunk)]
    assert out == lines


def test_line_framer_hands_out_an_overlong_line_as_decode_error_with_its_bytes():
    framer = LineFramer(max_len=16)
    out = framer.feed(b"x" * 20)
    assert len(out) == 1 and isinstance(out[0], DecodeError) and out[0].raw == b"x" * 20
    assert framer.feed(b"ok\r\n") == [b"ok"]


@settings(max_examples=200, deadline=None)
@given(ws=st.lists(st.integers(0, 999_999), min_size=1, max_size=6),
       cuts=st.lists(st.integers(0, 200), max_size=10))
def test_stx_framer_reassembles_toledo_frames_however_the_stream_is_cut(ws, cuts):
    frames = [toledo_frame(w / 100, unit="kg", decimals=2) for w in ws]
    framer = StxFramer(18)
    out = [f for chunk in _chunks(b"".join(frames), cuts) for f in framer.feed(chunk)]
    assert out == frames


def test_stx_framer_reports_junk_between_frames_and_resyncs():
    good = toledo_frame(1.0, unit="kg", decimals=2)
    framer = StxFramer(18)
    out = framer.feed(b"noise" + good + b"\x02short\r\n" + good)
    assert out[0].raw == b"noise" and "before the first frame" in str(out[0])
    assert out[1] == good
    assert isinstance(out[2], DecodeError) and out[2].raw == b"\x02short\r\n"
    assert "outside any STX frame" in str(out[2])
    assert out[3] == good
    framer.reset()  # reopened: the next junk is again the tail of a cut frame
    assert "before the first frame" in str(framer.feed(good[5:] + good)[0])


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=120), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_stx_framer_never_loses_a_byte(raw, cuts):
    framer = StxFramer(18)
    out = [f for chunk in _chunks(raw, cuts) for f in framer.feed(chunk)]
    emitted = b"".join(f.raw if isinstance(f, DecodeError) else f for f in out)
    assert raw.startswith(emitted)
    assert len(raw) - len(emitted) < 18  # only a possible frame start is still waiting


def test_backoff_doubles_to_the_cap_and_resets():
    b = Backoff(0.2, 5.0)
    assert [b.next() for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    b.reset()
    assert b.next() == 0.2


# --- one weighing = one emit --------------------------------------------------------------------

def _stable(w: float, unit: str = "kg", decimals: int = 3) -> ScaleFrame:
    return ScaleFrame("stable", w, unit, decimals)


def test_weighings_emit_once_per_settled_load():
    rule = Weighings()
    seq = [
        (ScaleFrame("dynamic", 4.0, "kg", 3), False),
        (_stable(5.0), True),
        (_stable(5.0), False),
        (_stable(5.001), False),          # within one division / 0.5 %: same load
        (ScaleFrame("overload"), False),
        (_stable(5.0), False),            # still the same load after the overload
        (_stable(6.0), True),             # a different load without emptying
        (_stable(0.0), False),            # emptied: re-armed
        (_stable(6.0), True),             # the same weight again is a new weighing
        (_stable(-0.5), False),           # container removed: negative net re-arms too
        (_stable(6.0), True),
        (ScaleFrame("error", message="EL"), False),
        (_stable(0.002), False),          # within two divisions of zero: empty
        (_stable(6000.0, "g", 1), True),  # unit change counts as a weighing after empty
        (_stable(6.0, "kg", 3), False),   # same load in another unit
    ]
    assert [rule.observe(frame) for frame, _ in seq] == [emit for _, emit in seq]


@settings(max_examples=200, deadline=None)
# Loads within two divisions of zero count as an empty scale (the zero band).
@given(loads=st.lists(st.integers(3, 50_000), max_size=10), repeats=st.integers(1, 5))
def test_weighings_n_loads_with_zero_between_give_n_emits(loads, repeats):
    rule = Weighings()
    emits = 0
    for load in loads:
        for _ in range(repeats):
            emits += rule.observe(ScaleFrame("dynamic", load / 1000, "kg", 3))
            emits += rule.observe(_stable(load / 1000))
        emits += rule.observe(_stable(0.0))
    assert emits == len(loads)


frames = st.builds(
    ScaleFrame,
    status=st.sampled_from(["stable", "dynamic", "overload", "underload", "busy", "error"]),
    weight=st.none() | st.integers(-2000, 20_000).map(lambda g: g / 1000),
    unit=st.just("kg"), decimals=st.just(3))


@settings(max_examples=300, deadline=None)
@given(seq=st.lists(frames, max_size=40))
def test_weighings_emit_only_settled_loads_and_never_the_same_load_twice(seq):
    rule = Weighings()
    last_emitted, emptied = None, True
    for frame in seq:
        emitted = rule.observe(frame)
        stable = frame.status == "stable" and frame.weight is not None
        if emitted:
            assert stable and frame.weight > 0.002
            if last_emitted is not None and not emptied:
                assert abs(frame.weight - last_emitted) > max(0.005 * last_emitted, 0.001)
            last_emitted, emptied = frame.weight, False
        elif stable and frame.weight <= 0.002:
            emptied = True
        elif stable and (last_emitted is None or emptied):
            raise AssertionError(f"a settled load after an empty scale was missed: {frame}")
