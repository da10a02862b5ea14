"""IRCv3 ``draft/chathistory``: what a ``CHATHISTORY`` request asks for, and what it gets.

The server keeps each channel's messages (``net.history.ChannelHistory``, in time order)
and, here, the private conversations (``PrivateHistory``). This module reads a request's
references and picks the messages, as the specification says:

- a reference is ``msgid=<id>``, ``timestamp=<YYYY-MM-DDThh:mm:ss.sssZ>`` or, for
  ``LATEST`` only, ``*``; ``parse_reference`` checks it (``BadRequest`` otherwise);
- ``select`` takes the messages of one target, oldest first, and returns, oldest first,
  at most ``limit`` of them: ``BEFORE`` (the newest before the reference), ``AFTER`` (the
  oldest after it), ``LATEST`` (the newest, after the reference if there is one),
  ``AROUND`` (half before, half from it), ``BETWEEN`` (counted from the first reference
  towards the second, both excluded, in either order). A msgid that is not kept (deleted,
  forgotten, never said) selects nothing: an empty batch, as the specification allows.

Reactions (``TAGMSG`` with ``+draft/react`` on a message's ``+draft/reply``) are kept in
a channel's history, so that a late joiner sees the counts; ``reaction_of`` reads one.

Private conversations are kept only in memory (a restart forgets them), at most
``PRIVATE_HISTORY_MEMORY`` bytes for all of them, the oldest forgotten first. Each end of
a conversation is an *identity* (``identity_of``): the account one logged in to, else
the Charla client's session alias (which survives its reconnects), else the connection
itself. A request for the conversation with ``ana`` gets the messages between the
requester's identity and whoever was called ``ana`` at the time: so someone who takes the
nick ``ana`` after she left reads nothing of hers, while the person she talked to still
reads their conversation.

Threading: ``PrivateHistory`` is guarded by ``net.state.Rooms``' lock, like the channels'
history; the functions are pure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from net.outgoing import KeptMessage
from net.protocol import InvalidMessageError, irc_lower, parse

#: the most messages one request returns (ISUPPORT ``CHATHISTORY``); more is asked as pages
MAX_LIMIT = 100
#: the most conversations one ``TARGETS`` request lists
MAX_TARGETS = 100
#: what all private conversations together may take in memory, in bytes (as measured by
#: ``net.history.footprint``); past it the oldest messages are forgotten
PRIVATE_HISTORY_MEMORY = 8 * 2**20
SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")
#: the reaction tags of the IRCv3 ``react`` client tag specification (and its replies')
REACT_TAG = "+draft/react"
UNREACT_TAG = "+draft/unreact"  # not in the specification: what some clients send to undo one
REPLY_TAGS = ("+reply", "+draft/reply")
TYPING_TAG = "+typing"


class BadRequest(ValueError):
    """A reference or limit the specification does not allow (``FAIL … INVALID_PARAMS``)."""


@dataclass(frozen=True)
class Reference:
    """One end of a request: a ``msgid``, a ``time`` (seconds since the epoch), or neither
    (``*``: the newest end)."""

    msgid: str | None = None
    time: float | None = None


def parse_reference(text: str, *, star: bool = False) -> Reference:
    """``msgid=…`` / ``timestamp=…`` (``*`` too when ``star``).

    >>> parse_reference("timestamp=2026-12-05T10:42:00.500Z").time
    1796467320.5
    >>> parse_reference("msgid=s-1-2")
    Reference(msgid='s-1-2', time=None)
    """
    if text == "*" and star:
        return Reference()
    kind, _, value = text.partition("=")
    if kind == "msgid" and value and len(value) <= 200 and " " not in value:
        return Reference(msgid=value)
    if kind == "timestamp" and value.endswith("Z") and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc)
        except ValueError:
            raise BadRequest(text) from None
        return Reference(time=moment.timestamp())
    raise BadRequest(text)


def parse_limit(text: str) -> int:
    """A positive count, at most ``MAX_LIMIT`` (a larger one is cut to it)."""
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise BadRequest(text)
    return min(int(text), MAX_LIMIT)


def _cut(messages: Sequence[KeptMessage], times: list[float], ref: Reference) -> tuple[int, int]:
    """Where a reference falls: (end of what lies before it, start of what lies after it),
    as indexes into ``messages``; None-like (-1, -1) for a msgid that is not there."""
    if ref.time is not None:  # to the millisecond, as times are on the wire
        millis = [int(when * 1000) for when in times]
        at = round(ref.time * 1000)
        return bisect_left(millis, at), bisect_right(millis, at)
    if ref.msgid is None:  # "*": after everything
        return len(messages), len(messages)
    for index in range(len(messages) - 1, -1, -1):  # the newest first: usually asked for
        if messages[index].message.tags.get("msgid") == ref.msgid:
            return index, index + 1
    return -1, -1


def select(
    messages: Sequence[KeptMessage],
    subcommand: str,
    first: Reference,
    limit: int,
    second: Reference | None = None,
) -> list[KeptMessage]:
    """The messages a request gets (see the module docstring), oldest first."""
    times = [kept.time for kept in messages]
    before, after = _cut(messages, times, first)
    if before < 0:
        return []
    if subcommand == "BEFORE":
        return list(messages[max(0, before - limit) : before])
    if subcommand == "AFTER":
        return list(messages[after : after + limit])
    if subcommand == "LATEST":
        start = 0 if first == Reference() else after
        return list(messages[max(start, len(messages) - limit) :])
    if subcommand == "AROUND":
        earlier = limit // 2
        start = max(0, before - earlier)
        return list(messages[start : start + limit])
    if subcommand == "BETWEEN" and second is not None:
        other_before, other_after = _cut(messages, times, second)
        if other_before < 0:
            return []
        if before <= other_before:  # forwards: the oldest after the first reference
            return list(messages[after:other_before][:limit])
        return list(messages[other_after:before][-limit:])  # backwards: the newest
    raise BadRequest(subcommand)


def _client_tags(kept: KeptMessage) -> dict[str, str]:
    if not kept.client_tags:
        return {}
    try:
        return parse(f"@{kept.client_tags} TAGMSG").tags
    except (InvalidMessageError, ValueError):
        return {}


def reaction_of(kept: KeptMessage) -> tuple[str, str] | None:
    """(the msgid reacted to, the reaction) of a kept reaction, or None; worked out once
    per kept message (a reaction storm scans the channel's history for each reaction)."""
    found = kept.reaction
    if found is None:
        found = ()
        if kept.message.command == "TAGMSG":
            tags = _client_tags(kept)
            reaction = tags.get(REACT_TAG)
            target = next((tags[key] for key in REPLY_TAGS if tags.get(key)), None)
            if reaction and target:
                found = (target, reaction)
        kept.reaction = found
    return found or None


def keeps(tags: dict[str, str], command: str) -> bool:
    """Whether history keeps a relayed line: every message, and the reactions (a
    ``TAGMSG`` with ``+draft/react``), never typing notices or other tag-only lines."""
    return command != "TAGMSG" or bool(tags.get(REACT_TAG))


class HasIdentity(Protocol):
    """What ``identity_of`` reads of a session (``net.state.Session``)."""

    account: str | None
    alias: str  # a Charla client's session alias, or ""
    serial: int  # unique among the server's sessions


def identity_of(session: HasIdentity) -> str:
    """The identity that owns one end of a private conversation (module docstring)."""
    if session.account:
        return "a:" + irc_lower(session.account)
    if session.alias:
        return "s:" + session.alias
    return f"c:{session.serial}"


@dataclass
class PrivateLine:
    """One private message and its two ends: (identity, irc_lower(nick) at the time)."""

    sender: tuple[str, str]
    recipient: tuple[str, str]
    kept: KeptMessage
    cost: int


class PrivateHistory:
    """The private conversations' messages, in memory, oldest first (module docstring)."""

    def __init__(self, memory: int = PRIVATE_HISTORY_MEMORY) -> None:
        self.memory = memory
        self.held = 0
        self._lines: deque[PrivateLine] = deque()

    def record(
        self, sender: tuple[str, str], recipient: tuple[str, str], kept: KeptMessage, cost: int
    ) -> None:
        if cost > self.memory:
            return
        self._lines.append(PrivateLine(sender, recipient, kept, cost))
        self.held += cost
        while self.held > self.memory:
            self.held -= self._lines.popleft().cost

    def conversation(self, identity: str, nick: str) -> list[KeptMessage]:
        """Every kept message between ``identity`` and whoever was called ``nick``."""
        folded = irc_lower(nick)
        return [
            line.kept
            for line in self._lines
            if (line.sender[0] == identity and line.recipient[1] == folded)
            or (line.recipient[0] == identity and line.sender[1] == folded)
        ]

    def targets(self, identity: str) -> dict[str, float]:
        """irc_lower(nick) of each person ``identity`` talked with -> the time of the
        newest message between them."""
        found: dict[str, float] = {}
        for line in self._lines:
            if line.sender[0] == identity:
                found[line.recipient[1]] = line.kept.time
            elif line.recipient[0] == identity:
                found[line.sender[1]] = line.kept.time
        return found

    def forget(self, msgid: str) -> bool:
        """Delete one message (a REDACT of a private one); whether it was kept."""
        for line in self._lines:
            if line.kept.message.tags.get("msgid") == msgid:
                self._lines.remove(line)
                self.held -= line.cost
                return True
        return False
