"""Messages as a person reads them: ``[10:42] ana: hola``, and the history replay around them.

Two kinds of client show kept messages as text rather than as IRC: a person at ``nc``
(``net.plain_session``) and an IRC client that did not negotiate ``batch``
(``net.irc_session`` sends each line as a NOTICE from the server). Both take their text
from here, so a replay reads the same everywhere.

Threading: pure functions of their arguments (and the translation catalog), safe on any
thread; the sessions call them while ``net.state.Rooms`` holds its lock, so nothing here
blocks.
"""

from __future__ import annotations

import re
import time

from net.i18n import tr
from net.outgoing import Outgoing
from net.protocol import CHANTYPES, printable

#: IRC text formatting (bold, colours, …) that would show as garbage in a terminal
FORMATTING = re.compile(r"\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")


#: a run of spaces long enough to push what follows onto a terminal row of its own, where
#: it could pass for a line of the server's
_PADDING = re.compile(r"\s{4,}")


def plain_text(text: str) -> str:
    """Someone's ``text`` for a terminal: no IRC formatting codes, no controls (made
    visible), no padding that would wrap a fake line onto a row of its own.

    >>> plain_text("\\x02bold\\x02 and \\x0304red\\x03")
    'bold and red'
    >>> plain_text("hola" + " " * 200 + "*** ANNOUNCEMENT: \\x1b[1mdadme la contraseña")
    'hola *** ANNOUNCEMENT: ␛[1mdadme la contraseña'
    """
    return _PADDING.sub(" ", printable(FORMATTING.sub("", text)))


def chat_line(out: Outgoing, stamp: str) -> str | None:
    """A PRIVMSG or NOTICE as a person reads it: ``[10:42] ana: hola`` (None: not for people)."""
    message = out.message
    if message.command not in ("PRIVMSG", "NOTICE") or len(message.params) < 2:
        return None  # a kept reaction (TAGMSG) is for programs that show them
    who = message.source_nick or ""
    raw = message.params[-1]
    text = plain_text(raw)
    if message.command == "NOTICE" and "!" not in (message.source or ""):
        return tr("{time} *** ANNOUNCEMENT: {text}").format(time=stamp, text=text)
    if raw.startswith("\x01ACTION ") and raw.endswith("\x01"):
        return f"{stamp} * {who} {plain_text(raw[8:-1])}"
    if raw.startswith("\x01"):
        return None  # other CTCP requests mean nothing to a person
    if message.params[0][:1] not in CHANTYPES:
        return tr("{time} (private) {nick}: {text}").format(time=stamp, nick=who, text=text)
    if message.command == "NOTICE":
        return f"{stamp} -{who}- {text}"
    return f"{stamp} {who}: {text}"


def history_line(out: Outgoing) -> str | None:
    """A kept message with its original time; the date too when it is not from today."""
    when = time.localtime(out.time)
    same_day = time.strftime("%Y%m%d", when) == time.strftime("%Y%m%d")
    return chat_line(out, time.strftime("[%H:%M]" if same_day else "[%d/%m %H:%M]", when))


def history_lines(recent: list[Outgoing]) -> list[str]:
    """The kept messages a person can read, oldest first (CTCP requests left out)."""
    return [text for out in recent if (text := history_line(out))]


def irc_history(channel_name: str, lines: list[str]) -> list[str]:
    """``lines`` framed for an IRC client: ``--- History of #x: the last 2 messages ---``…"""
    heading = (
        tr("History of {channel}: the last message")
        if len(lines) == 1
        else tr("History of {channel}: the last {count} messages")
    ).format(channel=channel_name, count=len(lines))
    return [f"--- {heading} ---", *lines, "--- " + tr("End of the history") + " ---"]


def plain_history(lines: list[str]) -> list[str]:
    """``lines`` framed for a person at ``nc``: ``*** The last 2 messages:``…"""
    heading = (
        tr("The last message:")
        if len(lines) == 1
        else tr("The last {count} messages:").format(count=len(lines))
    )
    return ["*** " + heading, *lines, "*** " + tr("End of the history.")]
