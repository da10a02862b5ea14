"""What calls for the user's attention: mentions of their name, and the desktop's alert.

``mentions(nick, text)`` says whether a message names the user the way a Spanish speaker
means it: the nick as a whole word, ignoring case and accents ("lucia" names Lucía;
"mañana" does not name Ana). ``demand_attention(root, on)`` raises (or drops) the
desktop's alert for a window not in front: on Linux/X11 the ICCCM urgency hint in
``WM_HINTS`` (window managers show it as ``_NET_WM_STATE_DEMANDS_ATTENTION``: a blinking
taskbar button), set through Xlib with ``ctypes`` since Tk 8.6 has no call for it; on
Windows the taskbar flash (``gui.desktop.flash_taskbar``). Elsewhere (macOS) nothing:
Tk 8.6 has no Dock bounce. Neither function raises.

Threading: ``mentions`` is pure; ``demand_attention`` runs on the Tk main thread (it
opens, uses and closes its own Xlib connection within the call).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
import sys
import tkinter as tk
from functools import lru_cache

from gui.desktop import flash_taskbar
from gui.search import fold

log = logging.getLogger(__name__)

X_URGENCY_HINT = 1 << 8  # XUrgencyHint in XWMHints.flags (ICCCM 4.1.2.4)
#: what irc_lower folds into each other: a nick "[ana]" is named by "{ana}" too
_RFC1459 = str.maketrans("[]\\~", "{}|^")


@lru_cache(maxsize=8)  # the nick changes seldom: one compiled pattern per nick in use
def _nick_pattern(nick: str) -> tuple[str, bool, re.Pattern[str]]:
    """The folded nick, whether the text must be folded as IRC folds [ ] \\ ~ (only
    when the nick has one of them), and the pattern that finds it as a whole word."""
    needle = fold(nick).translate(_RFC1459)
    # A whole word: no letter, digit or "_" right before or after (folded text has no
    # accents left, so \w sees "ñ" in "mañana" as the "n" it became: still a letter).
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    return needle, not set("{}|^").isdisjoint(needle), pattern


def mentions(nick: str, text: str) -> bool:
    """Whether ``text`` names ``nick``: as a whole word, ignoring case and accents.

    >>> mentions("Lucía", "¿LUCÍA, vienes?"), mentions("lucía", "lucia, ven")
    (True, True)
    >>> mentions("[ana]", "hola {ANA}"), mentions("Ana", "¡ana!")
    (True, True)
    >>> mentions("Ana", "Hasta mañana"), mentions("Ana", "una semana"), mentions("ana", "ana_2 ven")
    (False, False, False)
    """
    if not nick:
        return False
    needle, symbols, pattern = _nick_pattern(nick)
    folded = fold(text)
    if symbols:
        folded = folded.translate(_RFC1459)
    # Most messages do not contain the nick at all: one substring test answers them (the
    # message's hot path), the pattern only checks the word's edges.
    return needle in folded and pattern.search(folded) is not None


class _WMHints(ctypes.Structure):
    """Xlib's ``XWMHints``."""

    _fields_ = [
        ("flags", ctypes.c_long),
        ("input", ctypes.c_int),
        ("initial_state", ctypes.c_int),
        ("icon_pixmap", ctypes.c_ulong),
        ("icon_window", ctypes.c_ulong),
        ("icon_x", ctypes.c_int),
        ("icon_y", ctypes.c_int),
        ("icon_mask", ctypes.c_ulong),
        ("window_group", ctypes.c_ulong),
    ]


@lru_cache(maxsize=1)
def _xlib() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    xlib = ctypes.CDLL(name)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XGetWMHints.restype = ctypes.POINTER(_WMHints)
    xlib.XGetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XSetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_WMHints)]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    window_p = ctypes.POINTER(ctypes.c_ulong)
    xlib.XQueryTree.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        window_p,
        window_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_uint),
    ]
    return xlib


def _wrapper(xlib: ctypes.CDLL, display: int, inner: int) -> int:
    """Tk's wrapper window around the toplevel ``inner``: the one that carries WM_HINTS
    (``wm frame`` would give the window manager's decoration around it instead)."""
    root, parent, children, count = (
        ctypes.c_ulong(),
        ctypes.c_ulong(),
        ctypes.c_void_p(),
        ctypes.c_uint(),
    )
    if not xlib.XQueryTree(
        display,
        inner,
        ctypes.byref(root),
        ctypes.byref(parent),
        ctypes.byref(children),
        ctypes.byref(count),
    ):
        return 0
    if children.value:
        xlib.XFree(children)
    return parent.value


