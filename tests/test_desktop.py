"""What the desktop offers beyond Tk, in a real Tk window under Xvfb."""

from __future__ import annotations

from gui.desktop import localize_dialogs


def test_tks_own_dialog_buttons_follow_the_windows_language_not_the_systems(tk_root):
    def cancel() -> str:
        return tk_root.tk.eval("namespace eval ::tk {::msgcat::mc &Cancel}")

    assert localize_dialogs(tk_root, "es")
    assert cancel() == "&Cancelar"
    assert tk_root.tk.eval("namespace eval ::tk {::msgcat::mc &Yes}") == "&Sí"
    assert localize_dialogs(tk_root, "en")
    assert cancel() == "&Cancel"
