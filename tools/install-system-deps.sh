#!/usr/bin/env bash
# Installs the system tools heyjoe needs (text-to-speech engines and voices, sox, ffmpeg,
# PortAudio, Chromium for the browser test) where it can: with apt-get when running as root on Debian/Ubuntu. Otherwise it
# prints one message saying what is missing and how to install it, and fails.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd espeak-ng || need+=(espeak-ng)
have_cmd flite || need+=(flite)
have_cmd text2wave || need+=(festival)
[ -d /usr/share/festival/voices/english/kal_diphone ] || need+=(festvox-kallpc16k)
[ -d /usr/share/festival/voices/english/ked_diphone ] || need+=(festvox-kdlpc16k)
[ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] || need+=(festvox-us-slt-hts)
# more training voices: MBROLA's diphone voices (driven by espeak-ng) and SVOX Pico
have_cmd mbrola || need+=(mbrola)
for v in us1 us2 us3 en1; do [ -d "/usr/share/mbrola/$v" ] || need+=("mbrola-$v"); done
have_cmd pico2wave || need+=(libttspico-utils)
have_cmd sox || need+=(sox)
have_cmd ffmpeg || need+=(ffmpeg)
if ! { ldconfig -p 2>/dev/null | grep 'libportaudio\.so' >/dev/null; }; then need+=(libportaudio2); fi
# the real-browser test of the labelling widget drives Debian's Chromium with Playwright
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && have_cmd apt-get; then
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # the MBROLA voices and Pico are in Debian's contrib and non-free sections; add them when
  # apt does not know the packages (its own file, so the system's sources stay as they were)
  if ! apt-cache madison mbrola-us1 2>/dev/null | grep -q . && [ -r /etc/os-release ]; then
    . /etc/os-release
    if [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ]; then
      echo "enabling Debian's contrib and non-free sections (for the MBROLA voices and Pico)"
      cat >/etc/apt/sources.list.d/heyjoe-contrib-non-free.sources <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME}
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
      apt-get update -qq
    fi
  fi
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi

cat >&2 <<MSG
heyjoe needs these system packages, which are missing: ${need[*]}
Install them with:
  sudo apt-get update && sudo apt-get install -y ${need[*]}
(mbrola-* and libttspico-utils are in Debian's contrib/non-free sections, Ubuntu's multiverse:
enable those first.)
(on macOS: brew install espeak-ng flite festival sox ffmpeg portaudio chromium), then run the command again.
MSG
exit 1
