"""What notebooks show: spectrograms with their label track, audio players, tables.

Each function returns an object for the notebook to display (a matplotlib figure or an
``IPython.display`` object); none of them writes files — ``Run.save_figure`` does that.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lib.audio import load_audio, to_int16


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in {"module://matplotlib_inline.backend_inline"}:
        # headless runs and tests have no screen; inline notebooks keep their backend
        try:
            from IPython import get_ipython

            if get_ipython() is None:
                matplotlib.use("Agg")
        except ImportError:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_example(
    audio: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    events: Sequence[Any],
    sample_rate: int,
    title: str = "",
) -> Any:
    """Waveform, features and label track of one example on one time axis.

    ``events`` are ``(kind, start_s, end_s, ...)`` tuples; activates are shaded green,
    negatives grey.
    """
    plt = _pyplot()
    seconds = len(audio) / sample_rate
    fig, axes = plt.subplots(
        3, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2.2, 0.8]}
    )
    t = np.arange(len(audio)) / sample_rate
    step = max(1, len(audio) // 20000)
    axes[0].plot(t[::step], audio[::step], lw=0.5, color="0.2")
    axes[0].set_ylabel("waveform")
    axes[1].imshow(
        np.asarray(features, dtype=np.float32).T,
        origin="lower",
        aspect="auto",
        extent=(0.0, seconds, 0, features.shape[1]),
        cmap="magma",
    )
    axes[1].set_ylabel("feature bin")
    lt = (np.arange(len(labels)) + 0.5) * seconds / len(labels)
    axes[2].fill_between(lt, labels, step="mid", color="tab:green", alpha=0.8)
    axes[2].set_ylim(-0.05, 1.1)
    axes[2].set_ylabel("label")
    axes[2].set_xlabel("seconds")
    for ev in events:
        kind, start, end = ev[0], float(ev[1]), float(ev[2])
        color = "tab:green" if kind == "activate" else "0.6"
        for ax in (axes[0], axes[2]):
            ax.axvspan(start, end, color=color, alpha=0.18, lw=0)
        axes[0].text(
            start,
            0.95,
            kind,
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            va="top",
            color=color,
        )
    axes[0].set_xlim(0, seconds)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit WAV file in memory (for players)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(
        buf,
        to_int16(np.asarray(audio, dtype=np.float32)),
        sample_rate,
        format="WAV",
        subtype="PCM_16",
    )
    return buf.getvalue()


def audio_player(audio: np.ndarray, sample_rate: int) -> Any:
    """An ``IPython.display.Audio`` player for an array."""
    from IPython.display import Audio

    return Audio(data=wav_bytes(audio, sample_rate), rate=sample_rate)


def _player_html(audio: np.ndarray, sample_rate: int) -> str:
    data = base64.b64encode(wav_bytes(audio, sample_rate)).decode("ascii")
    return f'<audio controls preload="none" src="data:audio/wav;base64,{data}"></audio>'


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> Any:
    """A plain HTML table of dicts (values escaped, except prepared ``<audio>`` players)."""
    from IPython.display import HTML

    if not rows:
        return HTML("<p><em>(nothing to show)</em></p>")
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)

    def cell(v: Any) -> str:
        s = str(v)
        return s if s.startswith("<audio ") else html.escape(s)

    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def clip_players(
    records: Iterable[Any],
    raw_dir: Path,
    kinds: Sequence[str] = ("activate", "negative", "background"),
    per_kind: int = 2,
    seed: int = 0,
) -> Any:
    """A table of a few corpus clips per kind, with their text, engine, voice and a player."""
    rng = np.random.default_rng(seed)
    records = list(records)
    rows = []
    for kind in kinds:
        pool = [r for r in records if r.kind == kind]
        if not pool:
            continue
        for i in rng.choice(len(pool), size=min(per_kind, len(pool)), replace=False):
            r = pool[int(i)]
            audio = load_audio(raw_dir / r.path)
            rows.append(
                {
                    "kind": r.kind,
                    "text": r.text,
                    "engine": r.engine,
                    "voice": f"{r.voice}{'+' + r.variant if r.variant else ''}",
                    "seconds": f"{r.duration_seconds:.2f}",
                    "player": _player_html(audio, r.sample_rate),
                }
            )
    return html_table(rows)
