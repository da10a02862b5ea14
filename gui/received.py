"""What the window shows for each event from the client: a table, event type -> function.

``EVENT_HANDLERS`` maps each ``net.events`` class to a function ``(window, event)`` that
puts it on screen (a line in a conversation, the nick list, the topic, the status line);
``show_event`` looks one up. Events with no entry (``Connecting``) show nothing. The
window (``gui.app.ChatWindow``) owns the widgets and the member lists; these functions
only read and update them, so each kind of event can be read in one place.

Threading: called by the window's pump on the Tk main thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gui.desktop import flash_taskbar
from net import events as ev
from net.i18n import tr
from net.protocol import fold_name, irc_lower

FOLDED_FROM_SYMBOLS = frozenset("{}|^")  # what irc_lower makes of [ ] \ ~

# ``window`` below is a gui.app.ChatWindow (not imported: app imports this module).
Window = Any


def error_text(code: str, server_text: str) -> str:
    """What the window says for one of the server's error numerics (else the server's text).

    >>> error_text("401", "No such nick") != "No such nick", error_text("999", "Odd")
    (True, 'Odd')
    """
    texts = {
        "401": tr("Nobody is connected with that name."),
        "403": tr("That channel does not exist."),
        "404": tr("You cannot write in that channel."),
        "405": tr("You cannot join more channels."),
        "417": tr("That message is too long."),
        "432": tr("That nickname is not valid."),
        "433": tr("That nickname is already in use."),
        "442": tr("You are not in that channel."),
        "464": tr("Wrong password."),
        "482": tr("Only the operator can do that."),
    }
    return texts.get(code, server_text)


def mentions(nick: str, text: str) -> bool:
    """Whether ``text`` contains ``nick``, compared as ``irc_lower`` folds names.

    >>> mentions("Lucía", "¿LUCÍA, vienes?"), mentions("[ana]", "hola {ANA}"), mentions("ana", "x")
    (True, True, False)
    """
    me = fold_name(nick)
    if text.isascii() and FOLDED_FROM_SYMBOLS.isdisjoint(me):
        # The same answer without folding the whole text (a message's hot path): on
        # ASCII, irc_lower only lowers case and turns [ ] \ ~ into { } | ^, none of
        # which is in our nick.
        return me in text.lower()
    return me in irc_lower(text)


def on_chat_message(window: Window, event: ev.ChatMessage) -> None:
    name = event.sender if event.private and not event.own else event.target
    key = fold_name(name)
    view = window.views.get(key) or window.view_for(name)
    if event.history:
        window.replaying.add(key)
    elif key in window.replaying:  # history is over: live from here
        window.replaying.discard(key)
        view.add_marker(tr("new messages"))
    mention = not event.own and mentions(window.client.nick, event.text)
    view.add_message(
        event.time,
        event.sender,
        event.text,
        own=event.own,
        action=event.kind == "action",
        highlight=mention or event.private,
        history=event.history,
    )
    if mention or event.private:
        window.root.bell()
        if not window.focused:
            flash_taskbar(window.root)
    window.count_unread(name, key)


def on_delivered(window: Window, event: ev.Delivered) -> None:
    key = window.pending.pop(event.message_id, None)
    if key in window.views:
        window.views[key].mark_delivered(event.message_id)


def on_announcement(window: Window, event: ev.Announcement) -> None:
    window.view_for(window.current_name()).add_announcement(event.time, event.text)
    window.root.bell()


def on_names(window: Window, event: ev.Names) -> None:
    window.members[irc_lower(event.channel)] = list(event.nicks)
    window.refresh_members(event.channel)


def on_joined(window: Window, event: ev.Joined) -> None:
    window.set_member(event.channel, event.nick, present=True)
    text = tr("You joined {channel}") if event.me else tr("{nick} joined")
    window.view_for(event.channel).add_system(
        _now(), text.format(nick=event.nick, channel=event.channel)
    )


def on_parted(window: Window, event: ev.Parted) -> None:
    window.set_member(event.channel, event.nick, present=False)
    window.view_for(event.channel).add_system(_now(), tr("{nick} left").format(nick=event.nick))


def on_kicked(window: Window, event: ev.Kicked) -> None:
    window.set_member(event.channel, event.nick, present=False)
    window.view_for(event.channel).add_system(
        _now(), tr("{nick} was removed ({reason})").format(nick=event.nick, reason=event.reason)
    )


def on_user_quit(window: Window, event: ev.UserQuit) -> None:
    now = _now()
    for key, nicks in window.members.items():
        if event.nick in nicks:
            window.set_member(window.names.get(key, key), event.nick, present=False)
            window.views[key].add_system(now, tr("{nick} left").format(nick=event.nick))


def on_nick_changed(window: Window, event: ev.NickChanged) -> None:
    now = _now()
    for key, nicks in window.members.items():
        if event.old in nicks:
            nicks[nicks.index(event.old)] = event.new
            window.views[key].add_system(
                now, tr("{old} is now {new}").format(old=event.old, new=event.new)
            )
            window.refresh_members(window.names.get(key, key))
    if event.me:
        window.connected_as(event.new)


def on_topic(window: Window, event: ev.Topic) -> None:
    if irc_lower(event.channel) == window.current_key:
        window.topic.configure(text=event.topic)
    if event.changed:
        window.view_for(event.channel).add_system(
            _now(), tr("{nick} set the topic: {topic}").format(nick=event.by, topic=event.topic)
        )


def on_registered(window: Window, event: ev.Registered) -> None:
    window.connected_as(event.nick)


def on_disconnected(window: Window, event: ev.Disconnected) -> None:
    window.connection_text = tr("Reconnecting… attempt {attempt} in {seconds} s").format(
        attempt=event.attempt, seconds=max(1, round(event.retry_in or 0))
    )
    window.show_status()


def on_outbox_changed(window: Window, event: ev.OutboxChanged) -> None:
    window.waiting = event.pending
    window.show_status()


def on_server_error(window: Window, event: ev.ServerError) -> None:
    text = error_text(event.code, event.text)
    if event.fallback:  # logging in under another nick: say which, and why
        text = tr("{reason} You are {nick} on this server.").format(
            reason=text, nick=event.fallback
        )
    window.view_for(window.current_name()).add_system(_now(), text)


def on_closed(window: Window, event: ev.Closed) -> None:
    window.connection_text = tr("Disconnected: {reason}").format(reason=event.reason)
    window.show_status()


def _now() -> datetime:
    return datetime.now().astimezone()


#: event class -> what the window does with it
EVENT_HANDLERS: dict[type, Callable[[Window, Any], None]] = {
    ev.ChatMessage: on_chat_message,
    ev.Delivered: on_delivered,
    ev.Announcement: on_announcement,
    ev.Names: on_names,
    ev.Joined: on_joined,
    ev.Parted: on_parted,
    ev.Kicked: on_kicked,
    ev.UserQuit: on_user_quit,
    ev.NickChanged: on_nick_changed,
    ev.Topic: on_topic,
    ev.Registered: on_registered,
    ev.Disconnected: on_disconnected,
    ev.OutboxChanged: on_outbox_changed,
    ev.ServerError: on_server_error,
    ev.Closed: on_closed,
}


def show_event(window: Window, event: ev.Event) -> None:
    """Put one event from the client on screen (nothing for an event with no handler)."""
    handler = EVENT_HANDLERS.get(type(event))
    if handler is not None:
        handler(window, event)
