"""The conversation view in a real Tk window under Xvfb."""

from __future__ import annotations

from datetime import datetime, timedelta
from tkinter import font as tkfont

from gui.conversation import ConversationView, clock
from gui.theme import DARK, LIGHT


def test_messages_read_like_a_chat_and_keep_every_character(view):
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "¿Habéis visto el examen? ñandú 😀")
    view.add_message(now, "bea", "saluda", action=True)
    view.add_system(now, "carla se ha unido")
    stamp = now.strftime("%H:%M")
    assert view.plain_text().splitlines() == [
        f"[{stamp}] ana: ¿Habéis visto el examen? ñandú 😀",
        f"[{stamp}] * bea saluda",
        f"[{stamp}] — carla se ha unido",
    ]
    names = view.text.tag_names("1.9")
    assert "nick-ana" in names
    assert view.text.tag_cget("nick-ana", "foreground") != view.text.tag_cget(
        "nick-bea", "foreground"
    )


def test_own_message_is_pending_until_delivered(view):
    view.add_message(datetime.now().astimezone(), "yo", "hola", own=True, pending_id=7)
    assert "(sending…)" in view.plain_text()
    assert view.mark_delivered(7)
    assert "(sending…)" not in view.plain_text()
    assert not view.mark_delivered(7)


def test_links_are_tagged_and_long_messages_are_capped(view):
    view.add_message(datetime.now().astimezone(), "ana", "mira https://example.org/a?b=1, vale")
    view.flush()  # the window's pump does this at the end of each tick
    start, end = view.text.tag_ranges("link")
    assert view.text.get(start, end) == "https://example.org/a?b=1"
    view.add_message(datetime.now().astimezone(), "ana", "x" * 100_000)
    longest = max(len(line) for line in view.plain_text().splitlines())
    assert longest < ConversationView.MAX_SHOWN_CHARS + 100
    assert "98000 more characters" in view.plain_text()


def test_scrollback_is_capped_and_the_view_follows_only_at_the_bottom(view, tk_root):
    now = datetime.now().astimezone()
    for number in range(ConversationView.MAX_LINES + 10):
        view.add_message(now, "ana", f"línea {number}")
    tk_root.update()
    assert view.line_count() <= ConversationView.MAX_LINES
    assert view.at_bottom()
    view.text.event_generate("<Button-4>", x=20, y=20)  # the user scrolls up (X11's wheel)
    tk_root.update()
    view.add_message(now, "ana", "nueva")
    tk_root.update()
    assert not view.at_bottom()
    assert view.below.winfo_ismapped()
    view.scroll_to_end()
    tk_root.update()
    assert view.at_bottom()


def test_search_marker_theme_and_clock(view):
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "Examen el lunes")
    view.add_marker("new messages")
    view.add_message(now, "bea", "¿el EXAMEN?")
    view.add_marker("new messages")
    assert view.plain_text().count("new messages") == 1
    assert view.find("examen") == 2
    view.add_message(now, "carla", "😀😀 examen 😀")  # Tk's own search crashes on emoji
    assert view.find("EXAMEN") == 3
    start, end = view.text.tag_ranges("found")[-2:]
    assert view.text.get(start, end) == "examen"
    view.apply_theme(DARK)
    assert view.text.cget("background") == DARK.background
    assert clock(now - timedelta(days=3)).count("/") == 1
    assert view.find("") == 0


def test_the_new_messages_line_waits_for_a_message_from_someone_else(view):
    """The window went behind: the line goes just before the next message from someone
    else, never at an empty end, and not before our own lines (we are here)."""
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "antes")
    view.mark_unread_from_here("new messages")
    assert "new messages" not in view.plain_text()  # nothing new: no line at the end
    view.add_message(now, "yo", "escribo yo", own=True)
    view.add_message(now, "ana", "¿ves?")  # we wrote after going behind: seen
    assert "new messages" not in view.plain_text()
    view.mark_unread_from_here("new messages")
    view.add_message(now, "bea", "hola", history=True)  # a replay is not news
    view.add_message(now, "bea", "nuevo")
    lines = [line.split("] ")[-1] for line in view.plain_text().splitlines()]
    assert lines[-2:] == ["──── new messages ────", "bea: nuevo"]
    view.mark_unread_from_here("new messages")
    view.mark_unread_from_here("")  # in front again before anything came
    view.add_message(now, "bea", "otro")
    assert view.plain_text().count("new messages") == 1


