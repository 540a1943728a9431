"""Training: optional softmax/AAM pre-training, then triplets; checkpoints, resume, logs.

Everything goes into ``paths.checkpoints_dir()/speaker/<model_name>/``:

- ``model.keras``, ``model_card.json``   the finished embedder and its card (written last)
- ``history.csv``                         one row per epoch (loss, dev EER, timings), atomic
- ``tensorboard/``                        the same scalars for TensorBoard
- ``train_state/``                        weights, optimizer and history after every epoch:
  a second run with the same settings resumes from there (``resume: false`` starts over)

Each epoch records the time spent waiting for batches (``data_ms``: the tf.data pipeline
builds them in parallel, so this is only the stall) and training on them (``train_ms``),
per batch, and the equal error rate on the dev speakers. Collapse (loss pinned at the
margin, embeddings all equal) is detected and reported in the log, the history and the card.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib import paths
from lib.config import to_dict
from lib.errors import ConfigError, DatasetError
from lib.files import atomic_path, write_json, write_text
from lib.speaker.batches import (
    TripletSampler,
    classification_dataset,
    crop_numpy,
    features_tensor,
    triplet_dataset,
)
from lib.speaker.cache import FeatureCache, build_cache, check_compatible
from lib.speaker.database import SpeakerDatabase, load_database
from lib.speaker.settings import SpeakerConfig
from lib.speaker.verify import CARD_FILE, MODEL_FILE, embed_features

log = logging.getLogger(__name__)

#: settings that do not change what is trained (a resumed run may differ in these)
_NOT_COMPARED = ("resume", "overwrite", "epochs", "pretrain_epochs", "tts_workers")


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    model_dir: Path
    embedder: Any
    history: list[dict[str, Any]]
    card: dict[str, Any]
    steps_loss: list[float] = field(default_factory=list)

    @property
    def dev_eer(self) -> float | None:
        return self.card["metrics"].get("dev_eer")


def model_dir(name: str) -> Path:
    return paths.checkpoints_dir() / "speaker" / name


def prepare(cfg: SpeakerConfig, progress: bool = False) -> tuple[SpeakerDatabase, FeatureCache]:
    """The database (bootstrapped if needed) and its feature cache (computed once)."""
    db = load_database(cfg, progress=progress)
    return db, build_cache(db, cfg.feature_config(), progress=progress)


# ---------------------------------------------------------------------------- live chart


class LiveLossChart:
    """Redraws the loss (per step) and dev EER (per epoch) under the notebook cell as training
    runs. Outside a Jupyter kernel it does nothing."""

    def __init__(self, every_steps: int = 10) -> None:
        self.every = max(1, every_steps)
        self.handle = None
        try:
            from IPython import get_ipython

            ip = get_ipython()
            self.active = ip is not None and "IPKernelApp" in getattr(ip, "config", {})
        except ImportError:
            self.active = False

    def update(self, steps_loss: list[float], history: list[dict], force: bool = False) -> None:
        if not self.active or (not force and len(steps_loss) % self.every):
            return
        from IPython.display import display

        fig = loss_figure(steps_loss, history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)


def loss_figure(steps_loss: list[float], history: list[dict]) -> Any:
    """Loss per step (pre-training and triplet phases) and dev EER per epoch."""
    from lib.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.2))
    ax[0].plot(steps_loss, lw=0.8)
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("training loss")
    ax[0].set_yscale("log" if steps_loss and min(steps_loss) > 0 else "linear")
    epochs = [h["epoch"] for h in history]
    ax[1].plot(epochs, [h.get("dev_eer") for h in history], "o-")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("dev EER")
    for h in history:
        if h["phase"] == "triplet":
            ax[1].axvline(h["epoch"] - 0.5, color="0.7", lw=0.8)
            ax[1].text(h["epoch"] - 0.5, 0.98, " triplets", transform=ax[1].get_xaxis_transform(),
                       va="top", fontsize=8)  # fmt: skip
            break
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- evaluation


def embed_crops(embedder: Any, cache: FeatureCache, starts: np.ndarray, crop: int) -> np.ndarray:
    out = []
    for i in range(0, len(starts), 128):
        x = crop_numpy(cache.features, starts[i : i + 128], crop)
        out.append(np.asarray(embedder(x, training=False)))
    return np.concatenate(out) if out else np.zeros((0, int(embedder.output.shape[-1])))


def eval_ids(cache: FeatureCache, split: str, n: int, min_frames: int) -> np.ndarray:
    """Up to ``n`` utterances of a split (long enough for a window), spread over speakers."""
    ids = [i for i in cache.indices(split) if cache.entries[i].frames >= min_frames]
    if len(ids) > n:
        ids = sorted(np.random.default_rng(0).choice(ids, size=n, replace=False).tolist())
    return np.array(ids, dtype=np.int64)


def trial_scores(emb: np.ndarray, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores and same-speaker labels of every pair of embeddings."""
    sims = emb @ emb.T
    iu = np.triu_indices(len(emb), k=1)
    spk = np.array(speakers)
    return sims[iu], (spk[:, None] == spk[None, :])[iu]


