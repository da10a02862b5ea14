"""The conversation tabs as a person handles them: closing one, moving between them, and a
private tab that goes on with its person when they change their nick.

``close_conversation`` closes a tab (leaving the channel first when it is one), as does
the × on each tab (``add_close_buttons``: a ttk image element in the tab's layout); the
keys (``bind_keys``) are Ctrl+W to close, Ctrl+Tab / Ctrl+Shift+Tab and Ctrl+PgDn /
Ctrl+PgUp for the next and previous tab, Alt+1…Alt+9 for the tab in that place; a
middle click on a tab closes it too. ``follow_nick`` renames a private tab when its
person renames, so that what is typed there reaches them and never whoever takes the
old name afterwards.

Threading: Tk main thread only, like the window (``gui.app.ChatWindow``) whose tabs,
conversations and member lists these functions read and change.
"""

from __future__ import annotations

import contextlib
import tkinter as tk
from datetime import datetime
from tkinter import ttk
from typing import Any

from net.i18n import tr
from net.protocol import irc_lower

CHANNEL_PREFIXES = "#&+!"  # as gui.app's (which imports this module)

# ``window`` below is a gui.app.ChatWindow (not imported: app imports this module).
Window = Any


def bind_keys(window: Window) -> None:
    """The tab keys, on the whole window; on the entry too for Ctrl+Tab, which its own
    Tab binding (nick completion) would otherwise take."""
    root = window.root
    for widget in (root, window.entry):
        widget.bind("<Control-Tab>", lambda _e: _step(window, 1))
        for previous in ("<Control-Shift-Tab>", "<Control-ISO_Left_Tab>"):
            with contextlib.suppress(tk.TclError):  # a keysym this system's Tk lacks
                widget.bind(previous, lambda _e: _step(window, -1))
    root.bind("<Control-Next>", lambda _e: _step(window, 1))
    root.bind("<Control-Prior>", lambda _e: _step(window, -1))
    root.bind("<Control-w>", lambda _e: _close_current(window))
    root.bind("<Control-W>", lambda _e: _close_current(window))
    for number in range(1, 10):
        root.bind(f"<Alt-Key-{number}>", lambda _e, n=number: _go_to(window, n - 1))
    window.tabs.bind("<Button-2>", lambda e: _close_clicked(window, e))


CLOSE_POINTS = 9  # the size of the × drawn on each tab, in points (12 pixels at 96 dpi)


def add_close_buttons(window: Window) -> None:
    """A × on every tab (a ttk image element beside the label): a click on it, pressed and
    released on the same ×, closes that tab."""
    style = ttk.Style(window.root)
    if "Closable.close" not in style.element_names():
        # in points, so that it grows with the screen's dpi (144 dpi: 18 pixels)
        size = max(12, round(CLOSE_POINTS * float(window.root.tk.call("tk", "scaling"))))
        images = [_cross(window.root, colour, size) for colour in ("#8c959f", "#cf222e")]
        window.close_images = images  # Tk forgets an image Python no longer holds
        style.element_create(
            "Closable.close", "image", images[0], ("active", images[1]), border=4, sticky=""
        )
        style.layout(
            "Closable.TNotebook.Tab",
            [
                (
                    "Notebook.tab",
                    {
                        "sticky": "nswe",
                        "children": [
                            (
                                "Notebook.padding",
                                {
                                    "side": "top",
                                    "sticky": "nswe",
                                    "children": [
                                        ("Notebook.label", {"side": "left", "sticky": ""}),
                                        ("Closable.close", {"side": "left", "sticky": ""}),
                                    ],
                                },
                            )
                        ],
                    },
                )
            ],
        )
    window.tabs.configure(style="Closable.TNotebook")
    window.tabs.bind("<ButtonPress-1>", lambda e: _press_close(window, e), add=True)
    window.tabs.bind("<ButtonRelease-1>", lambda e: _release_close(window, e), add=True)


