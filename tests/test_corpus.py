"""The corpus bootstrap: TTS clips, generated backgrounds, manifest, reuse and user files."""

from __future__ import annotations

import csv
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lib import audio, config, corpus, paths
from lib.errors import AudioError, ConfigError, DatasetError, HeyJoeError

ENGINES_PRESENT = all(shutil.which(c) for c in ("espeak-ng", "flite", "festival"))
needs_tts = pytest.mark.skipif(
    not ENGINES_PRESENT, reason="needs espeak-ng, flite and festival installed"
)

#: a few clips only: one espeak voice, one flite voice, no festival, no backgrounds.
TINY = {
    "confusable_phrases": ["joe"],
    "negative_phrases": ["hello"],
    "command_phrases": [],
    "espeak_voices": ["en-us"],
    "espeak_variants": [""],
    "espeak_rates": [175],
    "espeak_pitches": [50],
    "flite_voices": ["slt"],
    "festival_voices": [],
    "mbrola_voices": [],
    "pico_voices": [],
    "bg_per_type": 0,
}


def tiny(**overrides: object) -> corpus.CorpusConfig:
    return config.load_config("corpus", "quick", {**TINY, **overrides})


def manifest_rows(raw: Path) -> list[dict[str, str]]:
    with open(raw / corpus.MANIFEST_NAME, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def quick_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, corpus.CorpusSummary]:
    """The quick profile, bootstrapped once for the module (tests copy it before changing it)."""
    if not ENGINES_PRESENT:
        pytest.skip("needs espeak-ng, flite and festival installed")
    raw = tmp_path_factory.mktemp("quick") / "raw"
    summary = corpus.bootstrap_corpus(config.load_config("corpus", "quick"), raw)
    return raw, summary


