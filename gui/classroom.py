"""The teacher's controls and the room's state in words (issue 14).

For a channel operator (a teacher, or a helper the teacher made one): the **Clase** menu
(mute the class, slow mode, lock the room and invite, the topic, announcements, claim
the room for the teachers: ``CLAIM``), the
right-click menu on a nick (private message, mute for N minutes, remove, ban, voice,
helper) and on a message (delete it: its author and operators). Each action is also a
typed command (``gui.commands``) and is one IRC line the server checks (RFC 2812 modes,
and Charla's ``TBAN``/``TQUIET`` for timed bans and mutes): the window only offers what
the user may do, the server decides.

For everybody: why a message was refused (``refusal_reason``); the channel's modes and
each change of them as a sentence come from ``net.room_words``, shared with ``nc`` users.

Threading: Tk main thread only (menus, dialogs); the sentence functions are pure.
"""

from __future__ import annotations

import re
import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gui.asking import ask_line
from net.i18n import tr
from net.protocol import InvalidMessageError, fold_name, irc_lower

# ``window`` below is a gui.app.ChatWindow (not imported: app imports this module).
Window = Any

#: the times the nick menu offers for a mute or a ban, in minutes (0: until lifted)
MUTE_MINUTES = (5, 15, 60, 0)
BAN_MINUTES = (60, 0)
#: slow mode choices in the Clase menu, in seconds (the server takes 1..3600)
SLOW_SECONDS = (5, 10, 30, 60, 300)
MAX_SLOW_SECONDS = 3600
#: a timed ban or mute lasts at most a week (the server's TBAN/TQUIET limit: 604800 s)
MAX_MINUTES = 7 * 24 * 60


def mask_for(nick: str) -> str:
    """The ban or mute mask for one person: ``nick!*@*`` (the contract's bare-nick form)."""
    return f"{nick}!*@*"


_SLOW = re.compile(r"slow|lento", re.I)
_MUTED = re.compile(r"mute|quiet|silenc", re.I)
_MODERATED = re.compile(r"moderat|moderad", re.I)
_BANNED = re.compile(r"bann|vetad|prohibid", re.I)
_OUTSIDE = re.compile(r"external|not (?:on|in) |no estás|fuera", re.I)
_SECONDS = re.compile(r"\d+")
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")


def refusal_reason(server_text: str) -> str:
    """Why the server refused a message (its ``404`` text), in the user's language: the
    contract's reasons (slow mode with the seconds to wait, muted, moderated, banned, not
    in the channel), else the server's own words.

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> refusal_reason("Slow mode: wait 7 more seconds"), refusal_reason("No external messages")
    ('slow mode: wait 7 s before writing again', 'you are not in this room')
    >>> refusal_reason("You are muted in #general until 10:45")
    'you are muted in this room until 10:45'
    >>> refusal_reason("Estás silenciado en este canal durante 299 s más")
    'you are muted in this room for 5 minutes more'
    >>> refusal_reason("El canal está moderado: solo hablan el profesor y quienes tienen voz")
    'only the teacher and those with voice speak now'
    """
    if _SLOW.search(server_text):
        seconds = _SECONDS.search(server_text)
        if seconds:
            return tr("slow mode: wait {seconds} s before writing again").format(
                seconds=seconds.group(0)
            )
        return tr("slow mode: wait a little before writing again")
    if _MUTED.search(server_text):
        until = _CLOCK.search(server_text)
        if until:  # a timed mute: the reason says until when…
            return tr("you are muted in this room until {time}").format(time=until.group(0))
        seconds = _SECONDS.search(server_text)
        if seconds:  # …or for how long still (Charla: "for 299 s more")
            return tr("you are muted in this room for {time} more").format(
                time=_duration_text(int(seconds.group(0)))
            )
        return tr("you are muted in this room")
    if _MODERATED.search(server_text):
        return tr("only the teacher and those with voice speak now")
    if _BANNED.search(server_text):
        return tr("you are banned from this room")
    if _OUTSIDE.search(server_text):
        return tr("you are not in this room")
    return server_text or tr("the server refused it")


# -- the actions: one IRC line each (sent once registered; the server decides) --


