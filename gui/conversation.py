"""One conversation (a channel or a private chat): a read-only scrolled Text, styled by tags.

``ConversationView`` shows messages as ``[hh:mm] nick: text``, each nick in its own
colour, our own messages shaded and marked *sending…* until the server confirms them,
joins and leaves in a quieter style, the server's announcements as a banner, links that
open in the browser, a "new messages" line, and IRC formatting (bold, colours…) as text
styles (see ``gui.formatting``). It keeps the newest line in view, through zooms and
resizes, until the user scrolls up (then a "new messages below" button appears while new
lines arrive), and again once they are back at the bottom. It keeps at most
``MAX_LINES`` lines, and shows at most ``MAX_SHOWN_CHARS`` of one message, because Tk's
Text slows down sharply on very long lines. A line can unfold: the server's welcome is
one line "… ▸" until clicked (``add_folded``). A skin tone or an emoji joiner, which Tk
8.6 would draw as a box, is hidden but kept (``gui.emoji``).

Threading: a Tk widget; every method runs on the Tk main thread.
"""

from __future__ import annotations

import re
import time
import tkinter as tk
import webbrowser
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from tkinter import font as tkfont
from tkinter import ttk

from gui.emoji import hidden_parts
from gui.formatting import configure_tags, derived_fonts, has_codes, styled_pieces
from gui.search import find_all
from gui.theme import Theme, nick_color
from net.i18n import ntr, tr
from net.protocol import fold_name

FOLDED, UNFOLDED = "▸", "▾"  # the end of a line that unfolds, before and after a click
QUOTE_CHARS = 60  # of the message a reply answers, shown above it
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


@dataclass(frozen=True)
class OlderLine:
    """A message loaded from before the first one shown (``ConversationView.add_older``)."""

    when: datetime
    nick: str
    body: str
    own: bool = False
    action: bool = False
    msgid: str = ""
    more_msgids: tuple[str, ...] = ()
    quote: tuple[str, str, str] | None = None


def clock(when: datetime) -> str:
    """``10:42``, or ``23/11 10:42`` for a day other than today.

    Called for every line, so the text is remembered: a burst of messages shares one
    ``datetime`` per millisecond of the server's time (see ``net.client``) and one minute;
    what was remembered is forgotten at local midnight, when "today" changes.
    """
    memory = _last_clock
    if not memory.day_starts <= time.time() < memory.day_ends:  # another day (or clock)
        memory.forget()
    if when is not memory.when:
        minute = int(when.timestamp()) // 60
        if minute != memory.minute:
            local = when.astimezone()
            today = local.date() == memory.today
            memory.minute = minute
            memory.text = local.strftime("%H:%M" if today else "%d/%m %H:%M")
        memory.when = when
    return memory.text


