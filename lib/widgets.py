"""The labelling widget: mark where "hey joe" is in each recording of a folder.

Two layers:

- :class:`LabelSession` — plain Python, no display: the files, the current recording, its
  labels, suggestions, an undo history per file, span checks and saving. Every change is
  written at once, atomically, to the recording's Audacity label file (:mod:`lib.labels`),
  so a crashed kernel loses nothing. A malformed label file is never overwritten: the
  session refuses changes to that recording until the file is fixed (``reload()``).
- :class:`LabelWidget` — a thin ipywidgets + ipympl view on a session: waveform and
  spectrogram on one time axis, a range slider and buttons, mouse and keys.

Mouse: drag across the figure to mark a span; or click its start, then its end. Click a
label to select it. Scroll to zoom around the pointer; shift-drag (or right-drag) to pan.

Keys (click the figure first): ``n`` next file, ``p`` previous, ``u`` or ``ctrl+z`` undo,
``d``/``delete``/``backspace`` delete the selected (or last) label, ``a`` accept the best
suggestion, ``x`` checked: no trigger, ``+``/``-`` zoom, ``left``/``right`` pan, ``f`` whole
file, ``space`` play the visible span, ``escape`` cancel a half-marked span, ``r`` re-read
the label file (after fixing a malformed one by hand).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from lib import paths
from lib.errors import AudioError, HeyJoeError
from lib.labels import (
    TRIGGER_TEXT,
    Label,
    LabelFileError,
    SpanError,
    check_span,
    label_path,
    label_state,
    read_labels,
    write_labels,
)

log = logging.getLogger(__name__)

_NO_FILE = None  # an undo snapshot of "there was no label file"


class LabelSession:
    """Labelling state for a folder of recordings (see the module docstring)."""

    def __init__(
        self,
        folder: str | Path | None = None,
        sample_rate: int = 16000,
        suggester: Any = None,
        suggest_threshold: float | None = None,
        suggest_span_seconds: float = 0.6,
    ) -> None:
        from lib.audio import find_audio_files, read_audio

        self.folder = Path(folder) if folder is not None else paths.recordings_dir()
        self.sample_rate = int(sample_rate)
        self.suggester = suggester
        self.suggest_threshold = suggest_threshold
        self.suggest_span_seconds = suggest_span_seconds
        self.files: list[Path] = []
        self.unreadable: list[tuple[Path, str]] = []
        for path in find_audio_files(self.folder):
            if path.relative_to(self.folder).parts[0].startswith("."):
                continue
            try:
                read_audio(path)
            except AudioError as exc:
                self.unreadable.append((path, str(exc).removeprefix(f"{path}: ")))
                continue
            self.files.append(path)
        if self.unreadable:
            log.warning(
                "skipped %d unreadable audio file(s):\n%s",
                len(self.unreadable),
                "\n".join(f"  {p}: {why}" for p, why in self.unreadable),
            )
        self._undo: dict[Path, list[list[Label] | None]] = {}
        self._suggestions: dict[Path, list[Any]] = {}
        self.index = -1
        self.audio = np.zeros(0, dtype=np.float32)
        self.labels: list[Label] = []
        self.selected: int | None = None
        self.blocked: str | None = None
        self.message = ""
        if self.files:
            self.open(self.first_unlabelled())

    # ------------------------------------------------------------------ files

    @property
    def path(self) -> Path | None:
        return self.files[self.index] if 0 <= self.index < len(self.files) else None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def state(self, path: Path | None = None) -> str:
        """A file's label state, or ``"malformed"`` when its label file has bad lines."""
        path = path or self.path
        if path is None:
            return "none"
        try:
            return label_state(path)
        except LabelFileError:
            return "malformed"

    def progress(self) -> tuple[int, int]:
        """(files checked — labelled or marked as having no trigger —, all readable files)."""
        done = sum(self.state(p) in ("labelled", "no_trigger") for p in self.files)
        return done, len(self.files)

    def first_unlabelled(self) -> int:
        """Index of the first file nobody has checked (0 if all are)."""
        for i, p in enumerate(self.files):
            if self.state(p) == "unlabelled":
                return i
        return 0

    def open(self, i: int) -> None:
        """Load file ``i`` (its audio, labels and suggestions)."""
        from lib.audio import load_audio

        if not self.files:
            raise HeyJoeError(f"no readable recordings in {self.folder}")
        i = int(i) % len(self.files)
        path = self.files[i]
        self.index = i
        self.audio = load_audio(path, self.sample_rate)
        self.selected = None
        self.reload()

    def next(self) -> None:
        self.open(self.index + 1)

    def previous(self) -> None:
        self.open(self.index - 1)

    def reload(self) -> None:
        """Read the current file's labels again (after fixing a malformed file by hand)."""
        txt = label_path(self.path)
        self.blocked = None
        self.labels = []
        if txt.is_file():
            try:
                self.labels = read_labels(txt)
            except LabelFileError as exc:
                self.blocked = (
                    f"{exc}. Fix or delete the label file, then reload: it will not be overwritten"
                )
        self.message = self.blocked or ""

    # ------------------------------------------------------------------ suggestions

    @property
    def suggestions(self) -> list[Any]:
        """The model's suggested spans for the current file not covered by a label yet."""
        path = self.path
        if path is None or self.suggester is None:
            return []
        if path not in self._suggestions:
            from lib.handlabel import suggest_spans

            try:
                found = suggest_spans(
                    self.suggester,
                    self.audio,
                    self.sample_rate,
                    self.suggest_threshold,
                    self.suggest_span_seconds,
                )
            except Exception as exc:  # a broken model must not stop labelling
                log.warning("trigger model failed on %s: %s", path, exc)
                found = []
            self._suggestions[path] = found
        return [s for s in self._suggestions[path] if self._overlapping(s.start, s.end) is None]

    def accept_suggestion(self, i: int | None = None) -> Label:
        """Turn suggestion ``i`` (default: the best-scoring one) into a label."""
        pending = self.suggestions
        if not pending:
            raise SpanError("there is no suggestion to accept")
        s = max(pending, key=lambda s: s.score) if i is None else pending[int(i)]
        return self.add_span(s.start, min(s.end, self.duration))

    # ------------------------------------------------------------------ changes

    def _overlapping(self, start: float, end: float) -> int | None:
        for k, lab in enumerate(self.labels):
            if start < lab.end and lab.start < end:
                return k
        return None

    def _check_writable(self) -> None:
        if self.path is None:
            raise HeyJoeError("no recording is open")
        if self.blocked:
            raise HeyJoeError(self.blocked)

    def _commit(self, labels: list[Label] | None) -> None:
        """Record the undo snapshot, then write ``labels`` (None: remove the label file)."""
        txt = label_path(self.path)
        before = list(self.labels) if txt.is_file() else _NO_FILE
        self._undo.setdefault(self.path, []).append(before)
        self._write(labels)

    def _write(self, labels: list[Label] | None) -> None:
        txt = label_path(self.path)
        if labels is None:
            txt.unlink(missing_ok=True)
            self.labels = []
        else:
            write_labels(txt, labels)
            self.labels = sorted(labels, key=lambda lab: (lab.start, lab.end))
        self.selected = None

    def add_span(self, start: float, end: float, text: str = TRIGGER_TEXT) -> Label:
        """Add a trigger span (seconds) and save. Negative, reversed, empty spans, spans past
        the end of the audio and spans overlapping a label are refused (SpanError)."""
        self._check_writable()
        start, end = check_span(start, end, self.duration)
        k = self._overlapping(start, end)
        if k is not None:
            lab = self.labels[k]
            raise SpanError(
                f"span {start:.3f}–{end:.3f} s is refused: it overlaps the label "
                f"{lab.start:.3f}–{lab.end:.3f} s (delete that one first)"
            )
        label = Label(round(start, 6), round(end, 6), text)
        self._commit([*self.labels, label])
        self.selected = self.labels.index(label)
        self.message = f"added {label.start:.3f}–{label.end:.3f} s (saved)"
        return label

    def delete(self, i: int | None = None) -> Label:
        """Delete label ``i`` (default: the selected one, else the last) and save."""
        self._check_writable()
        if not self.labels:
            raise SpanError("there is no label to delete")
        i = (
            (self.selected if self.selected is not None else len(self.labels) - 1)
            if i is None
            else i
        )
        if not 0 <= i < len(self.labels):
            raise SpanError(f"there is no label {i} (this file has {len(self.labels)})")
        label = self.labels[i]
        self._commit([lab for k, lab in enumerate(self.labels) if k != i])
        self.message = f"deleted {label.start:.3f}–{label.end:.3f} s (saved)"
        return label

    def mark_no_trigger(self) -> None:
        """Mark the file as checked with no trigger in it (an empty label file)."""
        self._check_writable()
        if self.labels:
            raise SpanError(
                f"this file has {len(self.labels)} label(s): delete them first to mark it as "
                "having no trigger"
            )
        self._commit([])
        self.message = "checked: no trigger (saved)"

    def undo(self) -> bool:
        """Undo the last change to the current file (saved at once). False if there is none."""
        self._check_writable()
        history = self._undo.get(self.path, [])
        if not history:
            self.message = "nothing to undo"
            return False
        self._write(history.pop())
        self.message = "undone (saved)"
        return True

    def label_at(self, t: float, tolerance: float = 0.0) -> int | None:
        """Index of the label that contains time ``t`` (seconds), or None."""
        for k, lab in enumerate(self.labels):
            if lab.start - tolerance <= t <= lab.end + tolerance:
                return k
        return None


