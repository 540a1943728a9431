"""lib.audio: reading every format, clear errors for bad files, resampling, levels, writing."""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lib import audio
from lib.errors import AudioError

SR = 16000


def tone(seconds: float = 0.5, sr: int = SR, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def raises_audio_error(path: Path, *words: str, **kwargs) -> str:
    """Load ``path`` expecting an AudioError that starts with the path and contains ``words``."""
    with pytest.raises(AudioError) as info:
        audio.load_audio(path, **kwargs)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    for word in words:
        assert word in msg, msg
    # no chained library traceback: raised `from None` (or from nothing)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return msg


@pytest.mark.parametrize(
    "subtype, tol",
    [("PCM_U8", 1e-2), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-6),
     ("FLOAT", 0), ("DOUBLE", 1e-7)],
)  # fmt: skip
def test_reads_every_wav_encoding(tmp_path: Path, subtype: str, tol: float) -> None:
    x = tone(sr=22050)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, x, 22050, subtype=subtype)
    y, sr = audio.read_audio(path)
    assert sr == 22050 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=tol)


@pytest.mark.parametrize("ext, tol", [(".flac", 1e-4), (".ogg", 0.1), (".mp3", 0.1)])
def test_reads_compressed_formats(tmp_path: Path, ext: str, tol: float) -> None:
    x = tone(1.0)
    path = tmp_path / f"clip{ext.upper()}"  # upper-case extension is fine too
    sf.write(path, x, SR)
    y, sr = audio.read_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) < 0.1 * SR  # MP3 pads a little
    assert abs(audio.dbfs(y) - audio.dbfs(x)) < 0.5
    if ext == ".flac":
        np.testing.assert_allclose(y, x, atol=tol)


def test_mp3_falls_back_to_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clip.mp3"
    sf.write(path, tone(1.0), SR)
    monkeypatch.setattr(audio, "_soundfile_reads_mp3", lambda: False)
    if shutil.which("ffmpeg"):
        y, sr = audio.read_audio(path)
        assert sr == SR and abs(audio.dbfs(y) - audio.dbfs(tone(1.0))) < 0.5
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    msg = raises_audio_error(path, "ffmpeg")
    assert "not installed" in msg


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(amp=0.4), np.zeros(int(0.5 * SR), np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, _ = audio.read_audio(path)
    assert y.shape == left.shape
    np.testing.assert_allclose(y, left / 2, atol=1e-7)


def test_load_audio_resamples(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, tone(1.0, sr=44100), 44100)
    y = audio.load_audio(path, 16000)
    assert y.dtype == np.float32 and y.shape == (16000,)
    assert len(audio.load_audio(path)) == 44100


def test_missing_empty_and_unknown_files(tmp_path: Path) -> None:
    raises_audio_error(tmp_path / "nope.wav", "not found")
    empty = tmp_path / "empty.wav"
    empty.touch()
    raises_audio_error(empty, "empty", "0 bytes")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    raises_audio_error(text, "unknown audio format", ".txt")
    raises_audio_error(tmp_path / "noext", "unknown audio format")


def test_garbage_and_truncated_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    raises_audio_error(garbage, "cannot decode")
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    raises_audio_error(header_only, "cannot decode")
    whole = tmp_path / "whole.wav"
    sf.write(whole, tone(1.0), SR)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:5000])
    raises_audio_error(cut, "truncated", "bytes")
    bad_flac = tmp_path / "bad.flac"
    bad_flac.write_bytes(b"fLaC" + b"\x00" * 50)
    raises_audio_error(bad_flac, "cannot decode")


def test_nan_zero_length_silent_and_short(tmp_path: Path) -> None:
    x = tone()
    x[100] = np.nan
    nan = tmp_path / "nan.wav"
    sf.write(nan, x, SR, subtype="FLOAT")
    raises_audio_error(nan, "NaN or Inf", "1 of")

    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), SR)
    raises_audio_error(zero, "zero-length")

    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, tone(amp=1e-5), SR, subtype="FLOAT")
    assert audio.load_audio(quiet).shape == (SR // 2,)  # allowed by default
    raises_audio_error(quiet, "silent", "dBFS", allow_silent=False)
    digital = tmp_path / "digital.wav"
    sf.write(digital, np.zeros(SR), SR)
    raises_audio_error(digital, "silent", "digital silence", allow_silent=False)

    short = tmp_path / "short.wav"
    sf.write(short, tone(0.25), SR)
    raises_audio_error(short, "too short", "0.250 s", "1 s", min_seconds=1.0)
    assert len(audio.load_audio(short, min_seconds=0.25)) == SR // 4


def test_resample() -> None:
    x = tone(1.0, sr=48000, freq=1000.0)
    np.testing.assert_array_equal(audio.resample(x, 48000, 48000), x)
    y = audio.resample(x, 48000, 16000)
    assert y.dtype == np.float32 and y.shape == (16000,)
    # the 1 kHz tone survives at the new rate
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=1)
    assert audio.resample(np.zeros((2, 44100), np.float32), 44100, 16000).shape == (2, 16000)
    with pytest.raises(ValueError, match="target_sr"):
        audio.resample(x, 48000, 0)
    with pytest.raises(ValueError, match="orig_sr"):
        audio.resample(x, 44.1, 16000)


