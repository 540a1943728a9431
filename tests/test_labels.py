"""Audacity label files: exact round trips, the three states, malformed files, span checks."""

from __future__ import annotations

import numpy as np
import pytest

from lib.labels import (
    Label,
    LabelFileError,
    SpanError,
    check_span,
    format_labels,
    label_path,
    label_state,
    parse_labels,
    read_labels,
    write_labels,
)

# As Audacity 3 exports a label track: "%f\t%f\t%s\n", spectral selections on "\" lines.
AUDACITY_TEXT = (
    "0.512000\t1.134500\they joe\n"
    "3.000000\t3.000000\tpoint label\n"
    "4.250000\t5.001234\they joe, play some jazz\n"
    "\\\t120.000000\t3999.500000\n"
    "7.100000\t7.900000\t\n"
    "12.000001\t13.999999\tcafé ünïcode\n"
)


def test_audacity_file_round_trips_byte_for_byte(tmp_path) -> None:
    src = tmp_path / "rec.txt"
    src.write_bytes(AUDACITY_TEXT.encode())
    labels = read_labels(src)
    assert len(labels) == 5
    assert labels[0] == Label(0.512, 1.1345, "hey joe")
    assert (labels[2].low_hz, labels[2].high_hz) == (120.0, 3999.5)
    assert labels[3].text == ""
    out = tmp_path / "out.txt"
    write_labels(out, labels)
    assert out.read_bytes() == src.read_bytes()


def test_values_survive_a_write_and_read(tmp_path) -> None:
    rng = np.random.default_rng(0)
    starts = np.sort(rng.uniform(0, 100, 50))
    labels = [
        Label(float(s), float(s + d), f"t{i}")
        for i, (s, d) in enumerate(zip(starts, rng.uniform(0.01, 2, 50), strict=True))
    ]
    path = write_labels(tmp_path / "x.txt", labels)
    back = read_labels(path)
    assert [b.text for b in back] == [lab.text for lab in labels]
    np.testing.assert_allclose([b.start for b in back], [lab.start for lab in labels], atol=5e-7)
    np.testing.assert_allclose([b.end for b in back], [lab.end for lab in labels], atol=5e-7)
    # and a second round trip changes nothing at all
    assert format_labels(read_labels(path)) == path.read_text()


def test_windows_line_endings_and_two_field_lines_are_read() -> None:
    labels = parse_labels("1.5\t2.5\they joe\r\n3\t4\r\n\r\n")
    assert labels == [Label(1.5, 2.5, "hey joe"), Label(3.0, 4.0, "")]


def test_states_no_file_empty_file_labels(tmp_path) -> None:
    wav = tmp_path / "a.wav"
    assert label_path(wav) == tmp_path / "a.txt"
    assert label_state(wav) == "unlabelled"
    write_labels(label_path(wav), [])
    assert label_path(wav).read_bytes() == b""
    assert label_state(wav) == "no_trigger"
    write_labels(label_path(wav), [Label(1, 2)])
    assert label_state(wav) == "labelled"


def test_malformed_lines_are_reported_with_their_numbers(tmp_path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1.0\t2.0\tok\njunk line\n3.0\tabc\tx\n5.0\t4.0\treversed\n\\\t1\n")
    with pytest.raises(LabelFileError) as err:
        read_labels(path)
    lines = [n for n, _ in err.value.problems]
    assert lines == [2, 3, 4, 5]
    message = str(err.value)
    assert str(path) in message and "line 2" in message and "line 4" in message
    with pytest.raises(LabelFileError):
        label_state(tmp_path / "bad.wav")


def test_a_malformed_file_is_never_overwritten(tmp_path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("nonsense\n")
    with pytest.raises(LabelFileError, match="line 1"):
        write_labels(path, [Label(1, 2)])
    assert path.read_text() == "nonsense\n"


def test_non_utf8_file_is_malformed(tmp_path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LabelFileError, match="UTF-8"):
        read_labels(path)


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (-0.5, 1.0, "negative"),
        (2.0, 1.0, "ends before it starts"),
        (1.0, 1.0, "empty"),
        (9.0, 10.5, "past the end"),
        ("a", 1.0, "numbers"),
        (float("nan"), 1.0, "finite"),
    ],
)
def test_bad_spans_are_refused_with_a_message(start, end, why) -> None:
    with pytest.raises(SpanError, match=why):
        check_span(start, end, duration=10.0)


def test_good_span_passes() -> None:
    assert check_span(1, 2.5, duration=10.0) == (1.0, 2.5)
    assert check_span(9.0, 10.0, duration=10.0) == (9.0, 10.0)


def test_labels_are_written_sorted_and_one_line_each(tmp_path) -> None:
    path = write_labels(tmp_path / "s.txt", [Label(5, 6), Label(1, 2)])
    assert path.read_text().splitlines()[0].startswith("1.000000\t2.000000")
    with pytest.raises(ValueError, match="one line"):
        format_labels([Label(1, 2, "two\nlines")])
