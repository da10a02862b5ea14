"""What students expect from a chat, in the window: replies, reactions, typing, and the
conversation before the first line shown.

- **Replies.** A message's right-click menu has "Responder"; a bar above the entry says
  "↪ Respondiendo a Ana: …" (✕ or Esc drops it), and the next message sent there carries
  IRCv3 ``+reply`` with the answered message's msgid. A reply shows the quoted line (its
  author and first words) above it; a click on the quote brings the original into sight.
- **Reactions** (IRCv3 ``+draft/react`` on ``TAGMSG``): 👍 ✋ ❤️ 😂 ❓ from the same menu;
  shown at the end of the message's line as "👍 3" chips, ours shaded; the pointer on a
  chip says who reacted (in the status line); a click on ours takes it back
  (``+draft/unreact``), on another adds ours. One per person per emoji.
- **Typing** (IRCv3 ``+typing``): "Ana está escribiendo…" (two names, or "Varias personas
  …") over the bottom of the conversation, gone 6 s after the last notice or at their
  message. We send ``active`` at most every ``TYPING_EVERY`` seconds while the entry has
  text, ``done`` when it is sent or emptied; never in a channel of more than
  ``TYPING_MAX_MEMBERS`` (noise), nor when the user turned it off (View menu).
- **Older messages.** Scrolling to the very top of a conversation asks the server for the
  page before its oldest message (``CHATHISTORY BEFORE``, a Charla server or any that
  offers it); they go above, the lines in sight staying put. Search (Ctrl+F) reaches
  them once loaded. "Guardar conversación…" loads everything the server keeps, then
  writes the tab as UTF-8 text, ``[fecha hora] nick: texto`` (``/guardar 2026-12-05``:
  only that day's messages, for a teacher's record of a lesson). A search (Ctrl+F) that
  finds nothing loads the older messages and searches them too.

All of it needs a server that reads tags (``message-tags``): without one the menu offers
none of it, and messages are plain messages.

Threading: everything here runs on the Tk main thread.
"""

from __future__ import annotations

import time
import tkinter as tk
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any

from gui.conversation import OlderLine
from net import events as ev
from net.i18n import tr
from net.protocol import fold_name, irc_lower

# ``window`` below is a gui.app.ChatWindow (not imported: app imports this module).
Window = Any

#: the reactions the menu offers: what a class uses
REACTIONS = ("👍", "✋", "❤️", "😂", "❓")
#: messages whose reactions are remembered per conversation (the oldest forgotten first)
MAX_REACTED_MESSAGES = 2000
#: different reactions on one message, and people on one reaction, at most
MAX_EMOJI_PER_MESSAGE = 20
MAX_PEOPLE_PER_REACTION = 500
#: IRCv3 typing: send "active" at most this often, and forget a silent typist after
TYPING_EVERY = 3.0
TYPING_EXPIRES = 6.0
#: a channel this big gets no typing notices from us (30 "is typing" would be noise)
TYPING_MAX_MEMBERS = 40
#: older messages are loaded only while the conversation has room for a page more
OLDER_ROOM_LINES = 300
#: a saved conversation asks for older pages at most this many times
MAX_SAVE_PAGES = 200
#: a poll's votes: 👍 / 👎, or numbered options (at most 9)
YES_NO = ("👍", "👎")
NUMBERED = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣")
#: polls remembered per conversation (the last one is the one ``/encuesta cerrar`` closes)
MAX_POLLS = 50


def reaction_words() -> tuple[str, ...]:
    """What each of ``REACTIONS`` says, in the menu beside it."""
    return (
        tr("Agreed"),
        tr("I have a question"),
        tr("Love it"),
        tr("Funny"),
        tr("I don't get it"),
    )