@pytest.fixture
def corpus_copy(quick_corpus, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(quick_corpus[0], raw)
    return raw


# ---------------------------------------------------------------------------- configuration


def test_quick_profile_is_smaller_and_its_clips_are_a_subset_of_full() -> None:
    full = config.load_config("corpus", "full")
    quick = config.load_config("corpus", "quick")
    full_clips = {s.name for s in corpus.plan_clips(full)}
    quick_clips = {s.name for s in corpus.plan_clips(quick)}
    assert 40 <= len(quick_clips) <= 90
    assert len(full_clips) >= 4000
    assert quick_clips < full_clips
    assert quick.bg_per_type < full.bg_per_type
    activates = [s for s in corpus.plan_clips(full) if s.kind == "activate"]
    assert len(activates) >= 2000 and {s.text for s in activates} == {"hey joe"}
    # the noise, music and hum backgrounds of quick are also full's
    quick_bg = {b.name for b in corpus.plan_backgrounds(quick, []) if b.type != "babble"}
    assert quick_bg <= {b.name for b in corpus.plan_backgrounds(full, [])}


def test_plan_splits_festival_to_dev_only() -> None:
    specs = corpus.plan_clips(config.load_config("corpus", "quick"))
    assert {s.split for s in specs if s.engine == "festival"} == {"dev"}
    assert {s.split for s in specs if s.engine in ("espeak", "flite")} == {"train"}
    assert {s.category for s in specs if s.kind == "negative"} == {
        "confusable",
        "phrase",
        "command",
    }


def test_flite_pitches_multiply_flite_clips_and_reach_the_command(monkeypatch) -> None:
    cfg = config.load_config("corpus", "quick", {"flite_pitches": [0, 120, 180]})
    flite = [s for s in corpus.plan_clips(cfg) if s.engine == "flite"]
    act = [s for s in flite if s.kind == "activate"]
    assert sorted({s.pitch for s in act}, key=str) == sorted({None, 120.0, 180.0}, key=str)
    assert len(act) == 3 * len(cfg.flite_voices) * len(cfg.flite_rates)
    assert {s.pitch for s in flite if s.kind == "negative"} == {None}  # negative pitches: [0]
    # the voice's own pitch keeps the clip's name (clips made before pitches existed are reused)
    own = next(s for s in act if s.pitch is None)
    assert own.name in {s.name for s in corpus.plan_clips(config.load_config("corpus", "quick"))}
    calls = []
    monkeypatch.setattr(corpus, "_run", lambda cmd, **kw: calls.append(cmd) or _Done())
    spec = next(s for s in act if s.pitch == 120.0)
    with pytest.raises(AudioError):  # the fake run writes no file
        corpus._synthesize(spec, "flite", Path("/nonexistent/x.wav"))
    assert "int_f0_target_mean=120" in calls[0]
    with pytest.raises(AudioError):
        corpus._synthesize(own, "flite", Path("/nonexistent/x.wav"))
    assert not any("int_f0_target_mean" in a for a in calls[1])


class _Done:
    returncode = 0
    stderr = stdout = ""


def test_mbrola_and_pico_grids_and_commands(monkeypatch) -> None:
    cfg = config.load_config(
        "corpus",
        "quick",
        {"mbrola_voices": ["mb-us1", "mb-en1"], "mbrola_rates": [140, 180],
         "mbrola_pitches": [30, 70], "pico_voices": ["en-US"], "pico_rates": [0.8, 1.0],
         "pico_pitches": [1.0, 1.25]},
    )  # fmt: skip
    specs = corpus.plan_clips(cfg)
    mb = [s for s in specs if s.engine == "mbrola"]
    act = [s for s in mb if s.kind == "activate"]
    assert len(act) == 2 * 2 * 2 and {s.variant for s in mb} == {""}
    assert {(s.rate, s.pitch) for s in mb if s.kind == "negative"} == {(150.0, 50.0)}
    pico = [s for s in specs if s.engine == "pico"]
    assert {(s.rate, s.pitch) for s in pico if s.kind == "activate"} == {
        (0.8, None), (1.0, None), (0.8, 1.25), (1.0, 1.25)
    }  # fmt: skip
    assert {(s.rate, s.pitch) for s in pico if s.kind == "negative"} == {(1.0, None)}
    assert {s.split for s in mb + pico} == {"test"}  # the default test_engines
    cfg = config.load_config("corpus", "quick", {"test_engines": ["pico"]})
    assert {s.split for s in corpus.plan_clips(cfg) if s.engine == "mbrola"} == {"train"}
    calls = []
    monkeypatch.setattr(corpus, "_run", lambda cmd, **kw: calls.append((cmd, kw)) or _Done())
    with pytest.raises(AudioError):  # the fake run writes no file
        corpus._synthesize(act[-1], "espeak-ng", Path("/nonexistent/x.wav"))
    cmd, kw = calls[-1]
    assert cmd[:7] == ["espeak-ng", "-v", "mb-en1", "-s", "180", "-p", "70"]
    assert kw["stdin"] == "hey joe"
    slow_high = next(s for s in pico if s.rate == 0.8 and s.pitch == 1.25)
    with pytest.raises(AudioError):
        corpus._synthesize(slow_high, "pico2wave", Path("/nonexistent/x.wav"))
    cmd, _ = calls[-1]
    assert cmd[:3] == ["pico2wave", "-l", "en-US"]
    assert cmd[-1] == "<speed level='80'><pitch level='125'>hey joe</pitch></speed>"
    plain = next(s for s in pico if s.rate == 1.0 and s.pitch is None)
    with pytest.raises(AudioError):
        corpus._synthesize(plain, "pico2wave", Path("/nonexistent/x.wav"))
    assert calls[-1][0][-1] == "hey joe"


def test_babble_backgrounds_do_not_depend_on_mbrola_or_pico_voices() -> None:
    with_new = config.load_config("corpus", "full")
    without = config.load_config("corpus", "full", {"mbrola_voices": [], "pico_voices": []})
    pools = [corpus.babble_pool(corpus.plan_clips(c)) for c in (with_new, without)]
    assert pools[0] == pools[1] and {s.engine for s in pools[0]} == {"espeak", "flite"}
    names = [[b.name for b in corpus.plan_backgrounds(c, p)] for c, p in zip(
        (with_new, without), pools, strict=True)]  # fmt: skip
    assert names[0] == names[1]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("confusable_phrases", ["Hey, Joe!"], "contains the trigger phrase"),
        ("espeak_rates", [1000], "espeak_rates"),
        ("espeak_variants", ["+m3"], "no '+'"),
        ("bg_types", ["static"], "unknown type(s) static"),
        ("negative_phrases", ["-v x"], "not starting with '-'"),
        ("bg_dbfs", [-10.0, -30.0], "bg_dbfs"),
        ("flite_pitches", [30], "flite_pitches"),
        ("flite_negative_pitches", [], "flite_negative_pitches"),
        ("mbrola_rates", [1000], "mbrola_rates"),
        ("mbrola_pitches", [], "mbrola_pitches"),
        ("pico_pitches", [3.0], "pico_pitches"),
        ("pico_rates", [0.1], "pico_rates"),
        ("pico_voices", ["en US"], "not a voice name"),
        ("test_engines", ["festival"], "cannot be held out"),
    ],
)
def test_bad_settings_name_the_parameter(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.load_config("corpus", "quick", {key: value})
    assert fragment in str(exc.value)


# ---------------------------------------------------------------------------- bootstrap


def test_quick_bootstrap_makes_folders_clips_and_manifest(quick_corpus) -> None:
    raw, summary = quick_corpus
    assert summary.elapsed_seconds < 30
    for folder in ("activates", "negatives", "backgrounds"):
        assert (raw / folder).is_dir()
    records = corpus.load_manifest(raw)
    on_disk = {p.relative_to(raw).as_posix() for p in audio.find_audio_files(raw)}
    assert {r.path for r in records} == on_disk
    assert len(records) == summary.clips == summary.generated and not summary.failures
    for r in records:
        info = sf.info(str(raw / r.path))
        assert info.samplerate == r.sample_rate and info.subtype == "PCM_16"
        assert r.duration_seconds == pytest.approx(info.frames / info.samplerate, abs=1e-3)
        assert r.duration_seconds > 0
    assert summary.by_kind == {"activate": 15, "negative": 72, "background": 6}
    assert {r.split for r in records if r.engine == "festival"} == {"dev"}
    assert {r.engine for r in records if r.split == "train" and r.kind != "background"} == {
        "espeak", "flite"
    }  # fmt: skip
    assert {r.engine for r in records if r.split == "test"} == {"mbrola", "pico"}  # test_engines
    assert {r.text for r in records if r.kind == "activate"} == {"hey joe"}
    backgrounds = [r for r in records if r.kind == "background"]
    assert {r.category for r in backgrounds} == set(corpus.BACKGROUND_TYPES)
    assert {r.split for r in backgrounds} == {"train", "dev"}
    assert all(r.sample_rate == 16000 and r.duration_seconds == 10.0 for r in backgrounds)


def test_tts_clips_are_trimmed_and_loud(quick_corpus) -> None:
    raw, _ = quick_corpus
    for r in corpus.load_manifest(raw):
        if r.kind != "activate":
            continue
        x, sr = audio.read_audio(raw / r.path)
        assert 0.3 < len(x) / sr < 2.0, r  # "hey joe" with ~20 ms kept either side
        edge = int(0.05 * sr)
        assert np.max(np.abs(x[:edge])) > 0.01 * np.max(np.abs(x)), r  # speech starts at once


def test_second_run_reuses_everything(corpus_copy: Path) -> None:
    before = (corpus_copy / corpus.MANIFEST_NAME).read_bytes()
    t0 = time.perf_counter()
    again = corpus.bootstrap_corpus(config.load_config("corpus", "quick"), corpus_copy)
    assert time.perf_counter() - t0 < 3.0
    assert again.generated == 0 and again.reused == again.clips == 93
    assert (corpus_copy / corpus.MANIFEST_NAME).read_bytes() == before


def test_deleted_files_are_made_again(corpus_copy: Path) -> None:
    records = corpus.load_manifest(corpus_copy)
    gone = [next(r for r in records if r.kind == k) for k in ("activate", "background")]
    for r in gone:
        (corpus_copy / r.path).unlink()
    again = corpus.bootstrap_corpus(config.load_config("corpus", "quick"), corpus_copy)
    assert again.generated == 2 and again.reused == len(records) - 2
    assert all((corpus_copy / r.path).is_file() for r in gone)
    remade = corpus.load_manifest(corpus_copy)
    assert [r.path for r in remade] == [r.path for r in records]
    for old, new in zip(records, remade, strict=True):
        assert new.duration_seconds == pytest.approx(old.duration_seconds, abs=0.02)


def test_user_background_is_picked_up_and_bad_file_listed(corpus_copy: Path, caplog) -> None:
    rng = np.random.default_rng(0)
    audio.write_wav(corpus_copy / "backgrounds" / "kitchen.wav", rng.normal(0, 0.1, 8000), 8000)
    (corpus_copy / "backgrounds" / "broken.wav").write_bytes(b"RIFF....not audio")
    with caplog.at_level(logging.WARNING, logger="lib.corpus"):
        summary = corpus.bootstrap_corpus(config.load_config("corpus", "quick"), corpus_copy)
    rows = {r.path: r for r in corpus.load_manifest(corpus_copy)}
    kitchen = rows["backgrounds/kitchen.wav"]
    assert (kitchen.engine, kitchen.kind, kitchen.split) == ("user", "background", "train")
    assert kitchen.sample_rate == 8000 and kitchen.duration_seconds == pytest.approx(1.0)
    assert "backgrounds/broken.wav" not in rows
    assert any("broken.wav" in f for f in summary.failures)
    assert "broken.wav" in caplog.text
    assert summary.generated == 0 and summary.by_engine["user"] == 1


@needs_tts
def test_silent_clip_is_rejected_listed_and_not_retried(tmp_path: Path, monkeypatch) -> None:
    real = corpus._synthesize

    def fake(spec: corpus.ClipSpec, command: str, out: Path) -> None:
        if spec.text == "hello" and spec.engine == "espeak":
            sf.write(out, np.zeros(16000, dtype=np.int16), 16000)
        else:
            real(spec, command, out)

    monkeypatch.setattr(corpus, "_synthesize", fake)
    raw = tmp_path / "raw"
    first = corpus.bootstrap_corpus(tiny(), raw)
    assert len(first.failures) == 1 and "silent" in first.failures[0]
    assert "hello" in first.failures[0]
    assert first.clips == first.generated == 5  # 3 phrases x 2 voices, one silent
    assert (raw / corpus.REJECTED_NAME).is_file()
    second = corpus.bootstrap_corpus(tiny(), raw)
    assert second.generated == 0 and "earlier run" in second.failures[0]


@needs_tts
def test_unknown_voice_is_warned_and_skipped(tmp_path: Path, caplog) -> None:
    cfg = tiny(flite_voices=["slt", "nosuchvoice"], espeak_variants=["", "nosuchvariant"])
    with caplog.at_level(logging.WARNING, logger="lib.corpus"):
        summary = corpus.bootstrap_corpus(cfg, tmp_path / "raw")
    assert summary.rejected_voices == ["espeak +nosuchvariant", "flite nosuchvoice"]
    assert "nosuchvoice" in caplog.text
    voices = {(r.voice, r.variant) for r in corpus.load_manifest(tmp_path / "raw")}
    assert ("nosuchvoice", "") not in voices and ("en-us", "nosuchvariant") not in voices
    assert summary.clips == 6 and not summary.failures


@pytest.mark.skipif(
    not all(shutil.which(c) for c in ("espeak-ng", "mbrola", "pico2wave")),
    reason="needs espeak-ng, mbrola and pico2wave installed",
)
def test_unknown_mbrola_and_pico_voices_are_warned_and_skipped(tmp_path: Path, caplog) -> None:
    cfg = tiny(
        espeak_voices=[], flite_voices=[], mbrola_voices=["mb-us1", "mb-xx9"],
        mbrola_rates=[160], mbrola_pitches=[50], pico_voices=["en-GB", "xx-XX"],
        pico_rates=[1.0], pico_pitches=[1.0],
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="lib.corpus"):
        summary = corpus.bootstrap_corpus(cfg, tmp_path / "raw")
    assert summary.rejected_voices == ["mbrola mb-xx9", "pico xx-XX"]
    assert summary.by_engine == {"mbrola": 3, "pico": 3} and not summary.failures
    for r in corpus.load_manifest(tmp_path / "raw"):
        x, sr = audio.read_audio(tmp_path / "raw" / r.path)
        assert sr == 16000 and 0.1 < len(x) / sr < 2.0 and np.max(np.abs(x)) > 0.1, r


def test_missing_mbrola_program_is_named_with_its_packages(monkeypatch, tmp_path: Path) -> None:
    real_which = shutil.which
    monkeypatch.setattr(corpus.shutil, "which", lambda c: None if c == "mbrola" else real_which(c))
    cfg = tiny(mbrola_voices=["mb-us1"])
    assert corpus.check_engines(cfg) == ["mbrola"]
    with pytest.raises(HeyJoeError) as exc:
        corpus.bootstrap_corpus(cfg, tmp_path / "raw")
    message = str(exc.value)
    assert "mbrola" in message and "mbrola-us1" in message and "non-free" in message


def test_missing_engine_error_names_command_and_install(tmp_path: Path) -> None:
    cfg = tiny(espeak_command="heyjoe-no-such-espeak", flite_command="heyjoe-no-such-flite")
    assert corpus.check_engines(cfg) == ["heyjoe-no-such-espeak", "heyjoe-no-such-flite"]
    with pytest.raises(HeyJoeError) as exc:
        corpus.bootstrap_corpus(cfg, tmp_path / "raw")
    message = str(exc.value)
    assert "heyjoe-no-such-espeak, heyjoe-no-such-flite" in message
    assert "apt-get install" in message and "espeak-ng flite" in message
    assert "skip_missing_engines" in message
    assert not (tmp_path / "raw" / corpus.MANIFEST_NAME).exists()


@needs_tts
def test_skip_missing_engines_builds_from_the_rest_in_data_dir(data_dir: Path, caplog) -> None:
    cfg = tiny(espeak_command="heyjoe-no-such-espeak", skip_missing_engines=True)
    with caplog.at_level(logging.WARNING, logger="lib.corpus"):
        summary = corpus.bootstrap_corpus(cfg)  # default location: paths.raw_dir()
    assert summary.raw_dir == paths.raw_dir() == data_dir / "raw"
    assert summary.skipped_engines == ["heyjoe-no-such-espeak"]
    assert "heyjoe-no-such-espeak" in caplog.text
    assert summary.by_engine == {"flite": 3}


# ---------------------------------------------------------------------------- manifest


def test_missing_and_malformed_manifest_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no corpus manifest"):
        corpus.load_manifest(tmp_path)
    good = corpus.ClipRecord(
        "activates/a.wav", "activate", "trigger", "hey joe", "espeak", "en", "", 175.0, 50.0,
        "train", 22050, 0.7,
    )  # fmt: skip
    corpus.write_manifest([good, good], tmp_path)
    assert corpus.load_manifest(tmp_path) == [good, good]
    path = tmp_path / corpus.MANIFEST_NAME
    lines = path.read_text().splitlines()
    cases = {
        "column 'kind' must be one of": lines[2].replace(",activate,", ",activator,"),
        "has 13 fields, the header has 12": lines[2] + ",extra",
        "column 'duration_seconds' must be a number": lines[2].replace(",0.7000", ",long"),
    }
    for fragment, bad_line in cases.items():
        path.write_text("\n".join([lines[0], lines[1], bad_line]) + "\n")
        with pytest.raises(DatasetError) as exc:
            corpus.load_manifest(tmp_path)
        assert f"{path}:3: {fragment}" in str(exc.value)
    path.write_text("path,kind\nx.wav,activate\n")
    with pytest.raises(DatasetError, match=r"manifest.csv:1: the header lacks column"):
        corpus.load_manifest(tmp_path)


# ---------------------------------------------------------------------------- import


def test_import_clips_converts_skips_bad_and_survives_bootstrap(tmp_path: Path, caplog) -> None:
    src = tmp_path / "mine"
    src.mkdir()
    sr = 16000
    t = np.arange(sr) / sr
    tone = np.where((t > 0.3) & (t < 0.7), 0.5 * np.sin(2 * np.pi * 220 * t), 0.0)
    sf.write(src / "take1.flac", tone, sr)
    sf.write(src / "silent.wav", np.zeros(sr), sr)
    (src / "empty.wav").write_bytes(b"")
    raw = tmp_path / "raw"
    with caplog.at_level(logging.WARNING, logger="lib.corpus"):
        imported = corpus.import_clips(src, "activate", raw, text="hey joe")
    assert "silent.wav" in caplog.text and "empty.wav" in caplog.text
    assert len(imported) == 1
    rec = imported[0]
    assert rec.path.startswith("activates/user-") and rec.path.endswith(".wav")
    assert (rec.engine, rec.kind, rec.text, rec.split) == ("user", "activate", "hey joe", "train")
    assert 0.4 <= rec.duration_seconds < 0.5  # trimmed to the tone plus padding
    assert sf.info(str(raw / rec.path)).subtype == "PCM_16"
    again = corpus.import_clips(src, "activate", raw, text="hey joe")
    assert corpus.load_manifest(raw) == again == imported  # same file, one row
    with pytest.raises(ValueError, match="kind must be one of"):
        corpus.import_clips(src, "activates", raw)
    summary = corpus.bootstrap_corpus(tiny(espeak_voices=[], flite_voices=[]), raw)
    assert corpus.load_manifest(raw) == imported and summary.by_engine == {"user": 1}


# ---------------------------------------------------------------------------- audio helpers


def test_trim_silence_keeps_the_sound_and_padding() -> None:
    sr = 16000
    x = np.zeros(sr, dtype=np.float32)
    x[4000:8000] = 0.3 * np.sin(np.arange(4000) * 0.3)
    y = corpus.trim_silence(x, sr, threshold_db=40.0, pad_seconds=0.02)
    assert len(y) == pytest.approx(4000 + 2 * 320, abs=2 * 160)
    assert np.array_equal(y[y != 0], x[x != 0])
    assert len(corpus.trim_silence(np.zeros(sr), sr)) == 0


def test_background_generators_are_seeded_and_coloured() -> None:
    sr = 16000

    def music(seed: int) -> np.ndarray:
        return corpus.make_music(np.random.default_rng(seed), 4.0, sr)

    assert np.array_equal(music(1), music(1)) and not np.array_equal(music(1), music(2))
    assert np.max(np.abs(music(3))) == pytest.approx(1.0) and len(music(3)) == 4 * sr

    def low_share(colour: str) -> float:
        x = corpus.make_noise(np.random.default_rng(0), 2.0, sr, colour)
        power = np.abs(np.fft.rfft(x)) ** 2
        return float(power[: len(power) // 16].sum() / power.sum())  # below 500 Hz

    assert low_share("white") < 0.1 < low_share("pink") < low_share("brown")
    hum = corpus.make_hum(np.random.default_rng(0), 1.0, sr)
    spectrum = np.abs(np.fft.rfft(hum))
    assert np.argmax(spectrum) in (50, 60)  # 1 Hz bins: the mains frequency dominates