def test_a_view_destroyed_before_it_settles_leaves_no_idle_callback(view, tk_root):
    view.add_message(datetime.now().astimezone(), "ana", "justo antes de cerrar")
    view.destroy()  # settle() would run on a destroyed Text: a Tcl background error
    assert tk_root.tk.splitlist(tk_root.tk.call("after", "info")) == ()


def pixel_of(view: ConversationView, index: str) -> tuple[int, int]:
    view.text.see(index)
    view.update()
    x, y, _w, h = view.text.bbox(index)
    return x + 1, y + h // 2


def test_messages_with_ids_are_found_again_after_markers_trimming_and_confirmations(view):
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "primera", msgid="a1")
    view.add_marker("new messages")
    view.add_message(now, "yo", "mía", own=True, pending_id=3)
    view.add_message(now, "bea", "segunda", msgid="b1")
    view.add_marker("new messages")  # the old line is hidden, not removed: nothing moves
    assert view.plain_text().count("new messages") == 1
    assert view.mark_delivered(3, msgid="y1")  # confirmed: its id comes with the PONG
    assert list(view.authors.items()) == [("a1", "ana"), ("b1", "bea"), ("y1", "yo")]
    line = next(n for n, t in enumerate(view.plain_text().split("\n"), 1) if "segunda" in t)
    assert view.message_at(*pixel_of(view, f"{line}.12")) == ("b1", "bea")
    assert view.redact("b1", "message deleted by profe")
    assert "segunda" not in view.plain_text()
    assert "— message deleted by profe" in view.plain_text().split("\n")[line - 1]
    assert not view.redact("b1", "again")  # gone: nothing to do
    assert view.message_at(*pixel_of(view, f"{line}.12")) is None
    for number in range(ConversationView.MAX_LINES):  # the first lines are trimmed away
        view.add_message(now, "carla", f"línea {number}", msgid=f"c{number}")
    view.settle()
    assert "a1" not in view.authors and not view.redact("a1", "x")  # forgotten with its line
    assert len(view.authors) <= ConversationView.MAX_LINES  # bounded like the scrollback
    last = view.line_count() - 1
    assert view.message_at(*pixel_of(view, f"{last}.12")) == (
        f"c{ConversationView.MAX_LINES - 1}",
        "carla",
    )
    assert view.redact(f"c{ConversationView.MAX_LINES - 1}", "deleted")
    assert view.plain_text().rstrip("\n").endswith("— deleted")


def test_a_refused_message_stays_struck_with_its_reason(view):
    view.add_message(datetime.now().astimezone(), "ana", "¿puedo?", own=True, pending_id=9)
    assert view.mark_refused(9, "you are muted in this room")
    assert view.plain_text().endswith("ana: ¿puedo? (not sent: you are muted in this room)\n")
    assert "refused" in view.text.tag_names("1.10")
    assert "refusal" in view.text.tag_names("1.end -3c")
    assert not view.mark_delivered(9) and not view.mark_refused(9, "twice")


def fill(view: ConversationView, count: int = 200) -> None:
    now = datetime.now().astimezone()
    for number in range(count):
        view.add_message(now, "ana", f"línea {number} del repaso de ayer")


def test_following_the_newest_line_survives_zoom_and_resize(view, tk_root):
    fill(view)
    tk_root.update()
    assert view.at_bottom()
    view.font.configure(size=22)  # Ctrl+plus, many times
    tk_root.update()
    assert view.at_bottom()
    tk_root.geometry("420x260")  # a smaller window
    tk_root.update()
    assert view.at_bottom()
    assert not view.below.winfo_ismapped()


def test_scrolled_up_the_view_stays_and_offers_the_newest_lines(view, tk_root):
    fill(view)
    tk_root.update()
    view.text.event_generate("<Button-4>", x=20, y=20)  # the wheel, up (X11)
    view.text.event_generate("<Button-4>", x=20, y=20)
    tk_root.update()
    assert not view.at_bottom()
    tk_root.geometry("500x300")
    tk_root.update()
    assert not view.at_bottom()  # reading above: a resize does not pull the view down
    view.add_message(datetime.now().astimezone(), "bea", "nueva")
    tk_root.update()
    assert not view.at_bottom() and view.below.winfo_ismapped()
    view.below.invoke()
    tk_root.update()
    assert view.at_bottom() and not view.below.winfo_ismapped()


