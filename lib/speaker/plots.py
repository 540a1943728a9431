"""What notebook 04 shows: speaker players, the architecture, the embedding map, score
histograms and a verification demo. Functions return figures or display objects."""

from __future__ import annotations

from typing import Any

import numpy as np

from lib import plots
from lib.audio import load_audio
from lib.speaker.cache import FeatureCache
from lib.speaker.database import SpeakerDatabase
from lib.speaker.settings import SpeakerConfig


def speaker_players(db: SpeakerDatabase, per_split: int = 2, seed: int = 0) -> Any:
    """One utterance of a few speakers of each split, with a player."""
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "dev", "test"):
        speakers = db.speakers(split)
        if not speakers:
            continue
        for i in rng.choice(len(speakers), size=min(per_split, len(speakers)), replace=False):
            spk = speakers[int(i)]
            utt = next(u for u in db.utterances if u.speaker == spk)
            x = load_audio(db.full_path(utt), 16000)
            rows.append({
                "split": split, "speaker": spk, "seconds": f"{utt.duration_seconds:.2f}",
                "player": plots._player_html(x, 16000),
            })  # fmt: skip
    return plots.html_table(rows)


def cache_summary(cache: FeatureCache) -> list[dict[str, Any]]:
    fc = cache.feature_config
    return [{
        "utterances": len(cache), "frames": int(cache.features.shape[0]),
        "bins": int(cache.features.shape[1]), "dtype": str(cache.features.dtype),
        "megabytes": round(cache.size_bytes() / 1e6, 2),
        "features": f"{fc.kind} {fc.n_mels} mels, {fc.window_seconds * 1000:g}/"
                    f"{fc.hop_seconds * 1000:g} ms",
        "skipped": len(cache.skipped),
    }]  # fmt: skip


def describe_architecture(cfg: SpeakerConfig) -> dict[str, Any]:
    """The embedder's documented architecture for these settings (see model.architecture)."""
    from lib.speaker.model import architecture, build_embedder

    model = build_embedder(cfg.n_mels, cfg.channels, cfg.blocks_per_stage, cfg.embedding_dim)
    return architecture(model, cfg.hop_seconds)


def architecture_summary(arch: dict[str, Any]) -> list[dict[str, Any]]:
    rf = arch["receptive_field"]
    return [{
        "parameters": arch["params"], "size (MB, float32)": arch["size_mb_float32"],
        "embedding": arch["embedding_dim"],
        "receptive field": f"{rf['frames']} frames = {rf['seconds']} s × {rf['mel_bins']} mels",
        "time stride": f"{rf['stride_frames']} frames",
    }]  # fmt: skip


def embedding_map(emb: np.ndarray, speakers: list[str], title: str = "") -> Any:
    """The embeddings projected on their first two principal components, coloured by speaker."""
    plt = plots._pyplot()
    emb = np.asarray(emb, dtype=np.float64)
    centred = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(7, 5.5))
    names = sorted(set(speakers))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for k, name in enumerate(names):
        sel = np.array([s == name for s in speakers])
        ax.scatter(xy[sel, 0], xy[sel, 1], s=18, color=cmap(k % cmap.N), label=name)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or f"{len(emb)} utterances of {len(names)} held-out speakers")
    if len(names) <= 20:
        ax.legend(fontsize=7, loc="best", frameon=False)
    fig.tight_layout()
    return fig


def score_histograms(scores: np.ndarray, labels: np.ndarray, threshold: float | None) -> Any:
    """Cosine scores of same-speaker and different-speaker pairs, with the threshold."""
    plt = plots._pyplot()
    scores, labels = np.asarray(scores), np.asarray(labels, dtype=bool)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(min(scores.min(), 0.0), 1.0, 60)
    ax.hist(
        scores[~labels], bins=bins, alpha=0.6, density=True, label=f"different ({(~labels).sum()})"
    )
    ax.hist(scores[labels], bins=bins, alpha=0.6, density=True, label=f"same ({labels.sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="k", lw=1, ls="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine score")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def demo_pairs(db: SpeakerDatabase, split: str = "dev", n: int = 2, seed: int = 0) -> list[tuple]:
    """``n`` same-speaker and ``n`` different-speaker file pairs from one split."""
    rng = np.random.default_rng(seed)
    speakers = db.speakers(split) or db.speakers()
    by = {s: [u for u in db.utterances if u.speaker == s] for s in speakers}
    pairs = []
    for _ in range(n):
        s = speakers[int(rng.integers(len(speakers)))]
        a, b = rng.choice(len(by[s]), size=2, replace=False)
        pairs.append((db.full_path(by[s][a]), db.full_path(by[s][b]), True))
        s1, s2 = rng.choice(len(speakers), size=2, replace=False)
        u1, u2 = by[speakers[int(s1)]][0], by[speakers[int(s2)]][0]
        pairs.append((db.full_path(u1), db.full_path(u2), False))
    return pairs


def verify_table(model: Any, pairs: list[tuple]) -> tuple[Any, list[dict[str, Any]]]:
    """Verify each pair; returns (a table with players, the plain rows)."""
    from lib.speaker.verify import verify

    rows, shown = [], []
    for a, b, truth in pairs:
        r = verify(model, a, b)
        row = {"a": f"{a.parent.name}/{a.name}", "b": f"{b.parent.name}/{b.name}",
               "truth": "same" if truth else "different", "score": round(r["score"], 4),
               "decision": "same" if r["same"] else "different",
               "correct": r["same"] == truth}  # fmt: skip
        rows.append(row)
        shown.append({**row, "player a": plots._player_html(load_audio(a, 16000), 16000),
                      "player b": plots._player_html(load_audio(b, 16000), 16000)})  # fmt: skip
    return plots.html_table(shown), rows
