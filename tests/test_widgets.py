"""The labelling session (no display) and its ipywidgets view, driven by simulated events."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lib.audio import write_wav
from lib.errors import HeyJoeError
from lib.handlabel import Suggestion
from lib.labels import Label, SpanError, label_path, read_labels, write_labels
from lib.widgets import LabelSession, LabelWidget

SR = 16000
# ipympl 0.10 passes extra arguments to its toolbar; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, seconds in (("a_1.wav", 4.0), ("b_1.wav", 3.0), ("c_1.wav", 2.0)):
        write_wav(tmp_path / name, (0.1 * rng.standard_normal(int(seconds * SR))), SR)
    (tmp_path / "zz_broken.wav").write_bytes(b"not audio at all")
    return tmp_path


def test_session_lists_unreadable_files_and_starts_at_the_first_unchecked(folder) -> None:
    write_labels(folder / "a_1.txt", [])
    s = LabelSession(folder)
    assert [p.name for p in s.files] == ["a_1.wav", "b_1.wav", "c_1.wav"]
    assert [p.name for p, _ in s.unreadable] == ["zz_broken.wav"]
    assert s.path.name == "b_1.wav" and s.duration == pytest.approx(3.0)
    assert s.progress() == (1, 3)


def test_every_change_is_saved_and_undo_goes_back_to_unlabelled(folder) -> None:
    s = LabelSession(folder)
    txt = label_path(s.path)
    assert not txt.exists()
    s.add_span(1.0, 1.5)
    assert read_labels(txt) == [Label(1.0, 1.5)]
    s.add_span(2.0, 2.6)
    assert len(read_labels(txt)) == 2 and s.progress() == (1, 3)
    s.selected = 0
    assert s.delete() == Label(1.0, 1.5)
    assert read_labels(txt) == [Label(2.0, 2.6)]
    assert s.undo() and len(read_labels(txt)) == 2
    assert s.undo() and read_labels(txt) == [Label(1.0, 1.5)]
    assert s.undo() and not txt.exists() and s.state() == "unlabelled"
    assert not s.undo()  # nothing left
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_no_trigger_is_an_empty_file(folder) -> None:
    s = LabelSession(folder)
    s.mark_no_trigger()
    assert label_path(s.path).read_bytes() == b"" and s.state() == "no_trigger"
    s.add_span(0.5, 1.0)
    with pytest.raises(SpanError, match="delete them first"):
        s.mark_no_trigger()


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [(-1.0, 0.5, "negative"), (2.0, 1.0, "before it starts"), (3.5, 4.5, "past the end")],
)
def test_bad_spans_are_refused_and_nothing_is_written(folder, start, end, why) -> None:
    s = LabelSession(folder)
    s.open(0)  # a_1.wav, 4 s
    with pytest.raises(SpanError, match=why):
        s.add_span(start, end)
    assert not label_path(s.path).exists()


def test_overlapping_span_is_refused(folder) -> None:
    s = LabelSession(folder)
    s.add_span(1.0, 2.0)
    with pytest.raises(SpanError, match="overlaps"):
        s.add_span(1.5, 2.5)
    assert len(s.labels) == 1


def test_malformed_label_file_blocks_changes_until_fixed(folder) -> None:
    bad = folder / "b_1.txt"
    bad.write_text("1.0\t2.0\they joe\noops\n")
    s = LabelSession(folder)
    s.open(1)
    assert s.state() == "malformed" and "line 2" in s.blocked
    for action in (lambda: s.add_span(0.1, 0.2), s.mark_no_trigger, s.undo):
        with pytest.raises(HeyJoeError, match="line 2"):
            action()
    assert bad.read_text() == "1.0\t2.0\they joe\noops\n"
    bad.write_text("1.0\t2.0\they joe\n")
    s.reload()
    assert s.blocked is None and s.labels == [Label(1.0, 2.0)]
    s.add_span(2.5, 2.9)
    assert len(read_labels(bad)) == 2


def test_navigation_wraps_and_undo_history_is_per_file(folder) -> None:
    s = LabelSession(folder)
    s.open(0)
    s.add_span(0.1, 0.4)
    s.next()
    assert s.path.name == "b_1.wav" and not s.labels
    s.previous()
    s.previous()
    assert s.path.name == "c_1.wav"
    s.next()
    assert s.labels == [Label(0.1, 0.4)]
    assert s.undo() and not label_path(s.path).exists()


def _fake_suggester(monkeypatch, spans):
    import lib.handlabel

    monkeypatch.setattr(
        lib.handlabel, "suggest_spans", lambda model, audio, sr, thr, span: list(spans)
    )
    return object()


def test_suggestions_are_accepted_best_first(folder, monkeypatch) -> None:
    model = _fake_suggester(monkeypatch, [Suggestion(0.5, 1.1, 0.7), Suggestion(2.0, 2.6, 0.9)])
    s = LabelSession(folder, suggester=model)
    assert len(s.suggestions) == 2
    s.accept_suggestion()
    assert s.labels == [Label(2.0, 2.6)]
    assert [x.score for x in s.suggestions] == [0.7]  # an accepted one is no longer suggested
    s.accept_suggestion(0)
    assert len(read_labels(label_path(s.path))) == 2
    with pytest.raises(SpanError, match="no suggestion"):
        s.accept_suggestion()


# ---------------------------------------------------------------------------- the view


def _event(w: LabelWidget, t: float | None, button=1, key=None, inaxes=True):
    x = None
    if t is not None:
        x, _ = w.ax_spec.transData.transform((t, 0))
    return SimpleNamespace(
        inaxes=w.ax_spec if inaxes else None, xdata=t, x=x, button=button, key=key, step=0
    )


def test_widget_mouse_drag_marks_a_span_and_saves(folder) -> None:
    w = LabelWidget(LabelSession(folder))
    w._on_press(_event(w, 0.8))
    w._on_motion(_event(w, 1.1))
    assert "1.1" not in w.status.value.split("labels:")[1]
    w._on_release(_event(w, 1.4))
    assert read_labels(label_path(w.session.path)) == [Label(0.8, 1.4)]
    assert "0.80–1.40" in w.status.value
    assert "1 / 3 checked" in w.title.value


def test_widget_right_to_left_drag_and_click_click(folder) -> None:
    w = LabelWidget(LabelSession(folder))
    w._on_press(_event(w, 2.0))
    w._on_release(_event(w, 1.5))
    w._on_press(_event(w, 0.2))
    w._on_release(_event(w, 0.2))  # a click: span start
    assert w._pending == pytest.approx(0.2)
    w.click(0.6)  # its end
    assert w.session.labels == [Label(0.2, 0.6), Label(1.5, 2.0)]
    w.click(1.7)  # on a label: selects it
    assert w.session.selected == 1
    w.key("d")
    assert read_labels(label_path(w.session.path)) == [Label(0.2, 0.6)]
    w.key("u")
    assert len(w.session.labels) == 2


def test_widget_zoom_pan_and_slider(folder) -> None:
    w = LabelWidget(LabelSession(folder))
    assert w.view == pytest.approx((0.0, 4.0))
    w._on_scroll(SimpleNamespace(**{**vars(_event(w, 1.0)), "button": "up", "step": 1}))
    a, b = w.view
    assert b - a == pytest.approx(3.2) and a < 1.0 < b
    assert w.slider.value == pytest.approx(w.view)
    w.slider.value = (1.0, 2.0)
    assert w.view == pytest.approx((1.0, 2.0))
    assert tuple(w.ax_spec.get_xlim()) == pytest.approx((1.0, 2.0))
    w.key("right")
    assert w.view == pytest.approx((1.25, 2.25))
    w._on_press(_event(w, 1.5, button=3))  # right-drag pans
    px = w.ax_spec.get_window_extent().width / 4
    w._on_motion(SimpleNamespace(**{**vars(_event(w, 1.5, button=3)), "x": w._drag_x_px + px}))
    w._on_release(_event(w, 1.5, button=3))
    assert w.view == pytest.approx((1.0, 2.0), abs=0.01)
    assert not w.session.labels  # panning marks nothing
    w.key("f")
    assert w.view == pytest.approx((0.0, 4.0))


def test_widget_keys_errors_become_messages_and_players_hold_the_span(folder) -> None:
    w = LabelWidget(LabelSession(folder))
    w._on_press(_event(w, -0.0))
    w._on_release(_event(w, 0.0))
    w.click(0.0)  # empty span: refused, shown, no traceback
    assert "refused" in w.status.value and not label_path(w.session.path).exists()
    w.key("x")
    assert w.session.state() == "no_trigger"
    w.key("n")
    assert w.session.path.name == "b_1.wav" and w.view == pytest.approx((0.0, 3.0))
    w.set_view(0.5, 1.5)
    w.play_view()
    import io

    import soundfile as sf

    data, sr = sf.read(io.BytesIO(w.player.value))
    assert sr == SR and len(data) == SR
    w.play_all()
    assert len(sf.read(io.BytesIO(w.player.value))[0]) == 3 * SR
    assert set(w.buttons) >= {"previous", "next", "undo", "delete", "accept", "play_view"}
    assert all(b.tooltip for b in w.buttons.values())


def test_widget_shows_suggestions_and_accepts_with_a_key(folder, monkeypatch) -> None:
    model = _fake_suggester(monkeypatch, [Suggestion(1.0, 1.6, 0.83)])
    w = LabelWidget(LabelSession(folder, suggester=model))
    assert "1.00–1.60 (0.83)" in w.status.value
    w.key("a")
    assert read_labels(label_path(w.session.path)) == [Label(1.0, 1.6)]
    assert "suggestions" not in w.status.value


def test_widget_on_an_empty_folder(tmp_path) -> None:
    w = LabelWidget(LabelSession(tmp_path))
    assert "no recordings" in w.title.value
    w.key("n")  # refused with a message, not a traceback
    assert "no readable recordings" in w.status.value


def test_widget_shows_why_a_malformed_file_cannot_be_changed(folder) -> None:
    bad = folder / "a_1.txt"
    bad.write_text("0.5\t0.1\treversed\n")
    w = LabelWidget(LabelSession(folder))
    w.session.open(0)
    w.refresh()
    assert "line 1" in w.status.value and "malformed" in w.title.value
    w._on_press(_event(w, 1.0))
    w._on_release(_event(w, 2.0))
    assert bad.read_text() == "0.5\t0.1\treversed\n" and "line 1" in w.status.value
    bad.write_text("0.1\t0.5\tfixed\n")
    w.key("r")
    assert "0.10–0.50" in w.status.value
    w._on_press(_event(w, 1.0))
    w._on_release(_event(w, 2.0))
    assert len(read_labels(bad)) == 2
