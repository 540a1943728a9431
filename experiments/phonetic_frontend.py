"""Does a front end trained on real speech make the trigger generalise to unseen voices?

The trigger model misses `ked_diphone` and most MBROLA/Pico test voices (README, "Shipped
models"). openWakeWord's answer to training on synthetic speech is a frozen front end
trained on real speech with a small head on top. The only such model that ships with a
package here is PocketSphinx's English acoustic model (a phonetically-tied-mixture HMM,
trained on real speech). This script uses it as a front end: the 13 MFCCs of its
`feat.params` (computed here in numpy; PocketSphinx decodes them as it decodes its own, which
`--check` shows), mean-normalised per clip, with deltas, scored against the 126
context-independent senones (42 phones x 3 states), as log posteriors per 10 ms frame.

The probe, on the raw corpus's clean clips (no backgrounds), each scaled to the same peak
and padded with 0.3 s of faint noise: the same small head (causal Conv1D 64, GRU 64, a
sigmoid per frame, max over the clip) is trained on the training voices (espeak-ng and flite:
"hey joe" against the confusable phrases) once on these phonetic features and once on the
shipped model's 40 log-mel bands, and each is scored on the festival dev clips and the
MBROLA/Pico test clips: AUC, and the share of "hey joe" clips detected per voice where 1% and
5% of the other phrases' clips fire. It is a clip-level probe, not the event metric of
`heyjoe evaluate`.

Usage: .venv/bin/python experiments/phonetic_frontend.py [--check] [--seeds N ...] [--cache F.npz]
(features about 10 minutes on 2 cores, then about 3 minutes per head; ``--cache`` keeps the
features for the next run). Prints progress to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib import paths  # noqa: E402
from lib.audio import load_audio  # noqa: E402
from lib.features import FeatureConfig, compute_features  # noqa: E402
from lib.phonetic import (  # noqa: E402
    _read_mdef,
    _read_s3,
    _read_sendump,
    sphinx_dct,
    sphinx_filterbank,
)
from lib.phonetic import model_dir as _model_dir  # noqa: E402

SR = 16000


class PhoneticFrontEnd:
    """PocketSphinx's English acoustic model as a front end: audio → CI-senone log posteriors."""

    def __init__(self) -> None:
        d = _model_dir()
        self.means = _read_s3(d / "means")
        var = np.maximum(_read_s3(d / "variances"), 1e-4)
        self.prec = 1.0 / var
        self.const = -0.5 * (var.shape[-1] * np.log(2 * np.pi) + np.log(var).sum(-1))
        self.phones, self.n_ci_sen = _read_mdef(d / "mdef")
        n_cb, self.n_stream, self.n_dens, _ = self.means.shape
        logw = _read_sendump(d / "sendump", self.n_stream)[:, :, : self.n_ci_sen]
        # (stream, codebook = CI phone, state, density): CI senone 3p+s belongs to phone p.
        self.weights = np.exp(logw).transpose(0, 2, 1).reshape(self.n_stream, n_cb, 3, -1)
        # feat.params: 25 mel filters 130-6800 Hz, 13 DCT cepstra, lifter 22, 512-point FFT,
        # 25.625 ms Hamming window every 10 ms, pre-emphasis 0.97.
        self.win = 410
        self.fbank, self.dct = sphinx_filterbank(512), sphinx_dct()
        self.window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(self.win) / (self.win - 1))

    def cepstra(self, audio: np.ndarray) -> np.ndarray:
        """(samples,) float audio at 16 kHz → (frames, 13) MFCCs on PocketSphinx's scale."""
        x = np.asarray(audio, np.float64) * 32768
        y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
        n = 1 + (len(y) - self.win) // 160 if len(y) >= self.win else 0
        frames = y[np.arange(self.win)[None] + 160 * np.arange(n)[:, None]] * self.window
        power = np.abs(np.fft.rfft(frames, 512)) ** 2
        return np.log(np.maximum(power @ self.fbank, 1e-4)) @ self.dct

    def log_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """(frames, 126) CI-senone log posteriors, per-clip mean normalisation, 1s_c_d_dd."""
        c = self.cepstra(audio)
        c = c - c.mean(0)
        p = np.concatenate([np.repeat(c[:1], 3, 0), c, np.repeat(c[-1:], 3, 0)])

        def at(k: int) -> np.ndarray:
            return p[3 + k : 3 + k + len(c)]

        streams = [c, at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))]
        out = np.zeros((len(c), self.n_ci_sen))
        for s, x in enumerate(streams):
            prec, mu = self.prec[:, s].reshape(-1, 13), self.means[:, s].reshape(-1, 13)
            quad = (x**2) @ prec.T - 2 * x @ (mu * prec).T + (mu**2 * prec).sum(-1)
            ll = (self.const[:, s].reshape(-1) - 0.5 * quad).reshape(len(c), -1, self.n_dens)
            top = ll.max(-1, keepdims=True)
            mix = np.einsum("tck,csk->tcs", np.exp(ll - top), self.weights[s])
            out += (np.log(mix + 1e-300) + top).reshape(len(c), -1)
        return np.maximum(out - np.logaddexp.reduce(out, axis=1, keepdims=True), -40.0)