def test_a_view_filled_before_it_is_shown_opens_at_the_newest_line(tk_root):
    view = ConversationView(tk_root, LIGHT, tkfont.Font(tk_root, size=11))
    fill(view)  # the history replay, arriving before the tab was ever laid out
    view.flush()
    view.settle()
    view.pack(fill="both", expand=True)
    tk_root.update()
    assert view.at_bottom()
    assert not view.below.winfo_ismapped()


def test_a_folded_line_unfolds_on_a_click_and_folds_again(view, tk_root):
    """The welcome is one line until clicked; unfolded, its lines sit below it, and a
    message below it can still be deleted (its remembered line moved with it)."""
    now = datetime.now().astimezone()
    view.add_system(now, "antes")
    view.add_folded(now, "Welcome message from the server", "Sé \x02amable\x02.\nSegunda línea")
    view.add_message(now, "ana", "después", msgid="m1")
    view.flush()
    tk_root.update()
    assert "Sé amable" not in view.plain_text()
    assert "Welcome message from the server ▸" in view.plain_text()
    x, y = pixel_of(view, "2.15")
    view.text.event_generate("<Motion>", x=x, y=y)  # the pointer over the line, a click
    view.text.event_generate("<Button-1>", x=x, y=y)
    tk_root.update()
    lines = view.plain_text().splitlines()
    assert lines[2:4] == ["Sé amable.", "Segunda línea"]
    assert "Welcome message from the server ▾" in lines[1]
    assert view.redact("m1", "message deleted")
    assert view.plain_text().splitlines()[-1].endswith("— message deleted")
    assert view.toggle_fold(1) is False  # folded again
    assert "Sé amable" not in view.plain_text()
    assert view.plain_text().splitlines()[2].endswith("— message deleted")


def test_a_long_message_cut_at_2000_characters_shows_all_on_a_click(view, tk_root):
    now = datetime.now().astimezone()
    text = " ".join(f"palabra{n} 👋🏽 https://example.org/{n}" for n in range(200))  # ~6,800
    view.add_message(now, "ana", text, own=True, pending_id=7)
    view.add_message(now, "bea", "z" * 2500 + " fin")
    view.add_system(now, "después")
    view.flush()
    assert "show all" in view.plain_text() and text not in view.plain_text()
    lines = view.line_count()
    start = view.text.tag_ranges("more")[0]  # ana's "show all"
    view.following = False  # the user scrolled up to it
    x, y = pixel_of(view, f"{start} +2c")
    view.text.event_generate("<Motion>", x=x, y=y)
    view.text.event_generate("<Button-1>", x=x, y=y)
    tk_root.update()
    shown = view.plain_text().splitlines()
    assert shown[0].split("] ", 1)[1] == f"ana: {text} (sending…)"  # every character, in place
    assert "own" in view.text.tag_names("1.end -3c")  # the rest looks like the start
    assert view.line_count() == lines
    assert view.mark_delivered(7)
    assert view.plain_text().splitlines()[0].endswith("https://example.org/199")
    assert shown[1].endswith("[… 504 more characters] show all")  # bea's: still cut
    assert view.expand(view.text.index(view.text.tag_ranges("more")[0]))
    assert view.plain_text().splitlines()[1].endswith("z fin")
    assert not view.text.tag_ranges("more")


def test_the_next_line_of_a_long_message_does_not_read_as_a_double_space(view, tk_root):
    now = datetime.now().astimezone()
    view.add_message(now, "bea", " programación, ¿vale?")  # as net.text_cuts starts it
    view.add_message(now, "bea", "programación, ¿vale?")
    view.flush()
    tk_root.update()
    widths = [view.text.dlineinfo(f"{line}.0")[2] for line in (1, 2)]
    assert widths[0] == widths[1]
    assert "bea:  programación" in view.plain_text()  # copied as it came


def test_a_message_after_held_lines_is_deleted_itself_not_the_line_above(view):
    """A run of joins is held back (``before_append``) until the next line; the message
    that releases it must be remembered at its own line, or deleting it blanks a join."""
    now = datetime.now().astimezone()

    def held() -> None:
        view.before_append = None
        view.add_system(now, "ana joined")

    view.before_append = held
    view.add_message(now, "ana", "una palabrota", msgid="m1")
    view.add_message(now, "bea", "hola", msgid="m2")
    assert view.redact("m1", "message deleted by profe")
    text = view.plain_text()
    assert "ana joined" in text and "una palabrota" not in text and "hola" in text
