"""A message in flight: one ``Outgoing`` is relayed to many sessions and kept in history.

The server builds one ``Outgoing`` per message it relays; each recipient asks it for the
wire form its client negotiated (with or without the ``time`` and client-only tags), and
each form is formatted at most once, however many recipients share it. History keeps a
lean copy of it (``kept()``: a ``KeptMessage``, without the cached forms, its client tags
held as one string), so a replay knows each message's original time and a kept message
costs about its text, its tags and a fixed overhead (``net.history`` counts it so).

Threading: an ``Outgoing`` is made by one thread and then read by many (under
``net.state.Rooms``' lock while relaying, or from history). The cache of wire forms may be
filled by two threads at once; both compute the same bytes, so either result is right. A
``KeptMessage`` is never changed once made.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from net.protocol import Message

#: the tags a kept message keeps in its ``Message``; the others (client-only tags) are held
#: as one formatted string
KEPT_TAGS = frozenset({"msgid"})


def server_time_tag(timestamp: float) -> str:
    """IRCv3 ``server-time`` value.

    >>> server_time_tag(1_700_000_000.1234)
    '2023-11-14T22:13:20.123Z'
    """
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Outgoing:
    """A message on its way to many sessions; each wire form is formatted at most once.

    The message's own tags are client-only tags (``+name``) and its ``msgid``, sent only
    to clients that negotiated ``message-tags``; ``server-time`` clients also get the
    ``time`` tag.
    """

    __slots__ = ("_wires", "message", "time")

    def __init__(self, message: Message, timestamp: float | None = None) -> None:
        self.message = message
        self.time = time.time() if timestamp is None else timestamp
        self._wires: dict[tuple[bool, bool], bytes] = {}  # (server_time, message_tags) -> line

    def wire(self, server_time: bool = False, message_tags: bool = False) -> bytes:
        key = (server_time, message_tags)
        line = self._wires.get(key)
        if line is None:
            tags = dict(self.message.tags) if message_tags else {}
            if server_time:
                tags["time"] = server_time_tag(self.time)
            message = self.message
            line = Message(message.command, message.params, message.source, tags).to_bytes()
            self._wires[key] = line
        return line

    def replayed(self, batch: str, server_time: bool, message_tags: bool) -> bytes:
        """This message as part of a history batch (not cached: each replay is its own)."""
        tags = {"batch": batch, **(self.message.tags if message_tags else {})}
        if server_time:
            tags["time"] = server_time_tag(self.time)
        message = self.message
        return Message(message.command, message.params, message.source, tags).to_bytes()

    def kept(self) -> KeptMessage:
        """The copy history keeps: the same message and time, no cached wire forms, and the
        client-only tags as the one string they are on the wire (a dict of hundreds of
        small tags would cost twenty times its text). Raises ``InvalidMessageError`` if
        the tags cannot be formatted (what arrives is checked, so that is a bug)."""
        message = self.message
        if KEPT_TAGS.issuperset(message.tags):  # most messages: the Message itself is lean
            return KeptMessage(message, self.time)
        own = {key: value for key, value in message.tags.items() if key in KEPT_TAGS}
        others = {key: value for key, value in message.tags.items() if key not in KEPT_TAGS}
        lean = Message(message.command, message.params, message.source, own)
        return KeptMessage(lean, self.time, _tag_text(others))


class KeptMessage(Outgoing):
    """A message as history keeps it (see ``Outgoing.kept``): ``message`` holds only the
    ``KEPT_TAGS``; ``client_tags`` is the rest of its tag section, formatted (``+a;+b=1``),
    or "". Nothing is cached: a kept message is only replayed, each replay its own."""

    __slots__ = ("client_tags", "cost", "reaction")

    def __init__(self, message: Message, timestamp: float, client_tags: str = "") -> None:
        # no Outgoing.__init__: a kept message has no cache of wire forms (the slot stays empty)
        self.message = message
        self.time = timestamp
        self.client_tags = client_tags
        #: what history counts it as, in bytes (``net.history.footprint``, worked out once
        #: when it is kept, so forgetting it does not measure it again)
        self.cost = 0
        #: what ``net.chathistory.reaction_of`` found it to be, once asked: (msgid,
        #: reaction), () for no reaction, None before (scans of history stay cheap)
        self.reaction: tuple[str, str] | tuple[()] | None = None

    def wire(self, server_time: bool = False, message_tags: bool = False) -> bytes:
        return self._formatted({}, server_time, message_tags)

    def replayed(self, batch: str, server_time: bool, message_tags: bool) -> bytes:
        return self._formatted({"batch": batch}, server_time, message_tags)

    def _formatted(self, tags: dict[str, str], server_time: bool, message_tags: bool) -> bytes:
        message = self.message
        if message_tags:
            tags.update(message.tags)
        if server_time:
            tags["time"] = server_time_tag(self.time)
        line = Message(message.command, message.params, message.source, tags).format()
        if message_tags and self.client_tags:  # the client tags first, as they were kept
            line = f"@{self.client_tags};{line[1:]}" if tags else f"@{self.client_tags} {line}"
        return (line + "\r\n").encode("utf-8")


def _tag_text(tags: dict[str, str]) -> str:
    """``tags`` as a tag section without its ``@``, escaped as ``Message.format`` does it.

    >>> _tag_text({"+a": "", "+b": "x y"})
    '+a;+b=x\\\\sy'
    """
    return Message("TAGMSG", [], None, tags).format().partition(" ")[0][1:]
