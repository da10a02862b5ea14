#!/usr/bin/env bash
# The whole check, from nothing: installs what the tests need, then runs lint and every test.
# Works on a fresh Debian/Ubuntu machine (as root, or with sudo); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Python's venv and Tk, the peers the tests talk to (ngIRCd and InspIRCd,
# alone and as linked networks, with Atheme as their services), openssl (the test
# certificates), a screen, a typist,
# xprop (what a window shows the desktop), binutils (objdump, strip, used by PyInstaller),
# iproute2 (network namespaces the tests make), Avahi with its tools and D-Bus (the real
# multicast DNS that Charla's rooms must be found by and find, run inside a namespace),
# and the browser the web page's tests drive
# with its driver and an emoji font (Selenium is told these paths: it downloads nothing).
packages=(python3-venv python3-tk ngircd inspircd atheme-services openssl xvfb xdotool x11-utils
    binutils iproute2
    avahi-daemon avahi-utils dbus chromium chromium-driver fonts-noto-color-emoji)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python: the project and its dev extras in a virtual environment of its own.
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# Lint, build the two programs (dist/Charla, dist/Charla-servidor), then every test,
# the built programs' included.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
PYTHONHASHSEED=0 .venv/bin/pyinstaller --noconfirm --log-level WARN build.spec  # reproducible
.venv/bin/python -m pytest --built=dist "$@"
