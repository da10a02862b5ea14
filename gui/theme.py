"""Colours and fonts: a light and a dark theme, and a stable colour for every nickname.

Threading: constants and pure functions; used on the Tk main thread.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from net.protocol import irc_lower


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    text: str
    muted: str  # timestamps, joins and leaves
    own_background: str  # our own messages
    highlight_background: str  # a mention of our nick, a private message
    banner_background: str  # the server's announcements
    banner_text: str
    link: str
    pending: str
    error: str  # why a message of ours was refused
    found_background: str  # search matches
    panel_background: str  # nick list, entry
    scrollbar_thumb: str  # the part of a scrollbar that moves, seen on ``background``
    nick_colors: tuple[str, ...]  # all readable on ``background``


LIGHT = Theme(
    name="light",
    background="#ffffff",
    text="#1f2328",
    muted="#6e7781",
    own_background="#eef5ff",
    highlight_background="#fff1b8",
    banner_background="#ffe08a",
    banner_text="#4a3200",
    link="#0a58ca",
    pending="#9a6700",
    error="#b3261e",
    found_background="#ffd33d",
    panel_background="#f6f8fa",
    scrollbar_thumb="#c4ccd4",
    nick_colors=(
        "#b3261e",
        "#0b6e4f",
        "#1a4fb4",
        "#8a3ffc",
        "#a2501a",
        "#007c89",
        "#c2185b",
        "#4d6b00",
        "#5b4bd6",
        "#9c4a00",
        "#00695c",
        "#6d3fa0",
    ),
)

DARK = Theme(
    name="dark",
    background="#161b22",
    text="#e6edf3",
    muted="#8b949e",
    own_background="#1c2a3e",
    highlight_background="#4a3b00",
    banner_background="#6b4e00",
    banner_text="#fff4cc",
    link="#6cb6ff",
    pending="#e3b341",
    error="#ff7b72",
    found_background="#9e6a03",
    panel_background="#0d1117",
    scrollbar_thumb="#484f58",
    nick_colors=(
        "#ff7b72",
        "#56d364",
        "#79c0ff",
        "#d2a8ff",
        "#ffa657",
        "#39c5cf",
        "#ff9bce",
        "#a5d6a7",
        "#a5a5ff",
        "#f0b072",
        "#4dd0b1",
        "#c297ff",
    ),
)

THEMES = {"light": LIGHT, "dark": DARK}


def nick_color(nick: str, theme: Theme) -> str:
    """The same colour for the same nick, every time and in every window.

    >>> nick_color("Ana", LIGHT) == nick_color("ana", LIGHT)
    True
    """
    return theme.nick_colors[zlib.crc32(irc_lower(nick).encode()) % len(theme.nick_colors)]