def _duration_text(seconds: int) -> str:
    """``45 s``, ``1 minute``, ``5 minutes`` (rounded up), ``2 hours``."""
    if seconds < 60:
        return f"{seconds} s"
    return _minutes_text(-(-seconds // 60))


def _minutes_text(minutes: int) -> str:
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return tr("1 hour") if hours == 1 else tr("{count} hours").format(count=hours)
    return tr("1 minute") if minutes == 1 else tr("{count} minutes").format(count=minutes)


def kick(window: Window, channel: str, nick: str, reason: str = "") -> None:
    window.client.send_command("KICK", channel, nick, reason)


def mute(window: Window, channel: str, nick: str, minutes: int = 0) -> None:
    """Mute one person, until lifted or for ``minutes`` (``TQUIET``, seconds 1..604800)."""
    if minutes:
        seconds = str(min(minutes, MAX_MINUTES) * 60)
        window.client.send_command("TQUIET", channel, seconds, mask_for(nick))
    else:
        window.client.send_command("MODE", channel, "+q", mask_for(nick))


def unmute(window: Window, channel: str, nick: str) -> None:
    window.client.send_command("MODE", channel, "-q", mask_for(nick))


def ban(window: Window, channel: str, nick: str, minutes: int = 0, reason: str = "") -> None:
    """Ban one person (for ``minutes``, or until lifted) and remove them if they are in:
    a ban alone would leave them in the room, unable to speak but still reading."""
    if minutes:
        seconds = str(min(minutes, MAX_MINUTES) * 60)
        window.client.send_command("TBAN", channel, seconds, mask_for(nick))
    else:
        window.client.send_command("MODE", channel, "+b", mask_for(nick))
    members = window.members.get(irc_lower(channel), [])
    if any(fold_name(member) == fold_name(nick) for member in members):
        kick(window, channel, nick, reason or tr("banned"))


def unban(window: Window, channel: str, nick: str) -> None:
    window.client.send_command("MODE", channel, "-b", mask_for(nick))


def set_status(window: Window, channel: str, nick: str, mode: str, on: bool) -> None:
    """Give or take voice (``v``) or the helper role (channel operator, ``o``)."""
    window.client.send_command("MODE", channel, f"{'+' if on else '-'}{mode}", nick)


def set_flag(window: Window, channel: str, mode: str, on: bool) -> None:
    """``+m``/``-m`` (mute the class), ``+i``/``-i`` (lock the room)…"""
    window.client.send_command("MODE", channel, f"{'+' if on else '-'}{mode}")


def set_slow(window: Window, channel: str, seconds: int) -> None:
    """Slow mode: one message every ``seconds`` for those without voice; 0 turns it off."""
    if seconds:
        window.client.send_command("MODE", channel, "+S", str(min(seconds, MAX_SLOW_SECONDS)))
    else:
        window.client.send_command("MODE", channel, "-S")


def invite(window: Window, channel: str, nick: str) -> None:
    window.client.send_command("INVITE", nick, channel)


def claim(window: Window, channel: str, on: bool = True) -> None:
    """``CLAIM #chan``: the channel belongs to the teachers (``UNCLAIM``: given back). The
    server answers 481 to anyone who is not a teacher, and tells the channel in words."""
    window.client.send_command("CLAIM" if on else "UNCLAIM", channel)


#: an announcement longer than this goes through ``send_text``, which refuses it in words
#: (``gui.app.MAX_MESSAGE_CHARS``)
MAX_ANNOUNCEMENT_CHARS = 4000


def announce(window: Window, text: str) -> list[str]:
    """An announcement: for now a ``NOTICE`` to each channel we are in (announcements of
    their own are not designed yet). Returns the channels it went to.

    Where we are an operator, our own window shows it as the banner the students see
    (``gui.received`` shows an operator's notice so); the server's refusal, if any, is
    still said (``on_refused`` for a line not pending). Elsewhere it is sent as a line
    that shows *sending…*, then struck with the server's reason."""
    channels = [window.names[key] for key in window.members if key not in window.left]
    heading = tr("Announcement from {nick}").format(nick=window.client.nick)
    for channel in channels:
        if window.is_operator(channel) and len(text) <= MAX_ANNOUNCEMENT_CHARS:
            if window.client.notice(channel, text):
                view = window.view_for(channel)
                view.add_announcement(datetime.now().astimezone(), text, heading=heading)
        else:
            window.send_text(channel, text, action=False, notice=True)
    return channels


def delete_message(window: Window, target: str, msgid: str) -> None:
    """``REDACT`` (IRCv3 message redaction): the server removes it for everyone; a long
    message, sent as several lines, line by line, or its end would stay in the history."""
    for piece in window.view_for(target).pieces_of(msgid):
        window.client.send_command("REDACT", target, piece, "")


# -- menus --


def ask(window: Window, title: str, prompt: str, initial: str = "") -> str | None:
    """A one-line question in a small dialog; None when cancelled."""
    answer = ask_line(window.root, title, prompt, initial)
    return None if answer is None else answer.strip()


def _guarded(window: Window, action, *args) -> None:
    """Run an action; a name or text no line can carry is said so, not raised into Tk."""
    try:
        action(window, *args)
    except InvalidMessageError:
        window.view_for(window.current_name()).add_system(
            datetime.now().astimezone(),
            tr(
                "That cannot be sent as it is: it has a character or a name "
                "that a chat cannot carry."
            ),
        )


class ClassMenu:
    """The **Clase** menu in the menu bar: there only while the user is an operator of the
    channel on show (``refresh``), and its check marks follow the channel's modes."""

    def __init__(self, window: Window, menubar: tk.Menu) -> None:
        self.window = window
        self.menubar = menubar
        self.shown = False
        self.muted = tk.BooleanVar(master=window.root, value=False)
        self.locked = tk.BooleanVar(master=window.root, value=False)
        self.slow = tk.IntVar(master=window.root, value=0)
        menu = self.menu = tk.Menu(menubar, tearoff=False)
        menu.add_checkbutton(
            label=tr("Mute the class (only the teacher speaks)"),
            variable=self.muted,
            command=lambda: self._flag("m", self.muted.get()),
        )
        slow = tk.Menu(menu, tearoff=False)
        slow.add_radiobutton(label=tr("Off"), variable=self.slow, value=0, command=self._slow)
        for seconds in SLOW_SECONDS:
            slow.add_radiobutton(
                label=tr("One message every {seconds} s").format(seconds=seconds),
                variable=self.slow,
                value=seconds,
                command=self._slow,
            )
        slow.add_command(label=tr("Other time…"), command=self._slow_other)
        menu.add_cascade(label=tr("Slow mode"), menu=slow)
        menu.add_separator()
        menu.add_checkbutton(
            label=tr("Lock the room (only those invited)"),
            variable=self.locked,
            command=lambda: self._flag("i", self.locked.get()),
        )
        menu.add_command(label=tr("Invite someone…"), command=self._invite)
        menu.add_separator()
        menu.add_command(label=tr("Set the topic…"), command=self._topic)
        menu.add_command(label=tr("Clear the topic"), command=self._clear_topic)
        menu.add_separator()
        menu.add_command(label=tr("Announce to everyone…"), command=self._announce)
        menu.add_separator()
        menu.add_command(label=tr("Claim the room"), command=self._claim)

    def refresh(self) -> None:
        """Show the menu only to an operator of the channel on show; tick what is on."""
        window = self.window
        channel = window.current_name()
        allowed = window.is_operator(channel)
        if allowed and not self.shown:
            self.menubar.add_cascade(label=tr("Class"), menu=self.menu)
        elif not allowed and self.shown:
            self.menubar.delete(tr("Class"))
        self.shown = allowed
        modes = window.channel_modes.get(irc_lower(channel), {})
        self.muted.set("m" in modes)
        self.locked.set("i" in modes)
        self.slow.set(int(modes["S"]) if modes.get("S", "").isdigit() else 0)

    def _flag(self, mode: str, on: bool) -> None:
        _guarded(self.window, set_flag, self.window.current_name(), mode, on)

    def _slow(self) -> None:
        _guarded(self.window, set_slow, self.window.current_name(), self.slow.get())

    def _slow_other(self) -> None:
        answer = ask(
            self.window,
            tr("Slow mode"),
            tr("Seconds between two messages of each student (1 to {most}):").format(
                most=MAX_SLOW_SECONDS
            ),
        )
        if answer and answer.isdigit() and 0 < int(answer) <= MAX_SLOW_SECONDS:
            _guarded(self.window, set_slow, self.window.current_name(), int(answer))

    def _invite(self) -> None:
        nick = ask(self.window, tr("Invite someone"), tr("Nickname of the person to invite:"))
        if nick:
            _guarded(self.window, invite, self.window.current_name(), nick.split()[0])

    def _topic(self) -> None:
        window = self.window
        topic = ask(window, tr("Topic"), tr("The room's topic:"), window.topic.cget("text"))
        if topic is not None:
            _guarded(window, lambda w, c, t: w.client.set_topic(c, t), window.current_name(), topic)

    def _clear_topic(self) -> None:
        window = self.window
        _guarded(window, lambda w, c: w.client.set_topic(c, ""), window.current_name())

    def _claim(self) -> None:
        _guarded(self.window, claim, self.window.current_name())

    def _announce(self) -> None:
        text = ask(self.window, tr("Announcement"), tr("What everyone should read:"))
        if text:
            _guarded(self.window, announce, text)


def _timed_menu(
    parent: tk.Menu,
    choices: tuple[int, ...],
    until_lifted: str,
    window: Window,
    action: Callable[..., None],
    channel: str,
    nick: str,
) -> tk.Menu:
    """A submenu of durations for a mute or a ban: "For 5 minutes"…, and ``until_lifted``
    for 0 (until the teacher lifts it)."""
    submenu = tk.Menu(parent, tearoff=False)
    for minutes in choices:
        label = tr("For {time}").format(time=_minutes_text(minutes)) if minutes else until_lifted
        submenu.add_command(
            label=label, command=lambda m=minutes: _guarded(window, action, channel, nick, m)
        )
    return submenu


def nick_menu(window: Window, nick: str) -> tk.Menu:
    """The right-click menu on a nick in the list: a private message for anyone; for an
    operator of the channel on show, mute, remove, ban, voice and helper too."""
    channel = window.current_name()
    menu = tk.Menu(window.root, tearoff=False)
    menu.add_command(label=tr("Private message"), command=lambda: window.open_conversation(nick))
    if not window.is_operator(channel) or fold_name(nick) == fold_name(window.client.nick):
        return menu
    status = window.statuses.get(irc_lower(channel), {}).get(fold_name(nick), "")
    menu.add_separator()
    menu.add_cascade(
        label=tr("Mute"),
        menu=_timed_menu(
            menu, MUTE_MINUTES, tr("Until I unmute them"), window, mute, channel, nick
        ),
    )
    menu.add_command(label=tr("Unmute"), command=lambda: _guarded(window, unmute, channel, nick))
    menu.add_separator()
    menu.add_command(label=tr("Remove from the room…"), command=lambda: _kick_asking(window, nick))
    menu.add_cascade(
        label=tr("Ban"),
        menu=_timed_menu(menu, BAN_MINUTES, tr("Until I lift the ban"), window, ban, channel, nick),
    )
    menu.add_command(
        label=tr("Lift the ban"), command=lambda: _guarded(window, unban, channel, nick)
    )
    menu.add_separator()
    voiced, helper = "v" in status, "o" in status
    menu.add_command(
        label=tr("Take voice away") if voiced else tr("Give voice"),
        command=lambda: _guarded(window, set_status, channel, nick, "v", not voiced),
    )
    menu.add_command(
        label=tr("Take helper role away") if helper else tr("Make helper"),
        command=lambda: _guarded(window, set_status, channel, nick, "o", not helper),
    )
    return menu


def _kick_asking(window: Window, nick: str) -> None:
    channel = window.current_name()
    reason = ask(window, tr("Remove from the room"), tr("Why (they will read it; may be empty):"))
    if reason is not None:
        _guarded(window, kick, channel, nick, reason)


def add_delete_item(window: Window, menu: tk.Menu, target: str, msgid: str, author: str) -> None:
    """The right-click menu on a message: delete it, for its author and for operators of
    the channel (nothing is added when the user may not)."""
    mine = fold_name(author) == fold_name(window.client.nick)
    if not msgid or not (mine or window.is_operator(target)):
        return
    if menu.index("end") is not None:  # after the replies and reactions
        menu.add_separator()
    menu.add_command(
        label=tr("Delete this message"),
        command=lambda: _guarded(window, delete_message, target, msgid),
    )