def _cross(root: tk.Misc, colour: str, size: int) -> tk.PhotoImage:
    """An × of ``colour``, ``size`` pixels, with a clear margin on its left."""
    margin = size // 2
    image = tk.PhotoImage(master=root, width=size + margin, height=size)
    for i in range(2, size - 2):
        for j in (i, size - 1 - i):  # two pixels tall: readable at 144 dpi
            image.put(colour, to=(margin + j, i, margin + j + 1, i + 2))
    return image


def _on_close(window: Window, event: tk.Event) -> int | None:
    """The index of the tab whose × is under the pointer, if any."""
    if "close" not in window.tabs.identify(event.x, event.y):
        return None
    try:
        return window.tabs.index(f"@{event.x},{event.y}")
    except tk.TclError:
        return None


def _press_close(window: Window, event: tk.Event) -> str | None:
    window.pressed_close = _on_close(window, event)
    return "break" if window.pressed_close is not None else None  # not a tab change


def _release_close(window: Window, event: tk.Event) -> None:
    pressed, window.pressed_close = getattr(window, "pressed_close", None), None
    if pressed is not None and _on_close(window, event) == pressed:
        _close_index(window, pressed)


def _close_index(window: Window, index: int) -> None:
    widget = window.tabs.tabs()[index]
    key = next((k for k, view in window.views.items() if str(view) == widget), None)
    if key is not None:
        close_conversation(window, key)


def _step(window: Window, step: int) -> str:
    shown = window.tabs.tabs()
    if shown:
        here = shown.index(window.tabs.select()) if window.tabs.select() in shown else 0
        window.tabs.select(shown[(here + step) % len(shown)])
    return "break"  # not Tk's own Ctrl+Tab (focus to the next widget)


def _go_to(window: Window, index: int) -> str:
    shown = window.tabs.tabs()
    if index < len(shown):
        window.tabs.select(shown[index])
    return "break"


def _close_current(window: Window) -> str:
    close_conversation(window, window.current_key)
    return "break"


def _close_clicked(window: Window, event: tk.Event) -> None:
    try:
        index = window.tabs.index(f"@{event.x},{event.y}")
    except tk.TclError:  # not on a tab
        return
    _close_index(window, index)


def close_conversation(window: Window, key: str) -> bool:
    """Close the tab of ``key`` (irc_lower'd), leaving the channel if it is one; the last
    tab stays (closing it would leave an empty window: ``/salir`` closes Charla)."""
    view = window.views.get(key)
    if view is None:
        return False
    if len(window.views) == 1:
        view.add_system(_now(), tr("This is your only conversation: type /salir to close Charla."))
        return False
    name = window.names.get(key, key)
    if key[:1] in CHANNEL_PREFIXES and key not in window.left:
        window.client.part(name)
        window.left.add(key)  # its PART, when it comes, reopens nothing
    window.tabs.forget(view)
    del window.views[key]
    for table in (window.names, window.members, window.statuses, window.channel_modes):
        table.pop(key, None)
    window.unread.forget(key)
    window.replaying.discard(key)
    view.destroy()
    window.entry.focus_set()
    return True


def follow_nick(window: Window, old: str, new: str) -> None:
    """``old`` is now ``new``: their private tab, if any, is theirs under the new name."""
    old_key, new_key = irc_lower(old), irc_lower(new)
    view = window.views.get(old_key)
    if view is None or old_key[:1] in CHANNEL_PREFIXES:
        return
    line = tr("{old} is now {new}").format(old=old, new=new)
    if new_key != old_key and new_key in window.views:  # a tab of the new name already
        window.views[new_key].add_system(_now(), line)
        close_conversation(window, old_key)
        return
    view.add_system(_now(), line)
    window.views[new_key] = window.views.pop(old_key)
    window.names.pop(old_key, None)
    window.names[new_key] = new
    for message_id, key in list(window.pending.items()):
        if key == old_key:
            window.pending[message_id] = new_key
    if old_key in window.replaying:
        window.replaying.discard(old_key)
        window.replaying.add(new_key)
    window.unread.renamed(old_key, new_key)  # the tab's text, with its mark if any
    if window.current_key == old_key:
        window.current_key = new_key
        window.refresh_members(new)


def _now() -> datetime:
    return datetime.now().astimezone()