def trial_speakers(speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The two sides' speakers of each trial of :func:`trial_scores`, in its order (what
    :func:`lib.metrics.compare_eer` resamples)."""
    iu = np.triu_indices(len(speakers), k=1)
    spk = np.array(speakers)
    return spk[iu[0]], spk[iu[1]]


def evaluate(
    embedder: Any, cache: FeatureCache, split: str, cfg: SpeakerConfig, windowed: bool = False
) -> dict[str, Any]:
    """EER (and threshold) over all pairs of up to ``eval_utterances`` utterances of a split.

    ``windowed``: embed whole utterances the way inference does (windows, average);
    otherwise one centred crop each (fast, for per-epoch monitoring).
    """
    from lib.metrics import equal_error_rate, min_dcf

    ids = eval_ids(cache, split, cfg.eval_utterances, min(cfg.crop_frames, 50))
    speakers = [cache.entries[i].speaker for i in ids]
    if len(set(speakers)) < 2:
        return {"eer": None, "threshold": None, "trials": 0, "speakers": len(set(speakers))}
    if windowed:
        window = int(round(cfg.window_seconds_embed / cfg.hop_seconds))
        hop = max(1, int(round(window * (1 - cfg.window_overlap))))
        emb = np.stack([embed_features(embedder, cache.utterance(i), window, hop) for i in ids])
    else:
        frames = np.array([cache.entries[i].frames for i in ids])
        crop = int(min(cfg.crop_frames, frames.min()))
        starts = np.array([cache.entries[i].start for i in ids]) + (frames - crop) // 2
        emb = embed_crops(embedder, cache, starts, crop)
    scores, labels = trial_scores(emb, speakers)
    eer, threshold = equal_error_rate(scores, labels)
    return {
        "eer": round(float(eer), 4),
        "threshold": round(float(threshold), 4),
        "min_dcf": round(float(min_dcf(scores, labels)), 4),
        "trials": int(len(scores)),
        "target_trials": int(labels.sum()),
        "speakers": len(set(speakers)),
        "utterances": len(ids),
        "scores": scores,
        "labels": labels,
        "embeddings": emb,
        "speaker_of": speakers,
    }


# ---------------------------------------------------------------------------- state


def _settings_key(cfg: SpeakerConfig, db: SpeakerDatabase | None, cache: FeatureCache) -> str:
    d = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_COMPARED}
    d["cache"] = cache.db_fingerprint
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _check_model_dir(out: Path, key: str, overwrite: bool) -> None:
    """Refuse to train into a folder holding another model unless ``overwrite``.

    The same training (same settings and database: resumed, run again or trained for more
    epochs) may write its folder again; so may one whose folder holds nothing yet."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        old = json.loads((out / CARD_FILE).read_text())
    except (OSError, ValueError):
        old = {}
    old = old if isinstance(old, dict) else {}
    try:
        state_key = json.loads((out / "train_state" / "state.json").read_text())["settings_key"]
    except (OSError, ValueError, KeyError, TypeError):
        state_key = None
    if key in (old.get("training_fingerprint"), state_key):
        return
    what = (
        f"model {old.get('name')!r} (created {old.get('created_utc', '?')})"
        if old.get("name")
        else "other files (an unfinished training with other settings?)"
    )
    if not overwrite:
        raise ConfigError(
            f"{out} already holds {what}, trained with other settings or data; choose another "
            "model_name, or set overwrite: true (heyjoe run 04_train_speaker -p overwrite true) "
            "to replace it"
        )
    log.warning("overwrite: %s in %s will be replaced", what, out)


