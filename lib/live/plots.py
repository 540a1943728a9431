"""What notebook 06 shows: the trigger score over time with the threshold and the detections,
for a finished recording (:func:`score_plot`) or scrolling while listening
(:class:`ScrollingScores`)."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from lib.plots import _pyplot


def score_plot(run: Any, threshold: float, sample_rate: int = 16000) -> Any:
    """Waveform and score of one :class:`lib.live.demo.RecordingRun`: the threshold (dotted),
    what was said (green: trigger + command, grey: other speech), detections (red) and the
    resulting actions written beside them."""
    from lib.audio import load_audio

    plt = _pyplot()
    audio = load_audio(run.path, sample_rate)
    fig, axes = plt.subplots(2, 1, figsize=(11, 3.6), sharex=True)
    t = np.arange(len(audio)) / sample_rate
    step = max(1, len(audio) // 20000)
    axes[0].plot(t[::step], audio[::step], lw=0.5, color="0.2")
    axes[0].set_title(f"{run.path.name} ({run.truth.voice})")
    axes[1].plot(run.times, run.scores, color="tab:blue", lw=1)
    axes[1].axhline(threshold, color="tab:red", ls=":", lw=1)
    axes[1].set_ylim(-0.05, 1.15)
    axes[1].set_ylabel("score")
    axes[1].set_xlabel("seconds")
    for seg in run.truth.commands:
        for ax in axes:
            ax.axvspan(seg.start, seg.end, color="tab:green", alpha=0.18, lw=0)
        axes[0].text(seg.start, axes[0].get_ylim()[1] * 0.8, seg.text, fontsize=8)
    for seg in run.truth.other:
        for ax in axes:
            ax.axvspan(seg.start, seg.end, color="0.5", alpha=0.15, lw=0)
        axes[0].text(seg.start, axes[0].get_ylim()[1] * 0.8, seg.text, fontsize=8, color="0.4")
    last_det = None
    for ev in run.events:
        if ev.kind == "detection":
            last_det = ev.time
            axes[1].axvline(ev.time, color="tab:red", lw=1.2)
        elif ev.kind in ("action", "not_understood", "no_speech", "asr_error") and last_det:
            axes[1].text(last_det + 0.1, 1.02, ev.message[:40], fontsize=8, color="tab:red")
    fig.tight_layout()
    return fig


class ScrollingScores:
    """A score plot of the last ``seconds`` of a live stream, redrawn in place in a notebook
    every ``every`` seconds of audio (pass it as the assistant's ``on_scores``)."""

    def __init__(self, threshold: float, seconds: float = 10.0, every: float = 0.5) -> None:
        self.threshold = threshold
        self.seconds = seconds
        self.every = every
        self.times: deque[float] = deque()
        self.scores: deque[float] = deque()
        self.detections: list[float] = []
        self._last_draw = -np.inf
        self._handle: Any = None

    def __call__(self, times: np.ndarray, scores: np.ndarray) -> None:
        for t, s in zip(times, scores, strict=True):
            self.times.append(float(t))
            self.scores.append(float(s))
            if s >= self.threshold and (not self.detections or t - self.detections[-1] > 1.0):
                self.detections.append(float(t))
        while self.times and self.times[0] < self.times[-1] - self.seconds:
            self.times.popleft()
            self.scores.popleft()
        if self.times and self.times[-1] - self._last_draw >= self.every:
            self._last_draw = self.times[-1]
            self.draw()

    def figure(self) -> Any:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(11, 2.4))
        ax.plot(list(self.times), list(self.scores), color="tab:blue", lw=1)
        ax.axhline(self.threshold, color="tab:red", ls=":", lw=1)
        t1 = self.times[-1] if self.times else self.seconds
        for d in self.detections:
            if d >= t1 - self.seconds:
                ax.axvline(d, color="tab:red", lw=1.2)
        ax.set_xlim(max(0.0, t1 - self.seconds), max(self.seconds, t1))
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("seconds")
        ax.set_ylabel("score")
        fig.tight_layout()
        return fig

    def draw(self) -> None:
        """Redraw in place (in a notebook; elsewhere only the figure is made and closed)."""
        plt = _pyplot()
        fig = self.figure()
        try:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
        except ImportError:
            pass
        plt.close(fig)
