"""What was said in each channel lately, to replay to whoever joins.

``ChannelHistory`` keeps the last ``size`` relayed messages of each channel in memory,
each with the server's time and ``msgid``. A client that negotiated ``batch`` gets them
on JOIN as an IRCv3 ``chathistory`` batch, and drops by ``msgid`` the ones it has already
shown, so a reconnect neither loses nor repeats a message.

Threading: no lock of its own; every call is made with ``ChatServer.lock`` held.
"""

from __future__ import annotations

from collections import deque

from net.session import Outgoing


class ChannelHistory:
    """The recent messages of every channel, oldest first, bounded per channel."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._channels: dict[str, deque[Outgoing]] = {}  # irc_lower(channel) -> messages

    def record(self, channel_key: str, out: Outgoing) -> None:
        if self.size <= 0:
            return
        messages = self._channels.get(channel_key)
        if messages is None:
            messages = self._channels[channel_key] = deque(maxlen=self.size)
        messages.append(out)

    def recent(self, channel_key: str, limit: int) -> list[Outgoing]:
        messages = self._channels.get(channel_key)
        if not messages or limit <= 0:
            return []
        return list(messages)[-limit:]

    def forget(self, channel_key: str) -> None:
        """The channel is gone (its last member left)."""
        self._channels.pop(channel_key, None)
