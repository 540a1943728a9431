"""Hand labels as Audacity label tracks: ``NAME.txt`` beside ``NAME.wav``.

One line per label, ``start<TAB>end<TAB>text``, times in seconds written as Audacity writes
them (``%f``: six decimals), so a file opens in Audacity (File → Import → Labels) and a file
exported from Audacity reads back and writes out byte for byte. Audacity's optional spectral
selection lines (``\\<TAB>low_hz<TAB>high_hz`` after a label) are kept with their label.

The three states of a recording:

- no label file            → ``"unlabelled"`` (nobody has looked at it yet);
- an empty label file      → ``"no_trigger"`` (checked: there is no trigger in it);
- a file with labels       → ``"labelled"`` (each label is one trigger span).

A file with malformed lines raises :class:`LabelFileError` listing every bad line with its
number; nothing in ``lib`` ever writes over such a file (see :func:`write_labels`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lib.errors import HeyJoeError
from lib.files import write_text

#: The text given to spans marked in the labelling widget.
TRIGGER_TEXT = "hey joe"

LabelState = Literal["unlabelled", "no_trigger", "labelled"]


class LabelFileError(HeyJoeError, ValueError):
    """A label file has malformed lines; ``problems`` holds ``(line number, what is wrong)``."""

    def __init__(self, path: Path | str, problems: list[tuple[int, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = "; ".join(f"line {n}: {why}" for n, why in problems)
        super().__init__(f"{self.path}: malformed label file ({lines})")


class SpanError(HeyJoeError, ValueError):
    """A span that cannot be a label: negative, reversed, empty or past the end of the audio."""


@dataclass(frozen=True)
class Label:
    """One labelled span in seconds; ``low_hz``/``high_hz``: Audacity's spectral selection."""

    start: float
    end: float
    text: str = TRIGGER_TEXT
    low_hz: float | None = None
    high_hz: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def format_seconds(value: float) -> str:
    """A time as Audacity writes it (C's ``%f``: six decimals)."""
    return f"{value:f}"


def label_path(audio_path: str | os.PathLike) -> Path:
    """The label file of a recording: the same name with ``.txt``."""
    return Path(audio_path).with_suffix(".txt")


def _number(text: str, what: str) -> float:
    value = float(text)  # ValueError on junk
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def parse_labels(text: str, where: str | os.PathLike = "<labels>") -> list[Label]:
    """Parse the text of an Audacity label file; raises LabelFileError naming every bad line."""
    labels: list[Label] = []
    problems: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if fields[0] == "\\":
            # spectral selection of the label before: "\<TAB>low<TAB>high"
            if not labels or labels[-1].low_hz is not None:
                problems.append((n, "a frequency line (\\) must follow a label line"))
                continue
            try:
                if len(fields) != 3:
                    raise ValueError("needs '\\<TAB>low_hz<TAB>high_hz'")
                low, high = _number(fields[1], "low_hz"), _number(fields[2], "high_hz")
            except ValueError as exc:
                problems.append((n, f"bad frequency line {line!r} ({_why(exc)})"))
                continue
            last = labels[-1]
            labels[-1] = Label(last.start, last.end, last.text, low, high)
            continue
        if len(fields) < 2:
            problems.append((n, f"expected 'start<TAB>end<TAB>label', got {line!r}"))
            continue
        try:
            start = _number(fields[0], "start")
            end = _number(fields[1], "end")
        except ValueError as exc:
            problems.append((n, f"times must be numbers of seconds, got {line!r} ({_why(exc)})"))
            continue
        if start < 0 or end < start:
            problems.append((n, f"span {start:g}–{end:g} s is negative or reversed"))
            continue
        labels.append(Label(start, end, "\t".join(fields[2:])))
    if problems:
        raise LabelFileError(where, problems)
    return labels


def _why(exc: ValueError) -> str:
    return str(exc).replace("could not convert string to float: ", "not a number: ")


def read_labels(txt: str | os.PathLike) -> list[Label]:
    """Read an Audacity label file. Raises LabelFileError (with line numbers) if malformed,
    FileNotFoundError if it does not exist."""
    path = Path(txt)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LabelFileError(path, [(0, f"not UTF-8 text ({exc.reason})")]) from None
    return parse_labels(text, path)


def format_labels(labels: list[Label]) -> str:
    """Labels as the text of an Audacity label file (empty string for no labels)."""
    out = []
    for lab in labels:
        if "\n" in lab.text or "\r" in lab.text:
            raise ValueError(f"label text {lab.text!r} must be one line")
        out.append(f"{format_seconds(lab.start)}\t{format_seconds(lab.end)}\t{lab.text}\n")
        if lab.low_hz is not None and lab.high_hz is not None:
            out.append(f"\\\t{format_seconds(lab.low_hz)}\t{format_seconds(lab.high_hz)}\n")
    return "".join(out)


def write_labels(txt: str | os.PathLike, labels: list[Label]) -> Path:
    """Write labels atomically in Audacity's format. An empty list writes an empty file
    ("checked, no trigger"). Refuses (LabelFileError) to replace a malformed file."""
    path = Path(txt)
    if path.exists():
        read_labels(path)  # raises on a malformed file: it is never overwritten silently
    return write_text(path, format_labels(sorted(labels, key=lambda lab: (lab.start, lab.end))))


def label_state(audio_path: str | os.PathLike) -> LabelState:
    """``"unlabelled"`` (no label file), ``"no_trigger"`` (empty) or ``"labelled"``.

    Raises LabelFileError if the label file is malformed.
    """
    txt = label_path(audio_path)
    if not txt.is_file():
        return "unlabelled"
    return "labelled" if read_labels(txt) else "no_trigger"


def check_span(start: float, end: float, duration: float | None = None) -> tuple[float, float]:
    """``(start, end)`` as floats if they make a label; SpanError says why not.

    Refused: non-numbers, negative times, reversed or empty spans, and spans past
    ``duration`` (the length of the recording, seconds) when given.
    """
    try:
        start, end = float(start), float(end)
    except (TypeError, ValueError):
        raise SpanError(f"span times must be numbers of seconds, got {start!r}, {end!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise SpanError(f"span times must be finite, got {start!r}, {end!r}")
    if start < 0 or end < 0:
        raise SpanError(f"span {start:.3f}–{end:.3f} s is refused: times cannot be negative")
    if end < start:
        raise SpanError(f"span {start:.3f}–{end:.3f} s is refused: it ends before it starts")
    if end == start:
        raise SpanError(f"span {start:.3f}–{end:.3f} s is refused: it is empty")
    if duration is not None and end > duration + 1e-6:
        raise SpanError(
            f"span {start:.3f}–{end:.3f} s is refused: it goes past the end of the audio "
            f"({duration:.3f} s)"
        )
    return start, end