def urgency_hint(root: tk.Tk, on: bool | None = None) -> bool | None:
    """X11: set the urgency hint of ``root``'s window to ``on`` (None: only read it).
    Returns whether it is set now, or None when there is no X11 to ask."""
    if root.tk.call("tk", "windowingsystem") != "x11":
        return None
    try:
        xlib = _xlib()
        inner = root.winfo_id()
    except (OSError, ValueError, tk.TclError):
        log.debug("no urgency hint here", exc_info=True)
        return None
    if xlib is None:
        return None
    # Tk keeps its Display to itself: this call opens its own (the hint lives in the X
    # server, so any connection may set it), keeping Tk's own hints (input, icon).
    display = xlib.XOpenDisplay(root.winfo_screen().encode())
    if not display:
        return None
    try:
        frame = _wrapper(xlib, display, inner)
        if not frame:
            return None
        found = xlib.XGetWMHints(display, frame)
        hints = _WMHints()
        if found:
            hints = _WMHints.from_buffer_copy(found.contents)
            xlib.XFree(found)
        if on is not None and bool(hints.flags & X_URGENCY_HINT) != on:
            hints.flags = hints.flags | X_URGENCY_HINT if on else hints.flags & ~X_URGENCY_HINT
            xlib.XSetWMHints(display, frame, ctypes.byref(hints))
            xlib.XFlush(display)
        return bool(hints.flags & X_URGENCY_HINT)
    finally:
        xlib.XCloseDisplay(display)


def demand_attention(root: tk.Tk, on: bool = True) -> bool:
    """Ask the desktop to point at this window (``on``), or stop asking; whether it could."""
    if sys.platform == "win32":
        return flash_taskbar(root) if on else True  # Windows stops when the window is in front
    return urgency_hint(root, on) is not None


class Unread:
    """What the user has not seen yet, per tab: the title counts only what calls them
    (mentions of their name, private messages: "(2) Charla"), tabs show the rest ("#clase •",
    or "ana (1)" for a tab that calls them); whatever is in the tab on show while the window
    has the focus counts as read. Owned by the window (``gui.app.ChatWindow``), whose tabs,
    names and focus it reads.

    Threading: Tk main thread only.
    """

    def __init__(self, window) -> None:  # a gui.app.ChatWindow (which imports this module)
        self.window = window
        self.calls: dict[str, int] = {}  # conversation key -> mentions and privates unseen
        self.marked: set[str] = set()  # conversation keys whose tab shows a mark
        self.shown_title = "Charla"  # the title now
        self.urgent = False  # the desktop's alert is up

    def arrived(self, name: str, key: str, *, calling: bool) -> None:
        """A line arrived in ``name`` (folded: ``key``); ``calling``: it names the user or
        is a private message. Counted unless the user saw it arrive."""
        window = self.window
        if window.focused and key == window.current_key:
            return
        if calling:
            self.calls[key] = self.calls.get(key, 0) + 1
            if not window.focused and not self.urgent:
                self.urgent = demand_attention(window.root, True)
        if key != window.current_key:
            self.marked.add(key)
            self._label(key)

    def _label(self, key: str) -> None:
        """The tab's text: its name, and its mark if it has news."""
        window = self.window
        if key not in window.views:
            return
        text = window.names.get(key, key)
        if key in self.marked:
            count = self.calls.get(key)
            text += f" ({count})" if count else " •"
        window.tabs.tab(window.views[key], text=text)

    def seen(self, key: str) -> None:
        """The user is looking at ``key``'s tab, with the window in front."""
        self.calls.pop(key, None)
        if key in self.marked:
            self.marked.discard(key)
            self._label(key)

    def forget(self, key: str) -> None:
        """``key``'s tab was closed: what it had unread goes with it."""
        self.calls.pop(key, None)
        self.marked.discard(key)

    def renamed(self, old_key: str, new_key: str) -> None:
        """A private tab follows its person to a new nick (``gui.tabs.follow_nick``)."""
        if old_key in self.calls:
            self.calls[new_key] = self.calls.pop(old_key)
        if old_key in self.marked:
            self.marked.discard(old_key)
            self.marked.add(new_key)
        self._label(new_key)

    def focus_changed(self, focused: bool) -> None:
        if focused:
            self.seen(self.window.current_key)
            if self.urgent:
                demand_attention(self.window.root, False)
                self.urgent = False

    def show(self) -> None:
        """The count of what calls the user, in the title; changed once per pump tick at most."""
        total = sum(self.calls.values())
        title = f"({total}) Charla" if total else "Charla"
        if title != self.shown_title:
            self.shown_title = title
            self.window.root.title(title)
