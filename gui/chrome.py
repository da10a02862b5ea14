"""The window around the conversations (menus, topic, tabs, bars, status line) in the
theme's colours and at the zoomed size.

``paint(root, theme, menus)`` gives every ttk widget (labels, tabs, buttons, the search
and share bars, scrollbars) and every menu, the menu bar and menus opened later alike,
the colours of ``theme``; ttk's "clam" look is used because the default X11 look ignores
the colours of tabs. Scrollbars get a thumb that stands out from their trough in both
looks, and arrows as wide as ``SCROLLBAR_POINTS`` at the screen's density (14 pixels at
96 dpi, 21 at 144 dpi), so they are no thinner on a high-density laptop.

``zoom(root, size)`` scales Tk's named fonts (what menus, tabs and labels are drawn with)
by ``size`` / ``BASE_SIZE``, so that Ctrl+plus enlarges all of the window, not only the
conversation, the entry and the nick list.

Threading: Tk calls; on the Tk main thread only.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk

from gui.theme import Theme

#: a scrollbar's width in points (ttk's 14 pixels at the usual 96 dpi)
SCROLLBAR_POINTS = 10.5
BASE_SIZE = 11  # the conversation's default font size: at it, named fonts keep their size
NAMED_FONTS = (
    "TkDefaultFont",
    "TkTextFont",
    "TkMenuFont",
    "TkHeadingFont",
    "TkCaptionFont",
    "TkSmallCaptionFont",
    "TkIconFont",
    "TkTooltipFont",
)


def paint(root: tk.Tk, theme: Theme, menus: list[tk.Menu]) -> None:
    """Colour the ttk widgets and ``menus`` (with their submenus) for ``theme``; menus
    made later (a right-click on a nick) take the same colours from the option database."""
    style = ttk.Style(root)
    if style.theme_use() != "clam":
        style.theme_use("clam")
    panel, text = theme.panel_background, theme.text
    style.configure(
        ".",
        background=panel,
        foreground=text,
        fieldbackground=theme.background,
        insertcolor=text,
        troughcolor=panel,
        bordercolor=theme.muted,
        lightcolor=panel,
        darkcolor=panel,
        selectbackground=theme.found_background,
        selectforeground=text,
    )
    style.map("TButton", background=[("active", theme.own_background)])
    style.configure(
        "TScrollbar",
        background=theme.scrollbar_thumb,
        troughcolor=theme.background,
        bordercolor=theme.background,
        lightcolor=theme.scrollbar_thumb,
        darkcolor=theme.scrollbar_thumb,
        arrowcolor=theme.muted,
        gripcount=0,
        arrowsize=max(14, round(SCROLLBAR_POINTS * float(root.tk.call("tk", "scaling")))),
    )
    style.map("TScrollbar", background=[("active", theme.muted)])
    style.configure("TNotebook", background=panel, bordercolor=theme.muted)
    style.configure("TNotebook.Tab", background=panel, foreground=theme.muted, padding=(10, 3))
    style.map(
        "TNotebook.Tab",
        background=[("selected", theme.background)],
        foreground=[("selected", text)],
    )
    colours = {
        "background": panel,
        "foreground": text,
        "activeBackground": theme.own_background,
        "activeForeground": text,
        "selectColor": text,
    }
    for option, colour in colours.items():
        root.option_add(f"*Menu.{option}", colour)
    waiting = list(menus)
    while waiting:  # the menus and their submenus
        menu = waiting.pop()
        menu.configure({option.lower(): colour for option, colour in colours.items()})
        waiting += [m for m in menu.winfo_children() if isinstance(m, tk.Menu)]


def zoom(root: tk.Misc, size: int) -> None:
    """Scale Tk's named fonts to ``size`` / ``BASE_SIZE`` of their size at start."""
    for name in NAMED_FONTS:
        try:
            font = tkfont.nametofont(name, root=root)
        except tk.TclError:  # not on this platform
            continue
        original = _original_sizes.setdefault(name, int(font.cget("size")))
        # negative sizes are pixels (X11's defaults): scaled alike
        font.configure(size=round(original * size / BASE_SIZE) or original)


_original_sizes: dict[str, int] = {}  # named font -> its size before any zoom
