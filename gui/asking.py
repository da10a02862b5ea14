"""A one-line question in a small modal dialog, with its buttons in the window's language.

``ask_line(root, title, prompt)`` stands in for ``tkinter.simpledialog.askstring``, whose
buttons say "OK" and "Cancel" whatever the language (they are written into Python's
tkinter, not taken from Tk's message catalogue). Enter answers, Escape or closing the
dialog cancels; ``secret`` hides what is typed (a password). The dialog takes the look of
the ttk theme in use, so it is dark in dark mode.

Threading: Tk calls; on the Tk main thread only. It runs a nested event loop until the
dialog is closed (``wait_window``), as ``simpledialog`` does: the window's pump keeps
running meanwhile.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from net.i18n import tr


class LineDialog:
    """The dialog itself: ``answer`` is the text, or None when cancelled."""

    #: the dialog on screen now, if any (one at a time: it is modal); for tests
    shown: LineDialog | None = None

    def __init__(
        self, root: tk.Misc, title: str, prompt: str, initial: str = "", secret: bool = False
    ) -> None:
        self.answer: str | None = None
        self.top = top = tk.Toplevel(root)
        top.title(title)
        if root.winfo_viewable():  # a transient of an unmapped window is never shown
            top.transient(root.winfo_toplevel())
        top.resizable(False, False)
        frame = ttk.Frame(top, padding=12)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=prompt, wraplength=420, justify="left").pack(anchor="w")
        self.entry = ttk.Entry(frame, width=40, show="•" if secret else "")
        self.entry.insert(0, initial)
        self.entry.select_range(0, "end")
        self.entry.pack(fill="x", pady=(8, 10))
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e")
        self.cancel_button = ttk.Button(buttons, text=tr("Cancel"), command=self.cancel)
        self.cancel_button.pack(side="right")
        self.ok_button = ttk.Button(buttons, text=tr("OK"), command=self.accept)
        self.ok_button.pack(side="right", padx=(0, 6))
        top.bind("<Return>", lambda _e: self.accept())
        top.bind("<KP_Enter>", lambda _e: self.accept())
        top.bind("<Escape>", lambda _e: self.cancel())
        top.protocol("WM_DELETE_WINDOW", self.cancel)

    def show(self) -> str | None:
        """Wait, modal, until answered or cancelled; the answer as typed."""
        LineDialog.shown = self
        try:
            self.top.wait_visibility()
            self.top.grab_set()
            self.entry.focus_force()  # a modal question: what is typed goes here
            self.top.wait_window()
        finally:
            LineDialog.shown = None
        return self.answer

    def accept(self) -> None:
        self.answer = self.entry.get()
        self.top.destroy()

    def cancel(self) -> None:
        self.answer = None
        self.top.destroy()


def ask_line(
    root: tk.Misc, title: str, prompt: str, initial: str = "", secret: bool = False
) -> str | None:
    """Ask one line in a modal dialog; None when cancelled."""
    return LineDialog(root, title, prompt, initial, secret).show()
