"""A message in flight: one ``Outgoing`` is relayed to many sessions and kept in history.

The server builds one ``Outgoing`` per message it relays; each recipient asks it for the
wire form its client negotiated (with or without the ``time`` and client-only tags), and
each form is formatted at most once, however many recipients share it. History keeps the
same objects, so a replay knows each message's original time.

Threading: an ``Outgoing`` is made by one thread and then read by many (under
``net.state.Rooms``' lock while relaying, or from history). The cache of wire forms may be
filled by two threads at once; both compute the same bytes, so either result is right.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from net.protocol import Message


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