def test_levels() -> None:
    square = np.where(tone(freq=50) >= 0, 1.0, -1.0).astype(np.float32)
    assert audio.dbfs(square) == pytest.approx(0.0, abs=1e-6)
    assert audio.dbfs(tone(amp=1.0)) == pytest.approx(-3.0103, abs=1e-3)
    assert audio.dbfs(np.zeros(10)) == -math.inf
    assert audio.dbfs(np.zeros(0)) == -math.inf

    y = audio.match_loudness(tone(amp=0.01), -20.0)
    assert y.dtype == np.float32 and audio.dbfs(y) == pytest.approx(-20.0, abs=1e-3)
    silent = np.zeros(100, np.float32)
    np.testing.assert_array_equal(audio.match_loudness(silent, -20.0), silent)

    p = audio.peak_normalize(tone(amp=0.1), 0.5)
    assert np.max(np.abs(p)) == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_array_equal(audio.peak_normalize(silent), silent)


def test_int16_conversion() -> None:
    x = np.array([-2.0, -1.0, -0.5, 0.0, 1 / 65536 + 1e-9, 0.5, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(
        audio.to_int16(x), [-32768, -32768, -16384, 0, 1, 16384, 32767, 32767]
    )
    ints = np.array([-32768, -1, 0, 1, 32767], np.int16)
    f = audio.from_int16(ints)
    assert f.dtype == np.float32 and f[0] == -1.0 and f[-1] < 1.0
    np.testing.assert_array_equal(audio.to_int16(f), ints)


def test_write_wav_roundtrip_and_atomic(tmp_path: Path) -> None:
    x = tone()
    out = audio.write_wav(tmp_path / "sub" / "a.wav", x, SR)
    assert out == tmp_path / "sub" / "a.wav"
    assert sf.info(out).subtype == "PCM_16" and sf.info(out).samplerate == SR
    y, _ = audio.read_audio(out)
    np.testing.assert_allclose(y, x, atol=1 / 32768)
    audio.write_wav(out, x, SR, subtype="FLOAT")  # replaces in place
    np.testing.assert_array_equal(audio.read_audio(out)[0], x)
    assert [p.name for p in out.parent.iterdir()] == ["a.wav"]  # no temp files left
    with pytest.raises(AudioError, match="NaN"):
        audio.write_wav(tmp_path / "nan.wav", np.array([0.0, np.nan]), SR)
    with pytest.raises(AudioError, match="shape"):
        audio.write_wav(tmp_path / "e.wav", np.zeros((2, 2, 2)), SR)
    with pytest.raises(AudioError, match="subtype"):
        audio.write_wav(tmp_path / "s.wav", x, SR, subtype="NOPE")
    assert not (tmp_path / "nan.wav").exists()


def test_find_audio_files(tmp_path: Path) -> None:
    for name in ["b.wav", "a.FLAC", "sub/c.mp3", "sub/deep/d.ogg", "notes.txt", ".hidden.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = audio.find_audio_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.FLAC", "b.wav", "sub/c.mp3", "sub/deep/d.ogg"
    ]  # fmt: skip
    assert [p.name for p in audio.find_audio_files(tmp_path, recursive=False)] == [
        "a.FLAC",
        "b.wav",
    ]
    with pytest.raises(AudioError, match="not found"):
        audio.find_audio_files(tmp_path / "missing")
    with pytest.raises(AudioError, match="b.wav: is a file, not a folder"):
        audio.find_audio_files(tmp_path / "b.wav")


def test_load_folder_skips_bad_files_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sf.write(tmp_path / "good1.wav", tone(1.0), SR)
    sf.write(tmp_path / "good2.flac", tone(1.0, sr=8000), 8000)
    sf.write(tmp_path / "short.wav", tone(0.1), SR)
    (tmp_path / "empty.wav").touch()
    with caplog.at_level(logging.WARNING, logger="lib.audio"):
        loaded, skipped = audio.load_folder(tmp_path, SR, min_seconds=0.5)
    assert [p.name for p, _ in loaded] == ["good1.wav", "good2.flac"]
    assert all(x.shape == (SR,) and x.dtype == np.float32 for _, x in loaded)
    assert {p.name: why.split(" ")[0] for p, why in skipped} == {
        "empty.wav": "file", "short.wav": "too"
    }  # fmt: skip
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "empty.wav" in warnings[0].getMessage() and "short.wav" in warnings[0].getMessage()
    with pytest.raises(AudioError, match="missing"):
        audio.load_folder(tmp_path / "missing", SR)