class _ClockMemory:
    """What ``clock()`` formatted last (for which ``datetime`` and minute), and on which day."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        self.today = date.today()
        midnight = datetime.combine(self.today, datetime.min.time())  # local, naive
        self.day_starts = midnight.timestamp()  # as time.time() values
        self.day_ends = (midnight + timedelta(days=1)).timestamp()
        self.when: datetime | None = None
        self.minute: int | None = None
        self.text = ""


_last_clock = _ClockMemory()


# Insert into a read-only Text in one Tcl call: each Tk call from Python may wait for the
# GIL while the network thread holds it, so a batch of lines must cost one call, not three.
APPEND_PROC = """proc charla_append {text args} {
    $text configure -state normal
    $text insert end {*}$args
    $text configure -state disabled
}"""


#: the view's end, as a fraction of the text: within a pixel of 5000 lines (a looser figure
#: took a user's scroll of a few lines up in a long conversation for "at the bottom")
AT_BOTTOM = 0.99999


def utf16_length(text: str) -> int:
    """How many columns Tk 8.6 counts for ``text`` (two for a character beyond U+FFFF)."""
    return len(text.encode("utf-16-le")) // 2


def _drawable(text: str, tags: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """``text`` in pieces, what Tk 8.6 would draw as a box of its own (a skin tone, a
    joiner: ``gui.emoji``) under the elided tag "emoji-part": hidden, but still there to be
    copied and searched."""
    hidden = hidden_parts(text)
    if not hidden:
        return [(text, tags)]
    pieces: list[tuple[str, tuple[str, ...]]] = []
    position = 0
    for start, end in hidden:
        if start > position:
            pieces.append((text[position:start], tags))
        pieces.append((text[start:end], (*tags, "emoji-part")))
        position = end
    if position < len(text):
        pieces.append((text[position:], tags))
    return pieces


class ConversationView(ttk.Frame):
    """See the module docstring."""

    MAX_LINES = 5000  # scrollback kept; older lines are dropped in blocks
    TRIM_LINES = 500
    MAX_SHOWN_CHARS = 2000  # of one message, until "show all" is clicked
    MAX_EXPANDABLE = 200  # cut messages whose hidden end is kept for "show all"
    MAX_FOLDS = 20  # folded lines (welcomes) that can still unfold
    MAX_FOUND = 10_000  # search matches highlighted

    def __init__(self, master: tk.Misc, theme: Theme, text_font: tkfont.Font) -> None:
        super().__init__(master)
        self.theme = theme
        self.font = text_font  # kept: a Font deletes its Tk font when it is collected
        self._fonts = derived_fonts(self, text_font)  # bold, italic: IRC formatting
        self.text = tk.Text(
            self,
            wrap="word",
            state="disabled",
            font=text_font,
            borderwidth=0,
            padx=10,
            pady=6,
            spacing1=2,
            spacing3=2,
            undo=False,
            cursor="arrow",
            takefocus=False,
        )
        scrollbar = ttk.Scrollbar(self, orient="vertical", command=self._on_scrollbar)
        self.text.configure(yscrollcommand=lambda *args: self._on_scroll(scrollbar, *args))
        self.text.grid(row=0, column=0, sticky="nsew")
        scrollbar.grid(row=0, column=1, sticky="ns")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.below = ttk.Button(self, text=tr("▼ New messages below"), command=self.scroll_to_end)
        self.tk.eval(APPEND_PROC)
        self._nick_tags: dict[str, str] = {}  # nick -> its tag, configured in the Text
        self._folds = 0  # lines that unfold (add_folded), numbered from 1
        #: their bodies, shown or not (the newest MAX_FOLDS); number -> (body, shown)
        self._fold_bodies: OrderedDict[int, tuple[str, bool]] = OrderedDict()
        self._mores = 0  # messages cut at MAX_SHOWN_CHARS, numbered from 1
        #: their hidden ends (and the body's tags), the newest MAX_EXPANDABLE
        self._hidden: OrderedDict[int, tuple[str, tuple[str, ...]]] = OrderedDict()
        #: the "new messages" line owed before the next message from someone else ("":
        #: none): set when the window goes behind, so the line marks where the unread
        #: begin, never an empty end or our own lines
        self._marker_due = ""
        self._queued: list = []  # text, tags, text, tags… not yet in the Text
        #: called before any line is added (``gui.comings``: joins waiting to be folded)
        self.before_append: Callable[[], None] | None = None
        #: called when the user scrolls to the very top (the window asks for older lines)
        self.on_top: Callable[[], None] | None = None
        #: a reaction's chip was clicked, or the pointer is on one: (msgid, emoji)
        self.on_chip_click: Callable[[str, str], None] | None = None
        self.on_chip_hover: Callable[[str, str], None] | None = None
        #: appended line number of a reply's quote -> the msgid of the message it quotes
        self._quote_of: dict[int, str] = {}
        #: appended line number of a message -> when it was said (a saved copy's dates)
        self._when_at: dict[int, datetime] = {}
        self._settle_id: str | None = None  # the pending after_idle(settle), if lines wait
        # Whether the view keeps the newest line in sight. Only the user changes it (the
        # wheel, the scrollbar, a search, the "below" button): a zoom, a resize or lines
        # arriving before the tab is laid out move the view, and must not count as the user
        # leaving the bottom.
        self.following = True
        self._refollow_id: str | None = None  # the pending after_idle that scrolls to the end
        # Messages with an id (to delete them) are found by line number, not by a tag of
        # their own: a tag per message made each message cost half as much again to show.
        # Line numbers stay put: lines are only ever removed from the top (trimming, counted
        # in _trimmed), an old "new messages" line is blanked and hidden, not deleted.
        self._appended = 0  # lines ever queued: Text line L is appended line L + _trimmed
        self._trimmed = 0  # lines removed from the top
        #: msgid -> its author, for the messages shown with an id, in the order they got it
        self.authors: OrderedDict[str, str] = OrderedDict()
        self._line_of: dict[str, int] = {}  # msgid -> its appended line number
        #: msgid -> the ids of the later lines of the long message it starts (one message
        #: on screen: deleting it deletes them all); bounded like _line_of, by trimming
        self._more_ids: dict[str, tuple[str, ...]] = {}
        #: our own long message (pending id of its last line) -> the ids its earlier lines
        #: got, until the last line is delivered too (``piece_delivered``)
        self._early_pieces: dict[int, list[str]] = {}
        self.matches: list[tuple[str, str]] = []  # the last find(): Text ranges, oldest first
        self._id_at: dict[int, str] = {}  # appended line number -> msgid
        for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>", "<B1-Motion>"):
            # the Text's own bindings scroll after this one: look once they have
            self.text.bind(sequence, lambda _e: self.after_idle(self._on_user_scroll), add="+")
        self.text.tag_bind("link", "<Button-1>", self._on_link_click)
        self.text.tag_bind("link", "<Enter>", lambda _e: self.text.configure(cursor="hand2"))
        self.text.tag_bind("link", "<Leave>", lambda _e: self.text.configure(cursor="arrow"))
        self.text.tag_bind("more", "<Button-1>", self._on_more_click)
        self.text.tag_bind("quote", "<Button-1>", self._on_quote_click)
        self.text.tag_bind("chip", "<Button-1>", lambda e: self._on_chip(e, self.on_chip_click))
        self.text.tag_bind("chip", "<Motion>", lambda e: self._on_chip(e, self.on_chip_hover))
        for clickable in ("fold", "more", "quote", "chip"):
            self.text.tag_bind(clickable, "<Enter>", lambda _e: self.text.configure(cursor="hand2"))
            self.text.tag_bind(clickable, "<Leave>", lambda _e: self.text.configure(cursor="arrow"))
        self.apply_theme(theme)

    # -- looks --

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        text = self.text
        text.configure(
            background=theme.background,
            foreground=theme.text,
            selectbackground=theme.found_background,
            inactiveselectbackground=theme.found_background,
        )
        text.tag_configure("time", foreground=theme.muted)
        text.tag_configure("system", foreground=theme.muted)
        text.tag_configure("own", background=theme.own_background)
        text.tag_configure("highlight", background=theme.highlight_background)
        text.tag_configure(
            "banner",
            background=theme.banner_background,
            foreground=theme.banner_text,
            lmargin1=6,
            lmargin2=6,
            spacing1=6,
            spacing3=6,
        )
        text.tag_configure("link", foreground=theme.link, underline=True)
        text.tag_configure("more", foreground=theme.link, underline=True)
        text.tag_configure("pending", foreground=theme.pending)
        text.tag_configure("refused", overstrike=True, foreground=theme.muted)
        text.tag_configure("refusal", foreground=theme.error)
        text.tag_configure("redacted", foreground=theme.muted)
        text.tag_configure("history", foreground=theme.muted)
        text.tag_configure("quote", foreground=theme.muted, lmargin1=28, lmargin2=28)
        text.tag_configure("chip", background=theme.panel_background, foreground=theme.text)
        text.tag_configure("chip-mine", background=theme.own_background, foreground=theme.link)
        text.tag_configure("marker", foreground=theme.link, justify="center")
        text.tag_configure("found", background=theme.found_background)
        text.tag_configure(
            "found-current", background=theme.text, foreground=theme.background, underline=True
        )
        text.tag_configure("gone", elide=True)
        text.tag_configure("emoji-part", elide=True)  # see gui.emoji
        for nick, tag in self._nick_tags.items():
            text.tag_configure(tag, foreground=nick_color(nick, theme))
        configure_tags(text, theme, self._fonts)
        text.tag_raise("found")
        text.tag_raise("found-current")

    def _nick_tag(self, nick: str) -> str:
        tag = self._nick_tags.get(nick)
        if tag is None:
            tag = self._nick_tags[nick] = f"nick-{nick}"
            self.text.tag_configure(tag, foreground=nick_color(nick, self.theme))
        return tag

    # -- adding lines --

    def add_message(
        self,
        when: datetime,
        nick: str,
        body: str,
        *,
        own: bool = False,
        action: bool = False,
        highlight: bool = False,
        history: bool = False,
        pending_id: int | None = None,
        msgid: str = "",
        more_msgids: tuple[str, ...] = (),
        quote: tuple[str, str, str] | None = None,
    ) -> None:
        """One message: ``[10:42] ana: hola`` or ``[10:42] * ana saluda``; ``msgid`` (the
        server's id) lets it be found again, to delete it, with ``more_msgids``: the ids of
        the later lines of a long message (``pieces_of``). ``quote``: the message it
        answers, (msgid, author, its first words), shown on a line of its own above it."""
        if own:
            self._marker_due = ""  # we are here, writing: nothing is unread
        elif not history:
            self._place_due_marker()
        if self.before_append is not None:
            # held lines (a run of joins) go first: the line number below must be this one's
            self.before_append()
        if quote is not None:
            self._quote_of[self._appended + 1] = quote[0]
            self._append(self._quote_parts(quote))
        self._remember_message(msgid, nick, more_msgids, self._appended + 1)
        self._when_at[self._appended + 1] = when
        self._append(
            self._message_parts(when, nick, body, own, action, highlight, history, pending_id)
        )

    def _remember_message(
        self, msgid: str, nick: str, more_msgids: tuple[str, ...], line: int
    ) -> None:
        if msgid:
            self._remember(msgid, nick, line)
            if more_msgids:
                self._more_ids[msgid] = more_msgids
                for later in more_msgids:  # a deletion of a later line finds this one
                    self._line_of[later] = line

    @staticmethod
    def _quote_parts(quote: tuple[str, str, str]) -> list[tuple[str, tuple[str, ...]]]:
        _msgid, author, words = quote
        shown = f"↪ {author}: {words}" if author else f"↪ {words}"
        return [(shown + "\n", ("quote",))]

    def _message_parts(
        self,
        when: datetime,
        nick: str,
        body: str,
        own: bool,
        action: bool,
        highlight: bool,
        history: bool,
        pending_id: int | None,
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The pieces of one message's line, with their tags."""
        line_tags = ("own",) if own else ("highlight",) if highlight else ()
        parts: list[tuple[str, tuple[str, ...]]] = [(f"[{clock(when)}] ", ("time", *line_tags))]
        nick_tags = (self._nick_tag(nick), *line_tags)
        if action:
            parts.append((f"* {nick} ", nick_tags))
        else:
            parts.append((nick, nick_tags))
            parts.append((": ", line_tags))
        body_tags = (*line_tags, "history") if history else line_tags
        rest = ""
        if len(body) > self.MAX_SHOWN_CHARS:  # the rest waits for a click on "show all"
            body, rest = body[: self.MAX_SHOWN_CHARS], body[self.MAX_SHOWN_CHARS :]
        if body.startswith(" ") and not action:
            # the next line of a long message (net.text_cuts starts it with the space that
            # separates it from the one before): "bea: programación", not "bea:  programación"
            parts.append((" ", (*body_tags, "emoji-part")))
            body = body[1:]
        parts += self._body_parts(body, body_tags)
        if rest:
            parts += self._more_parts(rest, body_tags)
        if pending_id is not None:
            parts.append((" " + tr("(sending…)"), ("pending", f"pending-{pending_id}", *line_tags)))
        parts.append(("\n", line_tags))
        return parts

    def add_older(self, messages: list[OlderLine]) -> int:
        """Put ``messages`` (older than everything shown, oldest first) above the first
        line, the lines in sight staying where they are; how many lines were added."""
        if not messages:
            return 0
        self.flush()
        parts: list[tuple[str, tuple[str, ...]]] = []
        remembered: list[tuple[OlderLine, int]] = []
        quotes: list[tuple[int, str]] = []
        lines = 0
        for line in messages:
            if line.quote is not None:
                lines += 1
                quotes.append((lines, line.quote[0]))
                parts += self._quote_parts(line.quote)
            lines += 1
            remembered.append((line, lines))
            parts += self._message_parts(
                line.when, line.nick, line.body, line.own, line.action, False, True, None
            )
        top = self._line_number("@0,0")
        flat = [item for part in parts for item in part]
        self._edit(lambda: self.text.insert("1.0", *flat))
        self._lines_moved(self._trimmed, lines)
        for line, number in remembered:
            self._remember_message(line.msgid, line.nick, line.more_msgids, self._trimmed + number)
            self._when_at[self._trimmed + number] = line.when
        for number, msgid in quotes:
            self._quote_of[self._trimmed + number] = msgid
        self.text.yview(f"{top + lines}.0")  # the same lines in sight as before
        return lines

    def newest_message(self, not_by: str = "") -> tuple[str, str] | None:
        """(msgid, author) of the lowest message on screen with an id, not by ``not_by``."""
        found = [
            (line, msgid)
            for msgid, line in self._line_of.items()
            if msgid in self.authors and fold_name(self.authors[msgid]) != fold_name(not_by)
        ]
        if not found:
            return None
        msgid = max(found)[1]
        return msgid, self.authors[msgid]

    def oldest_msgid(self) -> str | None:
        """The id of the first message shown (older ones are asked for before it)."""
        if not self._line_of:
            return None
        return min(self._line_of.items(), key=lambda item: item[1])[0]

    def dated_text(self, day: date | None = None) -> str:
        """The whole conversation as text, each message with its date and time:
        ``[2026-12-05 10:42] ana: hola`` (other lines as shown); with ``day``, only the
        messages of that day (and a reply's quote above one)."""
        self.flush()
        lines = self.text.get("1.0", "end-1c").split("\n")
        kept: list[str] = []
        for number, line in enumerate(lines, start=1):
            when = self._when_at.get(number + self._trimmed)
            if when is not None and line.startswith("[") and "] " in line:
                local = when.astimezone()
                if day is not None and local.date() != day:
                    continue
                line = f"[{local:%Y-%m-%d %H:%M}] " + line.split("] ", 1)[1]
            elif day is not None:
                following = self._when_at.get(number + 1 + self._trimmed)
                quoted = (number + self._trimmed) in self._quote_of
                if not (quoted and following and following.astimezone().date() == day):
                    continue
            kept.append(line)
        return "\n".join(kept) + "\n"

    def snippet(self, msgid: str) -> tuple[str, str] | None:
        """(author, first words) of a message shown here, to quote it in a reply."""
        self.flush()
        line = self._line_of.get(msgid, 0) - self._trimmed
        author = self.authors.get(msgid)
        if line < 1 or author is None:
            return None
        text = self.text.get(f"{line}.0", f"{line}.0 lineend")
        body = text.split(f"{author}: ", 1)[-1] if f"{author}: " in text else text
        reactions = self.text.tag_nextrange("reactions", f"{line}.0", f"{line}.0 lineend")
        if reactions:
            body = self.text.get(f"{line}.0", reactions[0]).split(f"{author}: ", 1)[-1]
        body = " ".join(body.split())
        return author, body if len(body) <= QUOTE_CHARS else body[: QUOTE_CHARS - 1] + "…"

    def show_message(self, msgid: str) -> bool:
        """Bring the message ``msgid`` into sight and mark it a moment; False if it is not
        shown here (too old: not loaded)."""
        self.flush()
        line = self._line_of.get(msgid, 0) - self._trimmed
        if line < 1:
            return False
        self.show_index(f"{line}.0")
        self.text.tag_remove("found-current", "1.0", "end")
        self.text.tag_add("found-current", f"{line}.0", f"{line}.0 lineend")
        self.after(1500, lambda: self.text.tag_remove("found-current", "1.0", "end"))
        return True

    def set_reactions(self, msgid: str, chips: list[tuple[str, int, bool]]) -> bool:
        """Show ``chips`` (emoji, count, whether ours) at the end of the message
        ``msgid``'s line, in place of those shown before; False if it is not shown."""
        self.flush()
        line = self._line_of.get(msgid, 0) - self._trimmed
        if line < 1 or self._id_at.get(line + self._trimmed) != msgid:
            return False
        start, end = f"{line}.0", f"{line}.0 lineend"
        old = self.text.tag_nextrange("reactions", start, end)
        pieces: list[str | tuple[str, ...]] = []
        for emoji, count, mine in chips:
            tags = ("reactions", "chip", "chip-mine") if mine else ("reactions", "chip")
            pieces += [" ", ("reactions",), f" {emoji} {count} ", tags]

        def change() -> None:
            if old:
                self.text.delete(old[0], old[1])
            if pieces:
                self.text.insert(f"{line}.0 lineend", *pieces)

        self._edit(change)
        return True

    def _on_chip(self, event: tk.Event, callback: Callable[[str, str], None] | None) -> None:
        if callback is None:
            return
        index = self.text.index(f"@{event.x},{event.y}")
        found = self.text.tag_prevrange("chip", f"{index}+1c")
        msgid = self._id_at.get(self._line_number(index) + self._trimmed)
        if found and msgid:
            words = self.text.get(*found).split()
            if words:
                callback(msgid, words[0])

    def _on_quote_click(self, event: tk.Event) -> None:
        line = self._line_number(f"@{event.x},{event.y}") + self._trimmed
        msgid = self._quote_of.get(line)
        if msgid is not None:
            self.show_message(msgid)

    def _body_parts(self, body: str, tags: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        if has_codes(body):  # bold, colours… from an IRC client (rare: checked first)
            parts: list[tuple[str, tuple[str, ...]]] = []
            for piece, style in styled_pieces(body):
                parts += self._with_links(piece, (*tags, *style))
        else:
            parts = self._with_links(body, tags)
        if body.isascii():
            return parts
        return [piece for chunk, chunk_tags in parts for piece in _drawable(chunk, chunk_tags)]

    def _more_parts(self, rest: str, tags: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """ " [… 1289 more characters] show all": a click puts ``rest`` in its place."""
        self._mores += 1
        self._hidden[self._mores] = (rest, tags)
        if len(self._hidden) > self.MAX_EXPANDABLE:
            self._hidden.popitem(last=False)
        count = len(rest)
        more = ntr("[… {count} more character]", "[… {count} more characters]", count)
        number = f"more-{self._mores}"  # marks both: a click replaces both
        return [
            (f" {more.format(count=count)} ", (*tags, "system", number)),
            (tr("show all"), (*tags, "more", number)),
        ]

    def expand(self, index: str) -> bool:
        """Show the whole of the cut message whose "show all" is at ``index``; False if
        there is none there (or it is forgotten)."""
        self.flush()
        number = next(
            (int(t[5:]) for t in self.text.tag_names(index) if t.startswith("more-")), None
        )
        found = self._hidden.pop(number, None) if number is not None else None
        ranges = self.text.tag_ranges(f"more-{number}")
        if found is None or not ranges:
            return False
        rest, tags = found
        pieces = [item for part in self._body_parts(rest, tags) for item in part]

        def change() -> None:
            self.text.delete(ranges[0], ranges[1])
            self.text.insert(ranges[0], *pieces)

        self._edit(change)
        self.text.tag_delete(f"more-{number}")
        return True

    def add_picture_slot(self, file_id: str) -> None:
        """Under the message just added: where its picture goes once fetched
        (``show_picture``); until then an empty line, tagged ``picture-<id>``."""
        self._append([("    ", ("picture", f"picture-{file_id}")), ("\n", ())])

    def show_picture(self, file_id: str, image: tk.PhotoImage, on_click: Callable[[], None]) -> int:
        """Put ``image`` in every slot of ``file_id``; how many it filled. A click on it
        calls ``on_click``."""
        self.flush()  # a slot still queued is put in the Text first
        tag = f"picture-{file_id}"
        ranges = self.text.tag_ranges(tag)
        starts = [ranges[i] for i in range(0, len(ranges), 2)]

        def change() -> None:
            for start in reversed(starts):  # from the end: earlier indexes do not move
                if not self.text.dump(start, f"{start} lineend", image=True):
                    self.text.image_create(f"{start} +1c", image=image)
                    self.text.tag_add(tag, f"{start} +1c")

        self._edit(change)
        self.text.tag_bind(tag, "<Button-1>", lambda _e: on_click())
        self.text.tag_configure(tag, spacing1=4, spacing3=4)
        return len(starts)

    def add_system(self, when: datetime, text: str) -> None:
        """A quiet line: joins, leaves, nick changes, errors."""
        self._append([(f"[{clock(when)}] ", ("time",)), (f"— {text}\n", ("system",))])

    def add_folded(self, when: datetime, title: str, body: str) -> None:
        """A quiet line ``title ▸`` that unfolds ``body`` below it when clicked (the
        server's welcome). The body is put in the Text only while unfolded: hidden (elided)
        text in a Text makes every later insert slower (the welcome cost a 10,000-message
        burst a third more time on screen)."""
        self._folds += 1
        number, tag = self._folds, f"fold-{self._folds}"
        self.text.tag_configure(f"folded-{number}", lmargin1=40, lmargin2=40)
        self.text.tag_bind(tag, "<Button-1>", lambda _e: self.toggle_fold(number))
        self._fold_bodies[number] = (
            "\n".join(  # bold, colours…: only the words (line by line: keep the breaks)
                "".join(piece for piece, _style in styled_pieces(line)) if has_codes(line) else line
                for line in body.split("\n")
            ),
            False,
        )
        if len(self._fold_bodies) > self.MAX_FOLDS:
            self._fold_bodies.popitem(last=False)  # that line no longer unfolds
        self._append(
            [
                (f"[{clock(when)}] ", ("time",)),
                (f"— {title} {FOLDED}\n", ("system", "fold", tag)),
            ]
        )

    def toggle_fold(self, number: int) -> bool:
        """Unfold (or fold again) the ``number``-th folded line; True if now unfolded."""
        self.flush()
        ranges = self.text.tag_ranges(f"fold-{number}")
        if not ranges or number not in self._fold_bodies:
            return False
        body, shown = self._fold_bodies[number]
        unfold = not shown
        self._fold_bodies[number] = (body, unfold)
        title_line = self._line_number(ranges[0])
        arrow = self.text.index(f"{ranges[1]} -2c")  # the title ends "▸\n"
        tags = self.text.tag_names(arrow)
        lines = body.count("\n") + 1

        def turn() -> None:
            self.text.delete(arrow)
            self.text.insert(arrow, UNFOLDED if unfold else FOLDED, tags)
            if unfold:
                self.text.insert(f"{title_line + 1}.0", body + "\n", ("system", f"folded-{number}"))
            else:
                self.text.delete(f"{title_line + 1}.0", f"{title_line + 1 + lines}.0")

        self._edit(turn)
        self._lines_moved(title_line + self._trimmed, lines if unfold else -lines)
        return unfold

    def _lines_moved(self, after: int, by: int) -> None:
        """Lines below appended line ``after`` moved ``by`` lines (a welcome unfolded or
        folded again): what is remembered by line number follows them."""
        self._appended += by
        self._line_of = {
            m: line + by if line > after else line for m, line in self._line_of.items()
        }
        self._id_at = {line + by if line > after else line: m for line, m in self._id_at.items()}
        self._quote_of = {
            line + by if line > after else line: m for line, m in self._quote_of.items()
        }
        self._when_at = {
            line + by if line > after else line: w for line, w in self._when_at.items()
        }

    def add_announcement(self, when: datetime, text: str, heading: str = "") -> None:
        """The server's own words (a banner no client can produce), or a teacher's notice
        to the room under ``heading``."""
        heading = heading or tr("Announcement from the server")
        self._place_due_marker()
        if has_codes(text):
            text = "".join(piece for piece, _style in styled_pieces(text))
        self._append([(f"{heading} · {clock(when)}\n{self._shorten(text)}\n", ("banner",))])

    def mark_unread_from_here(self, text: str) -> None:
        """Owe the "new messages" line ``text`` to the next message from someone else
        (the window went behind); "" forgets it (the window is in front again)."""
        self._marker_due = text

    def _place_due_marker(self) -> None:
        if self._marker_due:
            text, self._marker_due = self._marker_due, ""
            self.add_marker(text)

    def add_marker(self, text: str) -> None:
        """The "new messages" line; there is only ever one."""
        self.flush()
        ranges = self.text.tag_ranges("marker")
        if ranges:
            start = ranges[0]

            def blank() -> None:  # its line stays, empty and hidden: no line number moves
                self.text.delete(start, f"{start} lineend")
                self.text.tag_remove("marker", start, f"{start} +1c")
                self.text.tag_add("gone", start, f"{start} +1c")

            self._edit(blank)
        self._append([(f"──── {text} ────\n", ("marker",))])

    def piece_delivered(self, message_id: int, msgid: str) -> None:
        """An earlier line of our long message ``message_id`` (the id of its last line) got
        ``msgid``: kept, so that deleting the message deletes that line too."""
        if msgid and f"pending-{message_id}" in self.text.tag_names():
            self._early_pieces.setdefault(message_id, []).append(msgid)

    def mark_delivered(self, message_id: int, msgid: str = "") -> bool:
        """Remove the *sending…* mark of message ``message_id`` (and remember the server's
        ``msgid`` for it, with its earlier lines' ids); False if there is none."""
        self.flush()
        ranges = self.text.tag_ranges(f"pending-{message_id}")
        ids = [*self._early_pieces.pop(message_id, []), *([msgid] if msgid else [])]
        if not ranges:
            return False
        if ids:
            nick = self.text.get(f"{ranges[0]} linestart", ranges[0]).partition("] ")[2]
            author = nick.partition(":")[0].removeprefix("* ").split(" ")[0]
            line = self._line_number(ranges[0]) + self._trimmed
            self._remember(ids[0], author, line)
            if len(ids) > 1:
                self._more_ids[ids[0]] = tuple(ids[1:])
                for later in ids[1:]:
                    self._line_of[later] = line
        self._edit(lambda: self.text.delete(ranges[0], ranges[1]))
        self.text.tag_delete(f"pending-{message_id}")
        return True

    def mark_refused(self, message_id: int, reason: str) -> bool:
        """The server refused message ``message_id``: its line is struck through and says
        why, instead of *sending…*; False if there is no such line."""
        self.flush()
        ranges = self.text.tag_ranges(f"pending-{message_id}")
        if not ranges:
            return False
        start, end = ranges[0], ranges[1]

        def change() -> None:
            self.text.tag_add("refused", f"{start} linestart", start)
            self.text.delete(start, end)
            self.text.insert(
                start, " " + tr("(not sent: {reason})").format(reason=reason), "refusal"
            )

        self._edit(change)
        self.text.tag_delete(f"pending-{message_id}")
        return True

    def redact(self, msgid: str, text: str) -> bool:
        """Replace the message ``msgid`` by ``text`` ("message deleted by …"), keeping its
        time, and its picture, if any, by "(picture deleted)"; False if it is not shown here."""
        self.flush()
        line_number = self._line_of.get(msgid, 0) - self._trimmed
        if line_number < 1:
            return False
        start = f"{line_number}.0"
        line = self.text.get(start, f"{start} lineend")
        stamp = line[: line.index("] ") + 2] if "] " in line else ""

        slot = f"{line_number + 1}.0"  # its picture's, if it has one: deleted too
        has_picture = "picture" in self.text.tag_names(slot)

        def change() -> None:
            self.text.delete(start, f"{start} lineend")
            self.text.insert(start, stamp, ("time",), f"— {text}", ("redacted",))
            if has_picture:  # the line stays (line numbers are kept), the picture goes
                self.text.delete(slot, f"{slot} lineend")
                self.text.insert(slot, "    " + tr("(picture deleted)"), ("system",))

        self._edit(change)
        self._forget(msgid)
        return True

    def pieces_of(self, msgid: str) -> list[str]:
        """``msgid`` and the ids of its message's later lines, all to delete together."""
        return [msgid, *self._more_ids.get(msgid, ())]

    def message_at(self, x: int, y: int) -> tuple[str, str] | None:
        """The (msgid, author) of the message at pixel ``x, y``, if it has an id (on its
        picture: the message it came with)."""
        self.flush()
        line = self._line_number(f"@{x},{y}")
        if "picture" in self.text.tag_names(f"{line}.0"):
            line -= 1  # a picture's line is under its message's
        msgid = self._id_at.get(line + self._trimmed)
        return (msgid, self.authors[msgid]) if msgid else None

    def clear(self) -> None:
        self._queued.clear()
        self._edit(lambda: self.text.delete("1.0", "end"))
        self._trimmed = self._appended
        self._forget_trimmed()

    def _line_number(self, index: str) -> int:
        return int(self.text.index(index).split(".")[0])

    def _remember(self, msgid: str, author: str, line: int) -> None:
        self._forget(msgid)
        self.authors[msgid] = author
        self._line_of[msgid] = line
        self._id_at[line] = msgid

    def _forget(self, msgid: str) -> None:
        self.authors.pop(msgid, None)
        self._more_ids.pop(msgid, None)
        line = self._line_of.pop(msgid, None)
        if line is not None and self._id_at.get(line) == msgid:  # not a later line's id
            self._id_at.pop(line, None)

    # -- reading comfort --

    def follow_font(self) -> None:
        """The text font changed size (a zoom): its bold and italic versions follow."""
        derived_fonts(self, self.font, self._fonts)

    def at_bottom(self) -> bool:
        return self.text.yview()[1] >= AT_BOTTOM

    def scroll_to_end(self) -> None:
        self.following = True
        self.text.see("end")
        self.below.place_forget()

    def show_index(self, index: str) -> None:
        """Show ``index`` (a search result): the view stops following the newest line."""
        self.text.see(index)
        self.following = self.at_bottom()
        if not self.following:
            self.below.place(relx=0.5, rely=1.0, anchor="s", y=-6)

    def find(self, pattern: str) -> int:
        """Highlight every match of ``pattern``, ignoring case and accents (see
        ``gui.search``); returns how many (at most ``MAX_FOUND``). ``show_match`` shows one.

        Searched in Python, not with ``Text.search``, which crashes Tk 8.6 on text with
        emoji; Tk counts a character beyond U+FFFF as two columns, hence the UTF-16 lengths.
        """
        self.flush()
        self.text.tag_remove("found", "1.0", "end")
        self.text.tag_remove("found-current", "1.0", "end")
        self.matches: list[tuple[str, str]] = []  # (start, end) of each, oldest first
        if not pattern:
            return 0
        for number, line in enumerate(self.plain_text().split("\n"), start=1):
            for start, end in find_all(pattern, line):
                column = utf16_length(line[:start])
                width = utf16_length(line[start:end])
                self.matches.append((f"{number}.{column}", f"{number}.{column + width}"))
            if len(self.matches) >= self.MAX_FOUND:
                del self.matches[self.MAX_FOUND :]
                break
        if self.matches:
            self.text.tag_add("found", *(index for match in self.matches for index in match))
        return len(self.matches)

    def show_match(self, number: int) -> None:
        """Bring match ``number`` of the last ``find()`` (0: the oldest) into view, marked."""
        self.text.tag_remove("found-current", "1.0", "end")
        start, end = self.matches[number]
        self.text.tag_add("found-current", start, end)
        self.show_index(start)

    def line_count(self) -> int:
        self.flush()
        return int(self.text.index("end-1c").split(".")[0])

    def plain_text(self) -> str:
        self.flush()
        return self.text.get("1.0", "end-1c")

    # -- helpers --

    def _shorten(self, body: str) -> str:
        if len(body) <= self.MAX_SHOWN_CHARS:
            return body
        hidden = len(body) - self.MAX_SHOWN_CHARS
        return (
            body[: self.MAX_SHOWN_CHARS]
            + " "
            + ntr("[… {count} more character]", "[… {count} more characters]", hidden).format(
                count=hidden
            )
        )

    @staticmethod
    def _with_links(body: str, tags: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        if "http" not in body and "www." not in body:  # nearly always: no link to look for
            return [(body, tags)] if body else []
        parts: list[tuple[str, tuple[str, ...]]] = []
        position = 0
        for match in URL.finditer(body):
            if match.start() > position:
                parts.append((body[position : match.start()], tags))
            parts.append((match.group(0), (*tags, "link")))
            position = match.end()
        if position < len(body):
            parts.append((body[position:], tags))
        return parts

    def _append(self, parts: list[tuple[str, tuple[str, ...]]]) -> None:
        """Queue a line. ``flush()`` puts all queued lines into the Text with one insert, and
        following, trimming and the "below" button wait for ``settle()``, which Tk runs once
        when idle: a burst of lines costs a few Tk calls and one layout, not several each."""
        if self.before_append is not None:
            self.before_append()  # clears itself, then appends its own lines first
        if self._settle_id is None:
            self._settle_id = self.after_idle(self.settle)
        queued = self._queued
        for chunk, tags in parts:
            self._appended += chunk.count("\n")
            if len(queued) > 1 and queued[-1] == tags:  # same look as the last piece: one piece
                queued[-2] += chunk
            else:
                queued += (chunk, tags)

    def flush(self) -> None:
        """Insert the queued lines (the window's pump calls this at the end of each tick)."""
        if self._queued:
            queued, self._queued = self._queued, []
            self.tk.call("charla_append", self.text, *queued)

    def settle(self) -> None:
        """After a batch of lines: keep the scrollback bounded, follow or offer to."""
        if self._settle_id is None:
            return
        self._settle_id = None
        lines = self.line_count()
        if lines > self.MAX_LINES:
            cut = lines - self.MAX_LINES + self.TRIM_LINES
            self._edit(lambda: self.text.delete("1.0", f"{cut + 1}.0"))
            self._trimmed += cut
            self._forget_trimmed()
        if self.following:
            self.text.see("end")
        else:
            self.below.place(relx=0.5, rely=1.0, anchor="s", y=-6)

    def _forget_trimmed(self) -> None:
        """Forget the ids of messages whose lines are gone, so that what is remembered
        stays as bounded as the scrollback (once per trim: a few thousand entries)."""
        for msgid in [m for m, line in self._line_of.items() if line <= self._trimmed]:
            self._forget(msgid)
        self._quote_of = {line: m for line, m in self._quote_of.items() if line > self._trimmed}
        self._when_at = {line: w for line, w in self._when_at.items() if line > self._trimmed}

    def destroy(self) -> None:
        """Cancel a pending settle() first: it must not run on a destroyed Text."""
        if self._settle_id is not None:
            self.after_cancel(self._settle_id)
            self._settle_id = None
        if self._refollow_id is not None:
            self.after_cancel(self._refollow_id)
            self._refollow_id = None
        super().destroy()

    def _edit(self, change) -> None:
        self.text.configure(state="normal")
        try:
            change()
        finally:
            self.text.configure(state="disabled")

    def _on_scroll(self, scrollbar: ttk.Scrollbar, first: str, last: str) -> None:
        """The Text's view moved. Following, and no longer at the bottom (the text was
        zoomed, the window resized, lines laid out late): back to the end, once idle."""
        scrollbar.set(first, last)
        if float(last) >= AT_BOTTOM:
            self.below.place_forget()
        elif self.following and self._refollow_id is None:
            self._refollow_id = self.after_idle(self._refollow)

    def _refollow(self) -> None:
        self._refollow_id = None
        if self.following:
            self.text.see("end")

    def _on_scrollbar(self, *args: str) -> None:
        self.text.yview(*args)
        self._on_user_scroll()

    def _on_user_scroll(self) -> None:
        """The user moved the view: it follows again only once they are at the bottom."""
        if not self.winfo_exists():  # closed since the wheel turned (run from after_idle)
            return
        self.following = self.at_bottom()
        if self.following:
            self.below.place_forget()
        if self.on_top is not None and self.text.yview()[0] <= 0.0:
            self.on_top()  # at the very top: older lines, if there are any

    def _on_more_click(self, event: tk.Event) -> None:
        self.expand(self.text.index(f"@{event.x},{event.y}"))

    def _on_link_click(self, event: tk.Event) -> None:
        index = self.text.index(f"@{event.x},{event.y}")
        found = self.text.tag_prevrange("link", f"{index}+1c")
        if found:
            url = self.text.get(*found)
            webbrowser.open(url if "://" in url else f"https://{url}")
