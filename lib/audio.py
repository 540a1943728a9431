"""Reading, checking, resampling, levelling and writing audio.

Audio in memory is always a float32 numpy array of shape ``(n,)`` in [-1, 1] (mono; stereo
files are averaged). Every problem with a file raises :class:`~lib.errors.AudioError` whose
message starts with the file's path and says what is wrong.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from lib.errors import AudioError
from lib.files import atomic_path

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

#: A clip whose absolute peak is below this (-80 dBFS, about 3 LSB of 16-bit audio) is "silent".
SILENCE_PEAK = 1e-4

PathLike = str | os.PathLike


def _wav_truncation(path: Path) -> str | None:
    """Say how a RIFF/WAVE file is cut short (its data chunk claims more bytes than exist)."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                present = size - fh.tell()
                # 0 and 0xFFFFFFFF are what streaming writers leave when the size is unknown.
                if length not in (0, 0xFFFFFFFF) and length > present:
                    return (
                        f"is truncated: its header declares {length} bytes of audio "
                        f"but only {present} are present"
                    )
                return None
            fh.seek(length + (length & 1), os.SEEK_CUR)


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode with the ``ffmpeg`` command (only used where libsndfile lacks MP3 support)."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(
            f"{path}: cannot decode MP3: this libsndfile has no MP3 support and the ffmpeg "
            "command is not installed (install ffmpeg, or convert the file to WAV)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "decoded.wav"
        cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-c:a", "pcm_f32le", str(wav)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not wav.is_file():
            err = done.stderr.strip().splitlines()
            raise AudioError(f"{path}: cannot decode ({err[-1] if err else 'ffmpeg failed'})")
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
    return data, rate


def _soundfile_reads_mp3() -> bool:
    return "MP3" in sf.available_formats()


def read_audio(path: PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC/OGG/MP3 file → (float32 mono samples in [-1, 1], native sample rate).

    Any integer (8/16/24/32-bit) or float (32/64-bit) encoding and any rate are accepted.
    Raises AudioError for a missing, empty, truncated, undecodable or unknown-format file,
    for audio holding NaN or Inf, and for a file with no samples.
    """
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise AudioError(
            f"{path}: unknown audio format {path.suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if not path.is_file():
        raise AudioError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    if path.suffix.lower() == ".wav" and (why := _wav_truncation(path)):
        raise AudioError(f"{path}: {why}")
    if path.suffix.lower() == ".mp3" and not _soundfile_reads_mp3():
        data, rate = _decode_ffmpeg(path)
    else:
        try:
            data, rate = sf.read(path, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            reason = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
            raise AudioError(f"{path}: cannot decode ({reason})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio (zero-length, 0 samples)")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    bad = int(np.count_nonzero(~np.isfinite(mono)))
    if bad:
        raise AudioError(f"{path}: contains NaN or Inf values ({bad} of {len(mono)} samples)")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def load_audio(
    path: PathLike,
    sample_rate: int | None = None,
    *,
    min_seconds: float = 0.0,
    allow_silent: bool = True,
) -> np.ndarray:
    """Read a file (see :func:`read_audio`), check it, and resample to ``sample_rate`` if given.

    Raises AudioError if the clip is shorter than ``min_seconds`` or, with
    ``allow_silent=False``, if its peak is below :data:`SILENCE_PEAK`.
    """
    x, rate = read_audio(path)
    seconds = len(x) / rate
    if seconds < min_seconds:
        raise AudioError(
            f"{path}: too short: {seconds:.3f} s long, at least {min_seconds:g} s is needed"
        )
    if not allow_silent and (peak := float(np.max(np.abs(x)))) < SILENCE_PEAK:
        level = f"{20 * math.log10(peak):.1f} dBFS" if peak > 0 else "digital silence"
        raise AudioError(f"{path}: silent (peak {level}, below {20 * math.log10(SILENCE_PEAK):g})")
    return x if sample_rate is None else resample(x, rate, sample_rate)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with a polyphase filter (``scipy.signal.resample_poly``)."""
    for name, value in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer sample rate, got {value!r}")
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_sr), int(target_sr))
    return resample_poly(x, int(target_sr) // g, int(orig_sr) // g, axis=-1).astype(np.float32)


def dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS, a sine -3.01,
    as in pydub); ``-inf`` for digital silence or no samples."""
    x = np.asarray(x, dtype=np.float64)
    rms = math.sqrt(float(np.mean(np.square(x)))) if x.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def match_loudness(x: np.ndarray, target_dbfs: float) -> np.ndarray:
    """Scale ``x`` so its RMS level is ``target_dbfs`` (no clipping); silence is returned as is."""
    level = dbfs(x)
    x = np.asarray(x, dtype=np.float32)
    if level == -math.inf:
        return x.copy()
    return (x * np.float32(10 ** ((target_dbfs - level) / 20))).astype(np.float32)


def peak_normalize(x: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """Scale ``x`` so its largest absolute sample is ``peak``; silence is returned as is."""
    x = np.asarray(x, dtype=np.float32)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return x.copy() if top == 0 else (x * np.float32(peak / top)).astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] → int16 (×32768, rounded, clipped to [-32768, 32767])."""
    scaled = np.rint(np.asarray(x, dtype=np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def from_int16(x: np.ndarray) -> np.ndarray:
    """int16 samples → float32 in [-1, 1) (÷32768, as soundfile reads them)."""
    return (np.asarray(x, dtype=np.int16).astype(np.float32) / np.float32(32768.0)).astype(
        np.float32
    )


def write_wav(path: PathLike, x: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write ``x`` (``(n,)`` or ``(n, channels)``) as a WAV file, atomically."""
    path = Path(path)
    x = np.asarray(x)
    if x.ndim not in (1, 2) or x.size == 0:
        raise AudioError(f"{path}: cannot write audio of shape {x.shape}; need (n,) or (n, ch)")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: cannot write audio containing NaN or Inf")
    if not sf.check_format("WAV", subtype):
        raise AudioError(f"{path}: unknown WAV subtype {subtype!r}")
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, x, int(sample_rate), subtype=subtype, format="WAV")
    return path


def find_audio_files(folder: PathLike, recursive: bool = True) -> list[Path]:
    """Audio files (by :data:`SUPPORTED_EXTENSIONS`, any case) in ``folder``, sorted.

    Hidden files (name starting with ``.``, e.g. temporary or ``._`` macOS files) are skipped.
    """
    folder = Path(folder)
    if folder.is_file():
        raise AudioError(f"{folder}: is a file, not a folder (give the folder that holds it)")
    if not folder.is_dir():
        raise AudioError(f"{folder}: audio folder not found")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in candidates
        if p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )


def load_folder(
    folder: PathLike, sample_rate: int, **load_kwargs
) -> tuple[list[tuple[Path, np.ndarray]], list[tuple[Path, str]]]:
    """Load every audio file under ``folder`` → (loaded ``(path, audio)``, skipped ``(path, why)``).

    Files that fail :func:`load_audio` are skipped and named together in one warning.
    """
    loaded: list[tuple[Path, np.ndarray]] = []
    skipped: list[tuple[Path, str]] = []
    for path in find_audio_files(folder):
        try:
            loaded.append((path, load_audio(path, sample_rate, **load_kwargs)))
        except AudioError as exc:
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
    if skipped:
        lines = "\n".join(f"  {p}: {why}" for p, why in skipped)
        log.warning("skipped %d of %d audio files in %s:\n%s",
                    len(skipped), len(skipped) + len(loaded), folder, lines)  # fmt: skip
    return loaded, skipped
