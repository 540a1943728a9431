"""Settings of the ``speaker`` stage (``configs/speaker.yaml`` documents each key and unit)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lib.errors import ConfigError
from lib.features import FeatureConfig


@dataclass(frozen=True)
class SpeakerConfig:
    """Database, features, model, training and inference settings of the speaker embedder."""

    # database
    db_name: str = "synthetic"
    db_dir: str | None = None
    db_layout: Literal["auto", "folders", "librispeech", "voxceleb"] = "auto"
    espeak_voices: tuple[str, ...] = ("en-us", "en-gb-x-rp")
    espeak_variants: tuple[str, ...] = ("m1", "f2")
    flite_voices: tuple[str, ...] = ("awb", "slt")
    mbrola_voices: tuple[str, ...] = ()
    pico_voices: tuple[str, ...] = ()
    festival_voices: tuple[str, ...] = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
    shift_semitones: tuple[float, ...] = (0.0,)
    formant_warps: int = 0
    formant_warp: float = 0.15
    utterances_per_speaker: int = 12
    sentences_per_utterance: int = 2
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    db_seed: int = 0
    tts_workers: int = 2
    # features
    sample_rate: int = 16000
    n_mels: int = 64
    window_seconds: float = 0.025
    hop_seconds: float = 0.010
    # model
    channels: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_stage: int = 1
    embedding_dim: int = 128
    # training
    model_name: str = "default"
    crop_seconds: float = 2.0
    batch_triplets: int = 32
    epochs: int = 10
    steps_per_epoch: int = 50
    learning_rate: float = 0.001
    margin: float = 0.1
    hard_negative_fraction: float = 0.5
    hard_candidates: int = 16
    refresh_every: int = 50
    table_utterances: int = 512
    pretrain: Literal["none", "softmax", "aam"] = "aam"
    pretrain_epochs: int = 4
    pretrain_batch: int = 64
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    eval_utterances: int = 200
    seed: int = 0
    resume: bool = True
    overwrite: bool = False
    # inference
    window_seconds_embed: float = 2.0
    window_overlap: float = 0.5
    vad_threshold_db: float = 35.0
    min_speech_seconds: float = 0.5

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"parameter {name!r} {why}, got {getattr(self, name)!r}")

        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.db_name):
            raise bad("db_name", "must be a folder name (letters, digits, _ . -)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.model_name):
            raise bad("model_name", "must be a folder name (letters, digits, _ . -)")
        positive_int = (
            "utterances_per_speaker", "sentences_per_utterance", "tts_workers", "sample_rate",
            "n_mels", "blocks_per_stage", "embedding_dim", "batch_triplets", "steps_per_epoch",
            "hard_candidates", "refresh_every", "table_utterances", "pretrain_batch",
            "eval_utterances",
        )  # fmt: skip
        for name in positive_int:
            if getattr(self, name) < 1:
                raise bad(name, "must be at least 1")
        if self.utterances_per_speaker < 2:
            raise bad("utterances_per_speaker", "must be at least 2 (anchor and positive)")
        if self.pretrain_epochs < 0:
            raise bad("pretrain_epochs", "must be >= 0")
        if self.epochs < 0:
            raise bad("epochs", "must be >= 0")
        if self.epochs == 0 and (self.pretrain == "none" or self.pretrain_epochs == 0):
            raise bad("epochs", "must be at least 1 without pre-training (pretrain none or "
                      "pretrain_epochs 0): there would be nothing to train")  # fmt: skip
        if not self.channels or any(c < 1 for c in self.channels):
            raise bad("channels", "must be a non-empty list of positive channel counts")
        for name in ("dev_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise bad(name, "must be in [0, 0.5)")
        for name in ("hard_negative_fraction",):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "must be in [0, 1]")
        if not 0.0 <= self.window_overlap < 1.0:
            raise bad("window_overlap", "must be in [0, 1)")
        for name in (
            "crop_seconds", "learning_rate", "margin", "aam_scale", "window_seconds_embed",
            "vad_threshold_db", "min_speech_seconds",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise bad(name, "must be > 0")
        if not 0.0 <= self.aam_margin < 1.0:
            raise bad("aam_margin", "must be in [0, 1) radians")
        if not 0 <= self.formant_warps <= 10:
            raise bad("formant_warps", "must be 0 to 10 warped pseudo-speakers per voice")
        if not 0.0 < self.formant_warp <= 0.5:
            raise bad("formant_warp", "must be in (0, 0.5] (0.15: formants move up to 15%)")
        for s in self.shift_semitones:
            if not -12.0 <= s <= 12.0:
                raise bad("shift_semitones", "must hold shifts within [-12, 12] semitones")
        self.feature_config()  # raises ConfigError on bad feature settings
        if self.crop_seconds < 0.5:
            raise bad("crop_seconds", "must be at least 0.5 s")

    def feature_config(self) -> FeatureConfig:
        """The 64-bin log-mel front end these settings describe."""
        return FeatureConfig(
            kind="logmel",
            sample_rate=self.sample_rate,
            n_mels=self.n_mels,
            window_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds,
        )

    @property
    def crop_frames(self) -> int:
        """Feature frames in one training crop."""
        return int(round(self.crop_seconds / self.hop_seconds))