class Social:
    """Replies, reactions, typing and older messages for one window (module docstring)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        root = window.root
        #: the reply being written: (conversation key, msgid, author, first words)
        self.replying: tuple[str, str, str, str] | None = None
        self.reply_bar = ttk.Frame(root, padding=(8, 2))
        self.reply_label = ttk.Label(self.reply_bar)
        self.reply_label.pack(side="left")
        ttk.Button(self.reply_bar, text="✕", width=2, command=self.cancel_reply).pack(side="left")
        self.typing_label = ttk.Label(root, padding=(10, 0))
        #: conversation key -> msgid -> emoji -> nicks (in the order they reacted)
        self.reactions: dict[str, OrderedDict[str, dict[str, list[str]]]] = {}
        #: conversation key -> nick -> when its last "typing" notice stops counting
        self.typists: dict[str, dict[str, float]] = {}
        self._typing_sent: dict[str, float] = {}  # key -> when we last said "active"
        self._typing_tick: str | None = None
        self.loading: set[str] = set()  # keys whose older messages were asked for
        self.exhausted: set[str] = set()  # keys with nothing older on the server
        #: key -> (pages asked so far, what to do once all is here): a conversation whose
        #: older messages are all being loaded (to save it, or to search it)
        self.fetching: dict[str, tuple[int, Callable[[], None]]] = {}
        #: key -> poll msgid -> (its question, its options), oldest first
        self.polls: dict[str, OrderedDict[str, tuple[str, tuple[str, ...]]]] = {}
        #: our own polls until the server gives them an id: message id -> (key, question,
        #: options)
        self._own_polls: dict[int, tuple[str, str, tuple[str, ...]]] = {}
        self.send_typing = tk.BooleanVar(root, value=window.settings.send_typing)
        window.entry.bind("<KeyRelease>", lambda _e: self.on_key(), add="+")
        window.entry.bind("<Escape>", lambda _e: self.cancel_reply(), add="+")

    # -- the menu ------------------------------------------------------------------------

    def add_menu_items(self, menu: tk.Menu) -> None:
        """The View menu's: save a conversation; send typing notices or not."""
        menu.add_command(label=tr("Save conversation…"), command=self.ask_save)
        menu.add_checkbutton(
            label=tr("Tell others when I am typing"),
            variable=self.send_typing,
            command=lambda: setattr(self.window.settings, "send_typing", self.send_typing.get()),
        )

    def add_message_items(self, menu: tk.Menu, target: str, msgid: str, author: str) -> None:
        """A message's right-click menu: reply to it, react to it."""
        if not msgid or not self.window.client.can_tag():
            return
        menu.add_command(label=tr("Reply"), command=lambda: self.start_reply(target, msgid, author))
        for emoji, meaning in zip(REACTIONS, reaction_words(), strict=True):
            menu.add_command(
                label=f"{emoji}  {meaning}", command=lambda e=emoji: self.toggle(target, msgid, e)
            )

    # -- replies -------------------------------------------------------------------------

    def start_reply(self, target: str, msgid: str, author: str) -> None:
        key = irc_lower(target)
        view = self.window.views.get(key)
        found = view.snippet(msgid) if view is not None else None
        words = found[1] if found else ""
        self.replying = (key, msgid, author, words)
        self.reply_label.configure(
            text=tr("↪ Replying to {nick}: {words}").format(nick=author, words=words)
        )
        self.reply_bar.place(in_=self.window.entry, relx=0, y=-2, anchor="sw")
        self.reply_bar.lift()
        self.window.entry.focus_set()

    def reply_to_last(self) -> str:
        """Alt+R: answer the newest message from someone else in the conversation on show."""
        window = self.window
        view = window.views.get(window.current_key)
        if view is None or not window.client.can_tag():
            return "break"
        found = view.newest_message(not_by=window.client.nick)
        if found is not None:
            self.start_reply(window.current_name(), *found)
        return "break"

    def cancel_reply(self) -> None:
        self.replying = None
        self.reply_bar.place_forget()

    def take_reply(self, target: str) -> tuple[str, str, str] | None:
        """For a message about to be sent to ``target``: (msgid, author, first words) of
        the message it answers, if a reply to one there is being written (then over)."""
        if self.replying is None or self.replying[0] != irc_lower(target):
            return None
        _key, msgid, author, words = self.replying
        self.cancel_reply()
        return msgid, author, words

    def quote_for(self, key: str, msgid: str) -> tuple[str, str, str] | None:
        """The quote above a received reply: the answered message's author and first
        words, or a plain mention when it is not shown here (too old, or deleted)."""
        if not msgid:
            return None
        view = self.window.views.get(key)
        found = view.snippet(msgid) if view is not None else None
        if found is None:
            return msgid, "", tr("a message not shown here")
        return msgid, found[0], found[1]

    # -- reactions -----------------------------------------------------------------------

    def on_reaction(self, event: ev.Reaction) -> None:
        key = irc_lower(event.target)
        self._note(key, event.msgid, event.emoji, event.nick, event.added)
        self._show(key, event.msgid)

    def _note(self, key: str, msgid: str, emoji: str, nick: str, added: bool) -> None:
        messages = self.reactions.setdefault(key, OrderedDict())
        emojis = messages.setdefault(msgid, {})
        messages.move_to_end(msgid)
        while len(messages) > MAX_REACTED_MESSAGES:
            messages.popitem(last=False)
        people = emojis.get(emoji)
        if people is None:
            if not added or len(emojis) >= MAX_EMOJI_PER_MESSAGE:
                return
            people = emojis[emoji] = []
        folded = [fold_name(p) for p in people]
        if added and fold_name(nick) not in folded and len(people) < MAX_PEOPLE_PER_REACTION:
            people.append(nick)
        elif not added and fold_name(nick) in folded:
            del people[folded.index(fold_name(nick))]
            if not people:
                del emojis[emoji]

    def _show(self, key: str, msgid: str) -> None:
        view = self.window.views.get(key)
        if view is None:
            return
        me = fold_name(self.window.client.nick)
        emojis = self.reactions.get(key, {}).get(msgid, {})
        _question, options = self.polls.get(key, {}).get(msgid, ("", ()))
        shown = [*options, *(e for e in emojis if e not in options)]  # a poll's: all, first
        chips = []
        for emoji in shown:
            people = emojis.get(emoji, [])
            chips.append((emoji, len(people), me in (fold_name(p) for p in people)))
        view.set_reactions(msgid, chips)

    def toggle(self, target: str, msgid: str, emoji: str) -> None:
        """Our reaction ``emoji`` on ``msgid``: added, or taken back if it was ours. In a
        poll, a vote for one option takes back our vote for any other: one vote each."""
        key = irc_lower(target)
        me = self.window.client.nick
        emojis = self.reactions.get(key, {}).get(msgid, {})
        mine = fold_name(me) in (fold_name(p) for p in emojis.get(emoji, []))
        _question, options = self.polls.get(key, {}).get(msgid, ("", ()))
        if not mine and emoji in options:
            for other in options:
                if other != emoji and fold_name(me) in map(fold_name, emojis.get(other, [])):
                    self.window.client.react(target, msgid, other, add=False)
                    self._note(key, msgid, other, me, False)
        self.window.client.react(target, msgid, emoji, add=not mine)
        self._note(key, msgid, emoji, me, not mine)
        self._show(key, msgid)

    # -- quick polls ---------------------------------------------------------------------

    def start_poll(self, target: str, args: str) -> None:
        """``/encuesta QUESTION [| option | option…]``: a message with the options, which
        everyone answers with one click on its chips (reactions)."""
        window = self.window
        view = window.view_for(target)
        if not window.is_operator(target):
            view.add_system(
                datetime.now().astimezone(), tr("Only whoever runs the room can start a poll.")
            )
            return
        if not window.client.can_tag():
            view.add_system(
                datetime.now().astimezone(), tr("This server cannot count votes (no IRCv3 tags).")
            )
            return
        question, *rest = [part.strip() for part in args.split("|")]
        labels = [label for label in rest if label][: len(NUMBERED)]
        options = NUMBERED[: len(labels)] if labels else YES_NO
        if labels:
            choices = " · ".join(
                f"{emoji} {label}" for emoji, label in zip(options, labels, strict=True)
            )
        else:
            choices = " / ".join(options)
        text = tr("📊 Poll: {question} — {choices} (click to vote)").format(
            question=question, choices=choices
        )
        for message_id in window.send_text(target, text, action=False, poll=options):
            self._own_polls[message_id] = (irc_lower(target), question, options)

    def saw_poll(self, key: str, msgid: str, question: str, options: tuple[str, ...]) -> None:
        """A poll was shown (someone's, or ours once delivered): its chips, at zero."""
        polls = self.polls.setdefault(key, OrderedDict())
        polls[msgid] = (question, options)
        while len(polls) > MAX_POLLS:
            polls.popitem(last=False)
        self._show(key, msgid)

    def own_poll_delivered(self, message_id: int, msgid: str) -> None:
        found = self._own_polls.pop(message_id, None)
        if found is not None and msgid:
            key, question, options = found
            self.saw_poll(key, msgid, question, options)

    def close_poll(self, target: str) -> None:
        """``/encuesta cerrar``: the last poll's result, said to the room (and so kept)."""
        key = irc_lower(target)
        polls = self.polls.get(key)
        if not polls:
            self.window.view_for(target).add_system(
                datetime.now().astimezone(), tr("There is no poll here to close.")
            )
            return
        msgid, (question, options) = polls.popitem()
        votes = self.reactions.get(key, {}).get(msgid, {})
        counts = " · ".join(f"{emoji} {len(votes.get(emoji, []))}" for emoji in options)
        total = sum(len(votes.get(emoji, [])) for emoji in options)
        text = tr("📊 Result: {question} — {counts} ({total} votes)").format(
            question=question, counts=counts, total=total
        )
        self.window.send_text(target, text, action=False)

    def hover(self, key: str, msgid: str, emoji: str) -> None:
        people = self.reactions.get(key, {}).get(msgid, {}).get(emoji, [])
        if people:
            self.window.status.configure(text=f"{emoji} " + ", ".join(people))

    def attach(self, key: str, view: Any) -> None:
        """A new tab: its chips answer clicks, its top asks for older messages."""
        view.on_chip_click = lambda msgid, emoji: self.toggle(self.window.names[key], msgid, emoji)
        view.on_chip_hover = lambda msgid, emoji: self.hover(key, msgid, emoji)
        view.on_top = lambda: self.load_older(key)

    # -- typing --------------------------------------------------------------------------

    def on_key(self) -> None:
        """The entry changed: say we are typing (or no longer), at the spec's pace."""
        window = self.window
        target = window.current_name()
        key = irc_lower(target)
        if not self.send_typing.get() or not window.client.can_tag():
            return
        if len(window.members.get(key, [])) > TYPING_MAX_MEMBERS:
            return
        text = window.entry.get()
        now = time.monotonic()
        if text and not text.startswith("/"):
            if now - self._typing_sent.get(key, -TYPING_EVERY) >= TYPING_EVERY:
                self._typing_sent[key] = now
                window.client.typing(target, "active")
        elif key in self._typing_sent:
            self.stopped_typing(target)

    def stopped_typing(self, target: str) -> None:
        """Sent, or emptied: we are done typing there."""
        if self._typing_sent.pop(irc_lower(target), None) is not None:
            self.window.client.typing(target, "done")

    def on_typing(self, event: ev.Typing) -> None:
        key = irc_lower(event.target)
        typists = self.typists.setdefault(key, {})
        if event.state == "active":
            typists[event.nick] = time.monotonic() + TYPING_EXPIRES
        else:
            typists.pop(event.nick, None)
        self.show_typing()

    def spoke(self, key: str, nick: str) -> None:
        """A message from ``nick``: it is no longer typing."""
        if self.typists.get(key, {}).pop(nick, None) is not None:
            self.show_typing()

    def show_typing(self) -> None:
        """The line for the conversation on show; checked again while anyone types."""
        now = time.monotonic()
        for typists in self.typists.values():
            for nick in [n for n, until in typists.items() if until <= now]:
                del typists[nick]
        names = list(self.typists.get(self.window.current_key, {}))
        if not names:
            text = ""
        elif len(names) == 1:
            text = tr("{nick} is typing…").format(nick=names[0])
        elif len(names) == 2:
            text = tr("{first} and {second} are typing…").format(first=names[0], second=names[1])
        else:
            text = tr("Several people are typing…")
        if text:
            self.typing_label.configure(text=text)
            self.typing_label.place(in_=self.window.tabs, relx=0, rely=1, anchor="sw", y=-2)
            self.typing_label.lift()
        else:
            self.typing_label.place_forget()
        if self._typing_tick is None and any(self.typists.values()):
            self._typing_tick = self.window.root.after(1000, self._tick)

    def _tick(self) -> None:
        self._typing_tick = None
        self.show_typing()

    # -- older messages ------------------------------------------------------------------

    def load_older(self, key: str) -> bool:
        """Ask for the page before the oldest message of ``key``'s tab; False if there is
        nothing to ask (no such server, nothing older, a page on its way, no room)."""
        window = self.window
        view = window.views.get(key)
        if view is None or key in self.loading or key in self.exhausted:
            return False
        if not window.client.can_load_older():
            return False
        if view.line_count() + OLDER_ROOM_LINES > view.MAX_LINES:
            return False  # what came would be trimmed away at once
        oldest = view.oldest_msgid()
        if oldest is None:
            return False
        self.loading.add(key)
        window.client.load_older(window.names.get(key, key), oldest)
        return True

    def on_older(self, event: ev.OlderMessages) -> None:
        key = irc_lower(event.target)
        self.loading.discard(key)
        view = self.window.views.get(key)
        if view is None:
            return
        if not event.messages:
            self.exhausted.add(key)
        lines = [
            OlderLine(
                message.time,
                message.sender,
                message.text,
                own=message.own,
                action=message.kind == "action",
                msgid=message.msgid,
                more_msgids=message.more_msgids,
                quote=self._older_quote(event.messages, message),
            )
            for message in event.messages
        ]
        view.add_older(lines)
        for reaction in event.reactions:
            self._note(key, reaction.msgid, reaction.emoji, reaction.nick, reaction.added)
        for msgid in {reaction.msgid for reaction in event.reactions}:
            self._show(key, msgid)
        if key in self.fetching:
            self._go_on_fetching(key)

    @staticmethod
    def _older_quote(
        messages: tuple[ev.ChatMessage, ...], message: ev.ChatMessage
    ) -> tuple[str, str, str] | None:
        if not message.reply_to:
            return None
        answered = next((m for m in messages if m.msgid == message.reply_to), None)
        if answered is None:
            return message.reply_to, "", tr("a message not shown here")
        words = " ".join(answered.text.split())[:60]
        return message.reply_to, answered.sender, words

    # -- keeping a copy ------------------------------------------------------------------

    def ask_save(self, day: date | None = None) -> None:
        """Ask where, then ``save`` the conversation on show (or ``day``'s part of it)."""
        key = self.window.current_key
        name = self.window.names.get(key, key)
        path = filedialog.asksaveasfilename(
            parent=self.window.root,
            title=tr("Save conversation…"),
            defaultextension=".txt",
            initialfile=f"{name.lstrip('#&')}-{day or datetime.now().date():%Y-%m-%d}.txt",
            filetypes=[(tr("Text"), "*.txt")],
        )
        if path:
            self.save(key, Path(path), day=day)

    def load_everything(self, key: str, then: Callable[[], None]) -> None:
        """Load every older message the server keeps for ``key`` (a page at a time, at most
        ``MAX_SAVE_PAGES``, as long as the tab has room), then call ``then``."""
        self.fetching[key] = (0, then)
        self._go_on_fetching(key)

    def _go_on_fetching(self, key: str) -> None:
        pages, then = self.fetching[key]
        if pages < MAX_SAVE_PAGES and self.load_older(key):
            self.fetching[key] = (pages + 1, then)
            return  # on_older comes back here
        del self.fetching[key]
        then()

    def save(
        self,
        key: str,
        path: Path,
        on_done: Callable[[Path], None] | None = None,
        day: date | None = None,
    ) -> None:
        """Write the conversation ``key`` to ``path``, all of it (the older pages the server
        keeps are loaded first), or only the messages of ``day``; then ``on_done``."""

        def write() -> None:
            view = self.window.views.get(key)
            if view is None:
                return
            path.write_text(view.dated_text(day), encoding="utf-8")
            view.add_system(
                datetime.now().astimezone(),
                tr("Conversation saved in {path}").format(path=path),
            )
            if on_done is not None:
                on_done(path)

        self.load_everything(key, write)

    def search_older(self, view: Any, again: Callable[[], None]) -> bool:
        """A search found nothing in ``view``: load its older messages and search again;
        False when there is nothing older to load."""
        key = next((k for k, v in self.window.views.items() if v is view), None)
        if key is None or key in self.exhausted or key in self.fetching:
            return False
        if not self.window.client.can_load_older() or view.oldest_msgid() is None:
            return False
        self.load_everything(key, again)
        return True