def _save_state(state_dir: Path, embedder: Any, opt: Any, extra: dict, state: dict) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(state_dir / "embedder.weights.h5", suffix=".weights.h5") as tmp:
        embedder.save_weights(tmp)
    arrays = {f"opt_{i}": np.asarray(v) for i, v in enumerate(opt.variables)} if opt else {}
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    with atomic_path(state_dir / "extra.npz", suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    write_json(state_dir / "state.json", state)  # last: marks a complete state


def _write_history(out: Path, history: list[dict]) -> None:
    cols: list[str] = []
    for h in history:
        cols += [k for k in h if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    write_text(out / "history.csv", buf.getvalue())


# ---------------------------------------------------------------------------- training


def train(
    cfg: SpeakerConfig,
    db: SpeakerDatabase | None = None,
    cache: FeatureCache | None = None,
    out_dir: Path | None = None,
    live: LiveLossChart | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train (or resume) the embedder described by ``cfg``; returns the model and its card.

    With ``TF_CONFIG`` naming several workers it trains data-parallel across them
    (:mod:`lib.distribute`): ``batch_triplets`` / ``pretrain_batch`` are global batches (each
    replica draws its share), and only the chief writes into the model folder (the others
    write into a temporary one, which their result names).
    """
    import keras
    import tensorflow as tf

    from lib import distribute
    from lib.speaker.model import (
        ClassifierModel,
        TripletModel,
        architecture,
        build_embedder,
        detect_collapse,
    )

    strategy = distribute.strategy_from_env()  # first: multi-worker must precede any TF op
    started = time.perf_counter()
    if cache is None:
        db, cache = prepare(cfg, progress=progress)
    fc = cfg.feature_config()
    check_compatible(cache.feature_config, fc, str(cache.dir / "settings.json"))
    out = Path(out_dir) if out_dir is not None else model_dir(cfg.model_name)
    key = _settings_key(cfg, db, cache)
    _check_model_dir(out, key, cfg.overwrite)
    resume_dir = out / "train_state"  # every worker resumes from here,
    out = distribute.write_dir(out, strategy)  # only the chief writes there
    state_dir = out / "train_state"
    gpus = tf.config.list_physical_devices("GPU")
    log.info("training speaker model %s on %s", out, f"GPU {gpus}" if gpus else "CPU")

    sampler = TripletSampler(
        cache, "train", cfg.crop_frames, cfg.margin, cfg.hard_negative_fraction,
        cfg.hard_candidates,
    )  # fmt: skip
    try:
        dev_sampler: TripletSampler | None = TripletSampler(
            cache, "dev", cfg.crop_frames, cfg.margin
        )
    except DatasetError as exc:
        log.warning("no dev triplet loss: %s", exc)
        dev_sampler = None
    feats = features_tensor(cache)
    keras.utils.set_random_seed(cfg.seed)  # weight initialisation (keras has no generator API)
    with strategy.scope():  # variables mirrored on every replica
        embedder = build_embedder(cfg.n_mels, cfg.channels, cfg.blocks_per_stage,
                                  cfg.embedding_dim)  # fmt: skip
    arch = architecture(embedder, cfg.hop_seconds)
    log.info("embedder: %d parameters, receptive field %.2f s", arch["params"],
             arch["receptive_field"]["seconds"])  # fmt: skip

    phases = []
    if cfg.pretrain != "none" and cfg.pretrain_epochs > 0:
        phases += [cfg.pretrain] * cfg.pretrain_epochs
    phases += ["triplet"] * cfg.epochs
    history: list[dict[str, Any]] = []
    steps_loss: list[float] = []
    done = 0
    extra_saved: dict[str, np.ndarray] = {}
    stale = False
    if resume_dir.is_dir() and (resume_dir / "state.json").is_file():
        state = json.loads((resume_dir / "state.json").read_text())
        if cfg.resume and state.get("settings_key") == key:
            embedder.load_weights(resume_dir / "embedder.weights.h5")
            history, steps_loss, done = state["history"], state["steps_loss"], state["epochs_done"]
            with np.load(resume_dir / "extra.npz") as z:
                extra_saved = {k: z[k] for k in z.files}
            log.info("resuming %s after epoch %d of %d", out, done, len(phases))
        else:
            why = "resume is off" if not cfg.resume else "the settings changed"
            log.info("starting %s afresh (%s); old training state removed", out, why)
            stale = True
    distribute.agree(strategy, done, "the epoch to resume from")  # all workers have read it
    if stale:
        shutil.rmtree(state_dir, ignore_errors=True)

    tb = tf.summary.create_file_writer(str(out / "tensorboard"))
    model = opt = None
    phase_of_model = None
    for epoch in range(done, len(phases)):
        phase = phases[epoch]
        if phase != phase_of_model:
            with strategy.scope():  # optimizer, metrics and class centres: mirrored
                opt = keras.optimizers.Adam(cfg.learning_rate)
                if phase == "triplet":
                    model = TripletModel(embedder, cfg.margin)
                    variables = embedder.trainable_variables
                    make_ds, batch_size = triplet_dataset, cfg.batch_triplets
                else:
                    model = ClassifierModel(embedder, sampler.n_speakers, phase, cfg.aam_margin,
                                            cfg.aam_scale)  # fmt: skip
                    variables = embedder.trainable_variables + [model.centres]
                    make_ds, batch_size = classification_dataset, cfg.pretrain_batch
                model.compile(optimizer=opt)
                opt.build(variables)
            if (
                extra_saved
                and extra_saved.get("phase") is not None
                and str(extra_saved["phase"]) == phase
            ):
                for i, v in enumerate(opt.variables):
                    if f"opt_{i}" in extra_saved:
                        v.assign(extra_saved[f"opt_{i}"])
                if phase != "triplet" and "centres" in extra_saved:
                    model.centres.assign(extra_saved["centres"])
            extra_saved = {}
            step_fn = distribute.step_function(strategy, model.train_step)
            phase_of_model = phase
            traced = False
        for m in model.metrics:
            m.reset_state()
        batches = distribute.replica_batches(
            strategy, lambda n, seed, make=make_ds: make(sampler, feats, n, seed), batch_size,
            cfg.seed * 1000 + epoch,
        )  # fmt: skip
        iterator = iter(batches)
        data_s = train_s = refresh_s = 0.0
        timed = 0
        t_epoch = time.perf_counter()
        for step in range(cfg.steps_per_epoch):
            if (
                phase == "triplet"
                and cfg.hard_negative_fraction > 0
                and (
                    (epoch * cfg.steps_per_epoch + step) % cfg.refresh_every == 0
                    or sampler.table is None
                )
            ):
                t0 = time.perf_counter()
                _refresh_table(
                    embedder, sampler, cache, cfg, np.random.default_rng([cfg.seed, epoch, step])
                )
                refresh_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            batch = next(iterator)
            t1 = time.perf_counter()
            logs = step_fn(batch)
            loss = float(logs["loss"])
            t2 = time.perf_counter()
            if traced:  # the first step of a phase traces the graph: not timed
                data_s += t1 - t0
                train_s += t2 - t1
                timed += 1
            traced = True
            steps_loss.append(round(loss, 5))
            if live is not None:
                live.update(steps_loss, history)
        logs = {k: round(float(v), 5) for k, v in logs.items()}
        distribute.average_across_replicas(strategy, embedder.non_trainable_variables)
        if phase == "triplet" and dev_sampler is not None:
            logs["dev_loss"] = _dev_loss(model, dev_sampler, cache, cfg, epoch)
        dev = evaluate(embedder, cache, "dev", cfg)
        row = {
            "epoch": epoch + 1,
            "phase": phase,
            **logs,
            "dev_eer": dev["eer"],
            "dev_threshold": dev["threshold"],
            "data_ms": round(1000 * data_s / timed, 2) if timed else None,
            "train_ms": round(1000 * train_s / timed, 1) if timed else None,
            "refresh_s": round(refresh_s, 2),
            "epoch_s": round(time.perf_counter() - t_epoch, 1),
        }
        triplet_loss = logs["loss"] if phase == "triplet" else None
        collapse = detect_collapse(triplet_loss, logs["spread"], cfg.margin)
        row["collapse"] = collapse or ""
        if collapse:
            log.warning("epoch %d: training looks collapsed: %s", epoch + 1, collapse)
        history.append(row)
        shown = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("epoch", "phase"))
        log.info("epoch %d/%d (%s): %s", epoch + 1, len(phases), phase, shown)
        _tensorboard_scalars(tb, row, epoch + 1)
        _write_history(out, history)
        extra = {"phase": np.array(phase)}
        if phase != "triplet":
            extra["centres"] = model.centres.numpy()
        _save_state(state_dir, embedder, opt, extra, {
            "settings_key": key, "epochs_done": epoch + 1, "history": history,
            "steps_loss": steps_loss,
        })  # fmt: skip
        if live is not None:
            live.update(steps_loss, history, force=True)

    final = evaluate(embedder, cache, "dev", cfg, windowed=True)
    threshold_source = "dev"
    if final["eer"] is None:
        log.warning("fewer than 2 dev speakers: calibrating the threshold on the train speakers")
        final = evaluate(embedder, cache, "train", cfg, windowed=True)
        threshold_source = "train"
    test = evaluate(embedder, cache, "test", cfg, windowed=True)
    train_seconds = time.perf_counter() - started
    collapse = (history[-1].get("collapse") or None) if history else None
    card = {
        "name": out.name,
        "task": "speaker",
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model_file": MODEL_FILE,
        "parent": None,
        "training_fingerprint": key,
        "feature_config": fc.to_dict(),
        "threshold": final["threshold"],
        "threshold_source": threshold_source,
        "metrics": {
            "dev_eer": final["eer"],
            "dev_min_dcf": final.get("min_dcf"),
            "dev_speakers": final["speakers"],
            "dev_trials": final["trials"],
            "test_eer": test["eer"],
            "test_speakers": test["speakers"],
            "last_epoch_dev_eer_center_crop": history[-1]["dev_eer"] if history else None,
        },
        "training": {
            "seconds_this_run": round(train_seconds, 1),
            "epochs": len(phases),
            "steps": len(steps_loss),
            "phases": {p: phases.count(p) for p in dict.fromkeys(phases)},
            "mean_data_ms": _mean(history, "data_ms"),
            "mean_train_ms": _mean(history, "train_ms"),
            "device": "GPU" if gpus else "CPU",
            "distributed": distribute.describe(strategy),
            "collapse": collapse,
            "train_speakers": sampler.n_speakers,
            "skipped": [list(s) for s in sampler.skipped][:50],
        },
        "database": db.summary() if db is not None else {"fingerprint": cache.db_fingerprint},
        "inference": {
            "window_seconds": cfg.window_seconds_embed,
            "window_overlap": cfg.window_overlap,
            "vad_threshold_db": cfg.vad_threshold_db,
            "min_speech_seconds": cfg.min_speech_seconds,
        },
        "architecture": arch,
        "config": to_dict(cfg),
    }
    with atomic_path(out / MODEL_FILE, suffix=".keras") as tmp:
        embedder.save(tmp)
    write_json(out / CARD_FILE, card)
    if db is not None and threshold_source == "dev":
        final = calibrate(out, db, cfg.eval_utterances)
        card = json.loads((out / CARD_FILE).read_text())
    log.info("speaker model %s: dev EER %s at threshold %s (%s)", out, final["eer"],
             final["threshold"], threshold_source)  # fmt: skip
    result = TrainResult(out, embedder, history, card, steps_loss)
    result.final_eval = final  # type: ignore[attr-defined]
    return result


def calibrate(model_folder: Path, db: SpeakerDatabase, max_utterances: int = 200) -> dict:
    """Score dev trials through the inference path (files → VAD → windows → average) and
    store the equal-error-rate threshold and dev EER in the model card."""
    from lib.metrics import equal_error_rate, min_dcf
    from lib.speaker.verify import embed_file, load_model

    model = load_model(model_folder)
    utts = db.by_split("dev")
    if len(utts) > max_utterances:
        pick = np.random.default_rng(0).choice(len(utts), size=max_utterances, replace=False)
        utts = [utts[i] for i in sorted(pick)]
    emb = np.stack([embed_file(model, db.full_path(u)) for u in utts])
    speakers = [u.speaker for u in utts]
    scores, labels = trial_scores(emb, speakers)
    eer, threshold = equal_error_rate(scores, labels)
    card = json.loads((model_folder / CARD_FILE).read_text())
    card["threshold"] = round(float(threshold), 4)
    card["threshold_source"] = "dev (inference path: files, VAD, windows)"
    card["metrics"]["dev_eer_cached_features"] = card["metrics"].get("dev_eer")
    card["metrics"]["dev_eer"] = round(float(eer), 4)
    card["metrics"]["dev_min_dcf"] = round(float(min_dcf(scores, labels)), 4)
    card["metrics"]["dev_trials"] = int(len(scores))
    write_json(model_folder / CARD_FILE, card)
    return {
        "eer": card["metrics"]["dev_eer"], "threshold": card["threshold"],
        "min_dcf": card["metrics"]["dev_min_dcf"], "trials": int(len(scores)),
        "speakers": len(set(speakers)), "utterances": len(utts), "scores": scores,
        "labels": labels, "embeddings": emb, "speaker_of": speakers,
    }  # fmt: skip


def _tensorboard_scalars(writer: Any, row: dict[str, Any], step: int) -> None:
    """Scalars for TensorBoard, written with TensorFlow alone (the tensorboard package, which
    ``tf.summary.scalar`` needs, is not a dependency; TensorBoard reads these the same)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    ).SerializeToString()
    with writer.as_default(step=step):
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch":
                tf.summary.write(k, tf.constant(float(v), tf.float32), metadata=meta)
    writer.flush()


def _dev_loss(
    model: Any, sampler: TripletSampler, cache: FeatureCache, cfg: SpeakerConfig, epoch: int
) -> float:
    """Triplet loss on random dev triplets (the model's ``test_step``; fixed draws per epoch)."""
    import tensorflow as tf

    rng = np.random.default_rng([cfg.seed, 7, epoch])
    for m in model.metrics:  # the epoch's training figures are already read
        m.reset_state()
    for _ in range(2):
        starts = sampler.triplet_batch_starts(rng, cfg.batch_triplets)
        logs = model.test_step(tf.constant(crop_numpy(cache.features, starts, cfg.crop_frames)))
    return round(float(logs["loss"]), 5)


def _mean(history: list[dict], key: str) -> float | None:
    vals = [h[key] for h in history if h.get(key) is not None]
    return round(float(np.mean(vals)), 2) if vals else None


def _refresh_table(
    embedder: Any,
    sampler: TripletSampler,
    cache: FeatureCache,
    cfg: SpeakerConfig,
    rng: np.random.Generator,
) -> None:
    """Embed a random sample of training utterances (centre crops) for hard negatives."""
    ids = sampler.utterances
    if len(ids) > cfg.table_utterances:
        ids = np.sort(rng.choice(ids, size=cfg.table_utterances, replace=False))
    emb = embed_crops(embedder, cache, sampler.center_starts(ids), cfg.crop_frames)
    sampler.set_table(ids, emb)


def copy_run_record(run_dir: Path, model_folder: Path) -> Path:
    """Copy a notebook run record into ``model_folder/run/`` (for shipped models)."""
    dest = model_folder / "run"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run_dir, dest)
    return dest


def require_dev(db: SpeakerDatabase) -> None:
    if len(db.speakers("dev")) < 2:
        raise DatasetError(f"database {db.name!r} has fewer than 2 dev speakers")
