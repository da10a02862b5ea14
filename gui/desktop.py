"""What the desktop offers beyond Tk: sharp text on high-DPI Windows screens, a flashing
taskbar button, and a last-resort message when Charla cannot start.

Each function does its best on the platform it runs on and nothing elsewhere; none raises
(a missing Windows API only means less polish). Tk 8.6 has no call for the taskbar, so
Windows' own ``FlashWindowEx`` is reached through ``ctypes``.

Threading: call from the Tk main thread (``enable_sharp_text`` before the first ``Tk()``).
"""

from __future__ import annotations

import ctypes
import logging
import sys
import tkinter as tk
from tkinter import messagebox

log = logging.getLogger(__name__)

IS_WINDOWS = sys.platform == "win32"


def localize_dialogs(root: tk.Tk, language: str) -> bool:
    """Tk's own dialogs (the buttons of a question: *Sí/No*, *Aceptar/Cancelar*) in
    ``language``, not the system's: Tk picks its catalog from the system locale at start,
    so a ``--lang es`` window on an English system asked "Yes/No". Returns whether it was
    done (False when this Tk has no catalog for it)."""
    try:
        root.tk.eval(
            f"::msgcat::mclocale {language}; "
            "namespace eval ::tk {::msgcat::mcload [file join $::tk_library msgs]}"
        )
        cancel = root.tk.eval("namespace eval ::tk {::msgcat::mc &Cancel}")
    except tk.TclError:
        log.info("Tk has no dialog translations for %s", language)
        return False
    return language == "en" or cancel != "&Cancel"  # English is Tk's own


def enable_sharp_text() -> bool:
    """Windows: tell the system we draw at the screen's real DPI, so text is not blurred by
    scaling. Must run before Tk starts. Returns whether it was done."""
    if not IS_WINDOWS:
        return False
    try:
        ctypes.windll.shcore.SetProcessDpiAwareness(1)  # system DPI aware (Windows 8.1+)
    except (AttributeError, OSError):
        try:
            ctypes.windll.user32.SetProcessDPIAware()  # Windows Vista–8
        except (AttributeError, OSError):
            return False
    return True


class _FlashInfo(ctypes.Structure):
    _fields_ = [
        ("cbSize", ctypes.c_uint),
        ("hwnd", ctypes.c_void_p),
        ("dwFlags", ctypes.c_uint),
        ("uCount", ctypes.c_uint),
        ("dwTimeout", ctypes.c_uint),
    ]


FLASHW_TRAY = 0x2  # the taskbar button
FLASHW_TIMERNOFG = 0xC  # until the window comes to the front


def flash_taskbar(root: tk.Tk) -> bool:
    """Windows: make the window's taskbar button flash until the user looks at it."""
    if not IS_WINDOWS:
        return False
    try:
        handle = int(root.wm_frame(), 16)
        info = _FlashInfo(ctypes.sizeof(_FlashInfo), handle, FLASHW_TRAY | FLASHW_TIMERNOFG, 0, 0)
        ctypes.windll.user32.FlashWindowEx(ctypes.byref(info))
    except (AttributeError, OSError, ValueError, tk.TclError):
        log.debug("could not flash the taskbar", exc_info=True)
        return False
    return True


def show_fatal(text: str, *, dialog: bool = True) -> None:
    """Tell the user why Charla stops, where they will see it: the packaged window has no
    console. On Windows a system message box; elsewhere a Tk dialog when ``dialog`` (Tk can
    still open a window), and standard error always. The log file gets it too."""
    log.error("%s", text)
    if IS_WINDOWS:
        try:
            ctypes.windll.user32.MessageBoxW(None, text, "Charla", 0x10)  # MB_ICONERROR
            return
        except (AttributeError, OSError):
            pass
    print(text, file=sys.stderr)
    if dialog:
        try:
            root = tk.Tk()
        except tk.TclError:  # no display after all: standard error was the best we could do
            return
        root.withdraw()
        messagebox.showerror("Charla", text, parent=root)
        root.destroy()
