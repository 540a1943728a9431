"""The system tools heyjoe uses, and how to get them when they are missing."""

from __future__ import annotations

import ctypes.util
import shutil
from pathlib import Path

#: tool → (how to check, Debian package). Checks: "cmd:NAME", "dir:PATH", "lib:NAME".
TOOLS: dict[str, tuple[str, str]] = {
    "espeak-ng": ("cmd:espeak-ng", "espeak-ng"),
    "flite": ("cmd:flite", "flite"),
    "festival": ("cmd:text2wave", "festival"),
    "festival voice kal_diphone": (
        "dir:/usr/share/festival/voices/english/kal_diphone",
        "festvox-kallpc16k",
    ),
    "festival voice ked_diphone": (
        "dir:/usr/share/festival/voices/english/ked_diphone",
        "festvox-kdlpc16k",
    ),
    "festival voice cmu_us_slt_arctic_hts": (
        "dir:/usr/share/festival/voices/us/cmu_us_slt_arctic_hts",
        "festvox-us-slt-hts",
    ),
    "mbrola": ("cmd:mbrola", "mbrola"),
    "mbrola voice us1": ("dir:/usr/share/mbrola/us1", "mbrola-us1"),
    "mbrola voice us2": ("dir:/usr/share/mbrola/us2", "mbrola-us2"),
    "mbrola voice us3": ("dir:/usr/share/mbrola/us3", "mbrola-us3"),
    "mbrola voice en1": ("dir:/usr/share/mbrola/en1", "mbrola-en1"),
    "pico2wave": ("cmd:pico2wave", "libttspico-utils"),
    "sox": ("cmd:sox", "sox"),
    "ffmpeg": ("cmd:ffmpeg", "ffmpeg"),
    "portaudio": ("lib:portaudio", "libportaudio2"),
    "chromium (browser test)": ("cmd:chromium", "chromium"),
}


#: packages of Debian's contrib and non-free sections (not enabled on a default install).
NON_FREE = {"mbrola-us1", "mbrola-us2", "mbrola-us3", "mbrola-en1", "libttspico-utils"}


def _present(check: str) -> bool:
    kind, _, name = check.partition(":")
    if kind == "cmd":
        return shutil.which(name) is not None
    if kind == "dir":
        return Path(name).is_dir()
    return ctypes.util.find_library(name) is not None


def tool_report() -> dict[str, bool]:
    """Each tool and whether this machine has it."""
    return {name: _present(check) for name, (check, _) in TOOLS.items()}


def missing_tools() -> list[str]:
    return [name for name, ok in tool_report().items() if not ok]


def install_hint(missing: list[str]) -> str:
    """One message: what is missing and the command that installs it."""
    packages = sorted({TOOLS[name][1] for name in missing})
    return (
        f"heyjoe is missing system tools: {', '.join(missing)}. Install them with:\n"
        f"  sudo apt-get update && sudo apt-get install -y {' '.join(packages)}\n"
        + (
            "(the MBROLA voices and Pico are in Debian's non-free section: add 'contrib "
            "non-free' to the Components of /etc/apt/sources.list.d/debian.sources first, as "
            "tools/install-system-deps.sh does)\n"
            if NON_FREE & set(packages)
            else ""
        )
        + "(on macOS: brew install espeak-ng flite festival sox ffmpeg portaudio chromium)"
    )
