"""The window's settings: last server and nick, theme, font size, window size.

They live in ``settings.json`` in the platform's per-user configuration folder (where the
window's log file goes too). Saving is atomic (a temporary file, then a rename), and a
damaged file is set aside with a warning, never fatal.

Threading: called on the Tk main thread only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gui.theme import THEMES
from net.protocol import DEFAULT_PORT

log = logging.getLogger(__name__)


@dataclass
class Settings:
    host: str = "localhost"
    port: int = DEFAULT_PORT
    nick: str = ""
    theme: str = "light"
    font_size: int = 11
    geometry: str = "980x640"
    comings: bool = True  # show "ana joined" / "ana left" lines (a class of 30 may not want them)
    send_typing: bool = True  # tell others when we are typing (IRCv3 +typing)
    tls: bool = False  # the server (``host``) speaks TLS: ``ircs://``
    #: the other servers of the same network, as typed ("aula2:6667, ircs://aula3")
    other_servers: str = ""
    #: certificates the user chose to trust: ``ServerAddress.key`` -> SHA-256 fingerprint
    trusted_certificates: dict = dataclasses.field(default_factory=dict)


#: WIDTHxHEIGHT, and maybe +X+Y, as Tk's ``wm geometry`` takes and gives it
_GEOMETRY = re.compile(r"(\d{2,5})x(\d{2,5})([+-]-?\d{1,5}[+-]-?\d{1,5})?")


def usable_geometry(value: str) -> bool:
    """A window size Tk takes and a person can see.

    >>> [usable_geometry(g) for g in ("980x640", "800x600+10+-20", "1x1", "garbage")]
    [True, True, False, False]
    """
    match = _GEOMETRY.fullmatch(value)
    return match is not None and all(200 <= int(size) <= 20000 for size in match.groups()[:2])


#: certificates remembered as trusted, at most (one per server of the school's networks)
MAX_TRUSTED = 64
#: a SHA-256 fingerprint as ``net.tls.fingerprint`` writes it
_FINGERPRINT = re.compile(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}")

#: what each setting may hold; a value outside it is forgotten, the rest kept
_SENSIBLE = {
    "host": lambda value: 0 < len(value) <= 255,
    "port": lambda value: 0 < value < 65536,
    "nick": lambda value: len(value) <= 64,
    "theme": lambda value: value in THEMES,
    "font_size": lambda value: 7 <= value <= 32,  # what Ctrl+plus/minus allow
    "geometry": usable_geometry,
    "comings": lambda _value: True,
    "send_typing": lambda _value: True,
    "tls": lambda _value: True,
    "other_servers": lambda value: len(value) <= 2000,
    "trusted_certificates": lambda value: (
        len(value) <= MAX_TRUSTED
        and all(
            isinstance(key, str)
            and len(key) <= 300
            and isinstance(print_, str)
            and _FINGERPRINT.fullmatch(print_)
            for key, print_ in value.items()
        )
    ),
}


def config_dir() -> Path:
    """``%APPDATA%\\Charla``, ``~/Library/Application Support/Charla`` or ``~/.config/charla``."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "Charla"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Charla"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "charla"


def log_file() -> Path:
    """The window's log file, ``charla.log`` beside the settings."""
    return config_dir() / "charla.log"


def default_nick() -> str:
    """The user's login name, as a first suggestion."""
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return ""


def load(path: Path) -> Settings:
    """The saved settings, or the defaults; a file that cannot be read is set aside."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings(nick=default_nick())
    except (OSError, ValueError, RecursionError) as exc:  # deep nesting: RecursionError
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        with contextlib.suppress(OSError):
            path.replace(aside)
        log.warning("settings file %s was damaged (%s); set aside as %s", path, exc, aside.name)
        return Settings(nick=default_nick())
    known = {field.name: field.type for field in dataclasses.fields(Settings)}
    values = {}
    if isinstance(raw, dict):
        defaults = Settings()
        for name in known:
            value = raw.get(name)
            wanted = type(getattr(defaults, name))
            # bool is an int to isinstance, and "port": true is no port
            if type(value) is wanted and _SENSIBLE[name](value):
                values[name] = value
            elif name in raw:
                log.warning("setting %s=%.40r is not usable; the default is used", name, value)
    settings = Settings(**values)
    if not settings.nick:
        settings.nick = default_nick()
    return settings


def save(settings: Settings, path: Path) -> None:
    """Write atomically: a crash mid-write leaves the old file, never half a new one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not save settings to %s: %s", path, exc)