# ---------------------------------------------------------------------------- the view


def _wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    from lib.plots import wav_bytes

    return wav_bytes(audio, sample_rate)


class LabelWidget:
    """ipywidgets + ipympl view of a :class:`LabelSession` (display it in a notebook)."""

    #: seconds a press must move to count as a drag rather than a click
    DRAG_SECONDS = 0.02

    def __init__(self, session: LabelSession, height: float = 4.2) -> None:
        import ipywidgets as w
        from ipympl.backend_nbagg import Canvas, FigureManager
        from matplotlib.figure import Figure

        self.session = session
        self._pending: float | None = None  # first click of a click-click span
        self._drag: tuple[float, float, bool] | None = None  # (start x, view start, pan)
        self._drag_now: float | None = None
        self._syncing = False
        self.view = (0.0, max(session.duration, 1e-3))

        fig = Figure(figsize=(10, height), dpi=90)
        self.canvas = Canvas(fig)
        self.manager = FigureManager(self.canvas, 0)
        # matplotlib's own key bindings (pan, zoom, save...) would fight ours
        kid = getattr(self.manager, "key_press_handler_id", None)
        if kid is not None:
            self.canvas.mpl_disconnect(kid)
        self.canvas.toolbar_visible = False
        self.canvas.header_visible = False
        self.canvas.footer_visible = False
        self.canvas.resizable = False
        self.canvas.capture_scroll = True
        self.figure = fig
        self.ax_wave, self.ax_spec = fig.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]}
        )
        fig.subplots_adjust(left=0.06, right=0.99, top=0.97, bottom=0.1, hspace=0.05)
        for name, cb in (
            ("button_press_event", self._on_press),
            ("motion_notify_event", self._on_motion),
            ("button_release_event", self._on_release),
            ("scroll_event", self._on_scroll),
            ("key_press_event", self._on_key),
        ):
            self.canvas.mpl_connect(name, cb)

        def button(desc: str, tip: str, cb: Any, icon: str = "") -> Any:
            b = w.Button(description=desc, tooltip=tip, icon=icon, layout=w.Layout(width="auto"))
            b.on_click(lambda _b: self._act(cb))
            return b

        self.title = w.HTML()
        self.status = w.HTML()
        self.slider = w.FloatRangeSlider(
            value=self.view,
            min=0.0,
            max=self.view[1],
            step=0.01,
            description="view (s)",
            continuous_update=False,
            readout_format=".2f",
            layout=w.Layout(width="98%"),
        )
        self.slider.observe(self._on_slider, names="value")
        s = self.session
        self.buttons = {
            "previous": button("previous", "previous file (key p)", s.previous, "arrow-left"),
            "next": button("next", "next file (key n)", s.next, "arrow-right"),
            "zoom_in": button("zoom in", "zoom in (key +, or scroll)", lambda: self.zoom(0.5)),
            "zoom_out": button("zoom out", "zoom out (key -, or scroll)", lambda: self.zoom(2)),
            "whole": button("whole file", "show the whole file (key f)", self.show_all),
            "undo": button("undo", "undo the last change (key u or ctrl+z)", s.undo, "undo"),
            "delete": button(
                "delete", "delete the selected or last label (key d)", s.delete, "trash"
            ),
            "no_trigger": button(
                "no trigger", "checked: no trigger in this file (key x)", s.mark_no_trigger
            ),
            "accept": button(
                "accept suggestion",
                "turn the best suggestion into a label (key a)",
                s.accept_suggestion,
                "check",
            ),
            "reload": button(
                "reload labels",
                "re-read this file's label file (after fixing it by hand)",
                s.reload,
                "refresh",
            ),
            "play_all": button("play file", "play the whole file", self.play_all, "play"),
            "play_view": button(
                "play view", "play the visible span (key space)", self.play_view, "play"
            ),
        }
        self.player = w.Audio(
            value=b"", format="wav", autoplay=True, controls=True, layout=w.Layout(height="32px")
        )
        b = self.buttons
        rows = [
            w.HBox([b["previous"], b["next"], self.title]),
            self.canvas,
            self.slider,
            w.HBox(
                [
                    b["zoom_in"],
                    b["zoom_out"],
                    b["whole"],
                    b["play_view"],
                    b["play_all"],
                    self.player,
                ]
            ),
            w.HBox([b["undo"], b["delete"], b["no_trigger"], b["accept"], b["reload"]]),
            self.status,
        ]
        self.box = w.VBox(rows)
        self.box.add_class("heyjoe-label-widget")
        self._loaded: Path | None = None
        self._load_file()
        self.refresh()

    # ------------------------------------------------------------------ display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)

    def _act(self, fn: Any) -> None:
        """Run a user action; errors become the status message instead of tracebacks."""
        try:
            fn()
        except HeyJoeError as exc:
            self.session.message = f"<span style='color:#b00'>{exc}</span>"
        self.refresh()

    def refresh(self) -> None:
        """Redraw after any change (a new file re-plots; otherwise only the overlays)."""
        s = self.session
        if s.path != self._loaded:
            self._load_file()
        done, total = s.progress()
        name = s.path.relative_to(s.folder) if s.path else "(no recordings)"
        self.title.value = (
            f"<b>{name}</b> &nbsp; file {s.index + 1} of {total} &nbsp; "
            f"<span class='heyjoe-progress'>{done} / {total} checked</span> &nbsp; "
            f"state: <span class='heyjoe-state'>{s.state()}</span>"
        )
        labels = ", ".join(f"{lab.start:.2f}–{lab.end:.2f}" for lab in s.labels) or "none"
        sugg = ", ".join(f"{x.start:.2f}–{x.end:.2f} ({x.score:.2f})" for x in s.suggestions)
        skipped = ""
        if s.unreadable:
            skipped = "<br>unreadable, skipped: " + ", ".join(
                f"{p.name} ({why})" for p, why in s.unreadable
            )
        self.status.value = (
            f"<span class='heyjoe-view'>view {self.view[0]:.2f}–{self.view[1]:.2f} s</span>"
            f" · labels: <span class='heyjoe-labels'>{labels}</span>"
            + (f" · suggestions: {sugg}" if sugg else "")
            + (f" · pending start {self._pending:.2f} s" if self._pending is not None else "")
            + f"<br><span class='heyjoe-message'>{s.message}</span>{skipped}"
        )
        self._draw_overlays()

    def _load_file(self) -> None:
        from lib.features import FeatureConfig, compute_features

        s = self.session
        self._loaded = s.path
        self._pending = None
        for ax in (self.ax_wave, self.ax_spec):
            ax.clear()
        dur = max(s.duration, 1e-3)
        if len(s.audio):
            fc = FeatureConfig(sample_rate=s.sample_rate, n_mels=64, hop_seconds=0.01)
            spec = compute_features(s.audio, fc) if s.duration > 0.05 else np.zeros((1, 64))
            self.ax_spec.imshow(
                spec.T,
                origin="lower",
                aspect="auto",
                cmap="magma",
                extent=(0.0, dur, 0, fc.n_mels),
                interpolation="nearest",
            )
        self.ax_spec.set_ylabel("mel band")
        self.ax_spec.set_xlabel("seconds")
        (self._wave_line,) = self.ax_wave.plot([], [], lw=0.6, color="0.25")
        self.ax_wave.set_ylim(-1.0, 1.0)
        self.ax_wave.set_ylabel("wave")
        self.ax_wave.tick_params(labelbottom=False)
        self._overlays: list[Any] = []
        self._syncing = True
        try:
            self.slider.max = dur
            self.slider.min = 0.0
        finally:
            self._syncing = False
        self.set_view(0.0, dur)

    def _draw_wave(self) -> None:
        s = self.session
        a, b = self.view
        i, j = int(a * s.sample_rate), int(np.ceil(b * s.sample_rate))
        seg = s.audio[i:j]
        if len(seg) == 0:
            self._wave_line.set_data([], [])
            return
        buckets = 2000
        if len(seg) > 2 * buckets:  # min/max envelope keeps peaks visible
            step = len(seg) // buckets
            blocks = seg[: step * buckets].reshape(buckets, step)
            y = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).reshape(-1)
            t = np.repeat(i + np.arange(buckets) * step, 2) / s.sample_rate
        else:
            y, t = seg, (i + np.arange(len(seg))) / s.sample_rate
        self._wave_line.set_data(t, y)
        peak = float(np.max(np.abs(seg))) or 1.0
        self.ax_wave.set_ylim(-1.05 * peak, 1.05 * peak)

    def _draw_overlays(self) -> None:
        for artist in getattr(self, "_overlays", []):
            artist.remove()
        self._overlays = []
        s = self.session
        for k, lab in enumerate(s.labels):
            colour = "#1f9e3a" if k != s.selected else "#0b5d1e"
            for ax in (self.ax_wave, self.ax_spec):
                self._overlays.append(
                    ax.axvspan(
                        lab.start,
                        lab.end,
                        color=colour,
                        alpha=0.35 if k != s.selected else 0.6,
                        lw=0,
                    )
                )
        for sug in s.suggestions:
            for ax in (self.ax_wave, self.ax_spec):
                self._overlays.append(
                    ax.axvspan(
                        sug.start,
                        sug.end,
                        facecolor="#ff9f1c",
                        alpha=0.25,
                        edgecolor="#ff9f1c",
                        ls="--",
                        lw=1.2,
                    )
                )
            self._overlays.append(
                self.ax_wave.text(
                    sug.start,
                    0.95,
                    f"suggested {sug.score:.2f}",
                    color="#c06000",
                    fontsize=7,
                    va="top",
                    transform=self.ax_wave.get_xaxis_transform(),
                )
            )
        if self._pending is not None:
            for ax in (self.ax_wave, self.ax_spec):
                self._overlays.append(ax.axvline(self._pending, color="#1f77b4", lw=1.2))
        if self._drag is not None and not self._drag[2] and self._drag_now is not None:
            a, b = sorted((self._drag[0], self._drag_now))
            for ax in (self.ax_wave, self.ax_spec):
                self._overlays.append(ax.axvspan(a, b, color="#1f77b4", alpha=0.3, lw=0))
        self.canvas.draw_idle()

    # ------------------------------------------------------------------ view

    def set_view(self, start: float, end: float) -> None:
        """Show ``start``–``end`` seconds (clipped to the file; at least 50 ms wide)."""
        dur = max(self.session.duration, 1e-3)
        width = min(max(end - start, 0.05), dur)
        start = min(max(start, 0.0), dur - width)
        self.view = (start, start + width)
        self.ax_spec.set_xlim(*self.view)
        self._draw_wave()
        self._syncing = True
        try:
            self.slider.value = self.view
        finally:
            self._syncing = False
        self.canvas.draw_idle()

    def zoom(self, factor: float, centre: float | None = None) -> None:
        a, b = self.view
        c = (a + b) / 2 if centre is None else centre
        self.set_view(c - (c - a) * factor, c + (b - c) * factor)

    def pan(self, seconds: float) -> None:
        self.set_view(self.view[0] + seconds, self.view[1] + seconds)

    def show_all(self) -> None:
        self.set_view(0.0, self.session.duration)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        a, b = change["new"]
        self.set_view(a, b)
        self.refresh()

    # ------------------------------------------------------------------ audio

    def play_all(self) -> None:
        s = self.session
        self.player.value = _wav_bytes(s.audio, s.sample_rate)

    def play_view(self) -> None:
        s = self.session
        a, b = self.view
        self.player.value = _wav_bytes(
            s.audio[int(a * s.sample_rate) : int(b * s.sample_rate)], s.sample_rate
        )

    # ------------------------------------------------------------------ mouse and keys

    def _xdata(self, event: Any) -> float | None:
        if (
            getattr(event, "inaxes", None) in (self.ax_wave, self.ax_spec)
            and event.xdata is not None
        ):
            return float(event.xdata)
        if getattr(event, "x", None) is None:
            return None
        x, _ = self.ax_spec.transData.inverted().transform((event.x, 0))
        return float(x)

    def _on_press(self, event: Any) -> None:
        if getattr(event, "inaxes", None) not in (self.ax_wave, self.ax_spec):
            return
        x = self._xdata(event)
        if x is None:
            return
        pan = getattr(event, "button", 1) in (2, 3) or "shift" in str(getattr(event, "key", ""))
        self._drag = (x, self.view[0], pan)
        self._drag_x_px = getattr(event, "x", None)
        self._drag_now = x

    def _on_motion(self, event: Any) -> None:
        if self._drag is None:
            return
        x0, view0, pan = self._drag
        if pan:
            px0, px = getattr(self, "_drag_x_px", None), getattr(event, "x", None)
            if px0 is None or px is None:
                return
            bbox = self.ax_spec.get_window_extent()
            seconds_per_px = (self.view[1] - self.view[0]) / max(bbox.width, 1.0)
            width = self.view[1] - self.view[0]
            start = view0 - (px - px0) * seconds_per_px
            self.set_view(start, start + width)
            return
        x = self._xdata(event)
        if x is not None:
            self._drag_now = min(max(x, 0.0), self.session.duration)
            self._draw_overlays()

    def _on_release(self, event: Any) -> None:
        if self._drag is None:
            return
        x0, _, pan = self._drag
        x = self._xdata(event)
        x = self._drag_now if x is None else min(max(x, 0.0), self.session.duration)
        self._drag, self._drag_now = None, None
        if pan:
            self.refresh()
            return
        if x is not None and abs(x - x0) >= self.DRAG_SECONDS:
            self._pending = None
            self._act(lambda: self.session.add_span(min(x0, x), max(x0, x)))
            return
        self.click(x0)

    def click(self, t: float) -> None:
        """A click at ``t`` seconds: select the label there, else start or finish a span."""
        s = self.session
        if self._pending is not None:
            a, b = sorted((self._pending, t))
            self._pending = None
            self._act(lambda: s.add_span(a, b))
            return
        k = s.label_at(t)
        if k is not None:
            s.selected = k
            s.message = f"selected {s.labels[k].start:.3f}–{s.labels[k].end:.3f} s"
        else:
            self._pending = t
            s.message = f"span start at {t:.3f} s: click its end (escape cancels)"
        self.refresh()

    def _on_scroll(self, event: Any) -> None:
        x = self._xdata(event)
        up = getattr(event, "button", "up") == "up" or getattr(event, "step", 0) > 0
        self.zoom(0.8 if up else 1.25, x)
        self.refresh()

    def key(self, key: str) -> None:
        """Handle a key as the figure would (see the module docstring)."""
        s = self.session
        width = self.view[1] - self.view[0]
        actions = {
            "n": s.next,
            "p": s.previous,
            "u": s.undo,
            "ctrl+z": s.undo,
            "d": s.delete,
            "delete": s.delete,
            "backspace": s.delete,
            "a": s.accept_suggestion,
            "x": s.mark_no_trigger,
            "+": lambda: self.zoom(0.5),
            "=": lambda: self.zoom(0.5),
            "-": lambda: self.zoom(2.0),
            "left": lambda: self.pan(-0.25 * width),
            "right": lambda: self.pan(0.25 * width),
            "f": self.show_all,
            " ": self.play_view,
            "escape": self._cancel,
            "r": s.reload,
        }
        if key in actions:
            self._act(actions[key])

    def _cancel(self) -> None:
        self._pending = None
        self.session.message = "cancelled"

    def _on_key(self, event: Any) -> None:
        if getattr(event, "key", None):
            self.key(str(event.key))


def label_widget(
    folder: str | Path | None = None,
    suggester: Any = None,
    suggest_threshold: float | None = None,
    suggest_span_seconds: float = 0.6,
) -> LabelWidget:
    """The labelling widget for a folder of recordings (display the result in a notebook)."""
    session = LabelSession(
        folder,
        suggester=suggester,
        suggest_threshold=suggest_threshold,
        suggest_span_seconds=suggest_span_seconds,
    )
    return LabelWidget(session)


def widget_for(cfg: Any, folder: str | Path | None = None) -> LabelWidget:
    """The labelling widget for a :class:`lib.handlabel.HandLabelConfig` (suggestions from the
    trigger model when ``cfg.suggest`` and a model exists)."""
    from lib.handlabel import load_suggester

    suggester = load_suggester(cfg.suggest_model) if cfg.suggest else None
    return label_widget(
        folder if folder is not None else cfg.folder(),
        suggester=suggester,
        suggest_threshold=cfg.suggest_threshold,
        suggest_span_seconds=cfg.suggest_span_seconds,
    )