def check_decoding(front: PhoneticFrontEnd, clips: list[dict]) -> None:
    """PocketSphinx's phone decoding of its own features and of ours, side by side."""
    from pocketsphinx import Decoder

    model = _model_dir()
    dec = Decoder(hmm=str(model), allphone=str(model.parent / "en-us-phone.lm.bin"),
                  lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")  # fmt: skip
    for r in clips:
        y = _clip(r)
        dec.start_utt()
        dec.process_raw((y * 32767).astype(np.int16).tobytes(), full_utt=True)
        dec.end_utt()
        own = [s.word for s in dec.seg()]
        dec.start_utt()
        dec.process_cep(front.cepstra(y).astype(np.float32).tobytes(), full_utt=True)
        dec.end_utt()
        print(r["voice"], r["rate"], "theirs:", " ".join(own), "| ours:",
              " ".join(s.word for s in dec.seg()), file=sys.stderr)  # fmt: skip


_noise = np.random.default_rng(0)


def _clip(r: dict) -> np.ndarray:
    y = load_audio(r["file"], SR)
    y = y / max(1e-6, float(np.abs(y).max())) * 0.5
    y = np.concatenate([np.zeros(4800), y, np.zeros(4800)])
    return (y + _noise.normal(0, 3e-4, len(y))).astype(np.float32)


def corpus_clips(seed: int) -> list[dict]:
    """The raw corpus's "hey joe" and other-phrase clips (espeak-ng negatives: 4000 drawn)."""
    rows = []
    for root in (paths.raw_dir(), paths.data_dir() / "raw_flite"):
        manifest = root / "manifest.csv"
        if not manifest.exists():
            continue
        with open(manifest, newline="") as fh:
            for r in csv.DictReader(fh):
                if r["kind"] in ("activate", "negative"):
                    rows.append({**r, "file": str(root / r["path"])})
    if not rows:
        raise SystemExit(f"no raw corpus under {paths.raw_dir()}: run `make demo` or notebook 01")
    many = [i for i, r in enumerate(rows) if r["engine"] == "espeak" and r["kind"] == "negative"]
    drop = set(many) - set(random.Random(seed).sample(many, min(4000, len(many))))
    return [r for i, r in enumerate(rows) if i not in drop]


def probe(feats: list[np.ndarray], rows: list[dict], seed: int) -> dict:
    import keras
    from sklearn.metrics import roc_auc_score

    y = np.array([r["kind"] == "activate" for r in rows], np.float32)
    split = np.array([r["split"] for r in rows])
    voice = np.array([f"{r['engine']}:{r['voice']}" for r in rows])
    train = np.where(split == "train")[0]
    stacked = np.concatenate([feats[i] for i in train])
    mu, sd = stacked.mean(0), stacked.std(0) + 1e-3
    t_max = max(len(f) for f in feats)

    def batch(idx: np.ndarray) -> np.ndarray:
        out = np.zeros((len(idx), t_max, feats[0].shape[1]), np.float32)
        for j, i in enumerate(idx):
            out[j, : len(feats[i])] = (feats[i] - mu) / sd
        return out

    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, feats[0].shape[1]))
    h = keras.layers.Conv1D(64, 5, padding="causal", activation="relu")(inp)
    h = keras.layers.Dropout(0.2)(keras.layers.GRU(64, return_sequences=True)(h))
    out = keras.layers.GlobalMaxPooling1D()(keras.layers.Dense(1, activation="sigmoid")(h))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(2e-3), "binary_crossentropy")
    pos_weight = (y[train] == 0).sum() / (y[train] == 1).sum()
    model.fit(batch(train), y[train], sample_weight=np.where(y[train] == 1, pos_weight, 1.0),
              batch_size=64, epochs=12, verbose=0)  # fmt: skip
    result = {}
    for name in ("dev", "test"):
        idx = np.where(split == name)[0]
        p, ys, vs = model.predict(batch(idx), verbose=0)[:, 0], y[idx], voice[idx]
        neg = np.sort(p[ys == 0])[::-1]
        entry: dict = {"auc": round(float(roc_auc_score(ys, p)), 3)}
        for fpr in (0.01, 0.05):
            thr = neg[int(fpr * len(neg))]
            entry[f"recall_at_{fpr}"] = round(float((p[ys == 1] > thr).mean()), 2)
            entry[f"by_voice_at_{fpr}"] = {
                v: round(float((p[(ys == 1) & (vs == v)] > thr).mean()), 2)
                for v in sorted(set(vs[ys == 1]))
            }
        if name == "dev":
            ked = p[(ys == 1) & (vs == "festival:ked_diphone")]
            entry["ked_scores"] = [round(float(s), 3) for s in ked]
        result[name] = entry
    return result


