"""The one-line question dialog (gui/asking.py), in a real Tk window."""

from __future__ import annotations

from gui.asking import LineDialog, ask_line
from net.i18n import set_language


def _answer_when_shown(root, act) -> list[LineDialog]:
    """Once the dialog is on screen, ``act(dialog)`` (as a person would, by keys)."""
    seen: list[LineDialog] = []

    def look() -> None:
        dialog = LineDialog.shown
        if dialog is not None and dialog.top.winfo_viewable():
            seen.append(dialog)
            act(dialog)
        else:
            root.after(10, look)

    root.after(10, look)
    return seen


def test_its_buttons_speak_spanish_enter_answers_and_escape_cancels(tk_root):
    set_language("es")

    def type_and_enter(dialog: LineDialog) -> None:
        assert (dialog.ok_button.cget("text"), dialog.cancel_button.cget("text")) == (
            "Aceptar",
            "Cancelar",
        )
        dialog.entry.delete(0, "end")
        dialog.entry.insert(0, " 10 minutos ")
        dialog.top.event_generate("<Return>")

    seen = _answer_when_shown(tk_root, type_and_enter)
    assert ask_line(tk_root, "Charla", "¿Cuánto tiempo?", "5") == " 10 minutos "
    assert seen

    _answer_when_shown(tk_root, lambda dialog: dialog.top.event_generate("<Escape>"))
    assert ask_line(tk_root, "Charla", "¿Cuánto tiempo?") is None


def test_a_secret_is_not_shown_as_typed(tk_root):
    set_language("en")

    def check(dialog: LineDialog) -> None:
        assert dialog.entry.cget("show") == "•"
        assert dialog.ok_button.cget("text") == "OK"
        dialog.entry.insert(0, "s3cr3t")
        dialog.ok_button.invoke()

    _answer_when_shown(tk_root, check)
    assert ask_line(tk_root, "Charla", "Password:", secret=True) == "s3cr3t"