def features(
    front: PhoneticFrontEnd, rows: list[dict], cache: Path | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each clip's 40 log-mel bands and its phonetic features, frame-aligned."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            if int(z["clips"]) == len(rows):
                cuts = np.cumsum(z["lengths"])[:-1]
                return np.split(z["logmel"], cuts), np.split(z["phonetic"], cuts)
    fc = FeatureConfig(kind="logmel", n_mels=40)
    logmel, phonetic = [], []
    for i, r in enumerate(rows):
        y = _clip(r)
        a, b = compute_features(y, fc), front.log_posteriors(y)
        n = min(len(a), len(b))
        logmel.append(a[:n])
        phonetic.append(b[:n].astype(np.float32))
        if i % 1000 == 0:
            print(f"features {i}/{len(rows)}", file=sys.stderr, flush=True)
    if cache is not None:
        np.savez(cache, clips=len(rows), lengths=[len(a) for a in logmel],
                 logmel=np.concatenate(logmel), phonetic=np.concatenate(phonetic))  # fmt: skip
    return logmel, phonetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare phone decodings")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the heads")
    ap.add_argument("--cache", type=Path, help="an .npz to keep the features in and reuse")
    ap.add_argument("--fronts", nargs="+", default=["logmel", "phonetic"],
                    choices=["logmel", "phonetic", "both"],
                    help="front ends to probe (both: the two side by side per frame)")  # fmt: skip
    args = ap.parse_args()
    front = PhoneticFrontEnd()
    rows = corpus_clips(0)
    if args.check:
        dev = [r for r in rows if r["engine"] == "festival" and r["kind"] == "activate"]
        check_decoding(front, dev)
        return
    logmel, phonetic = features(front, rows, args.cache)
    figures: dict = {"clips": len(rows), "seeds": args.seeds}
    for name in args.fronts:
        if name == "both":
            feats = [np.concatenate(p, axis=1) for p in zip(logmel, phonetic, strict=True)]
        else:
            feats = logmel if name == "logmel" else phonetic
        runs = []
        for seed in args.seeds:
            runs.append(probe(feats, rows, seed))
            print(name, seed, json.dumps(runs[-1]), file=sys.stderr, flush=True)
        mean = {
            f"{split}_{key}": round(float(np.mean([r[split][key] for r in runs])), 3)
            for split in ("dev", "test")
            for key in ("auc", "recall_at_0.01", "recall_at_0.05")
        }
        print(name, "mean over seeds", json.dumps(mean), file=sys.stderr, flush=True)
        figures[name] = {"mean": mean, "runs": runs}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
