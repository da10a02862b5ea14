"""What the window shows for each event from the client: a table, event type -> function.

``EVENT_HANDLERS`` maps each ``net.events`` class to a function ``(window, event)`` that
puts it on screen (a line in a conversation, the nick list, the topic, the status line);
``show_event`` looks one up. Events with no entry show nothing. The
window (``gui.app.ChatWindow``) owns the widgets and the member lists; these functions
only read and update them, so each kind of event can be read in one place.

Threading: called by the window's pump on the Tk main thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gui import classroom, comings, tabs
from gui.attention import mentions
from net import events as ev
from net.i18n import tr
from net.network import ServerAddress
from net.protocol import fold_name, irc_lower
from net.room_words import mode_sentence, state_sentences, status_sentence

CHANNEL_PREFIXES = "#&+!"  # as gui.app's (which imports this module)
#: the longest "You joined #x" waits for the channel's replay, should the server never
#: answer the MODE query the client sends right after joining (see ``on_joined``)
JOINED_LINE_WAIT_MS = 3000
#: the server's password (464) or the account's (SASL 902/904/905) was refused
WRONG_PASSWORD = frozenset({"464", "902", "904", "905"})

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
        "441": tr("That person is not in this room."),
        "442": tr("You are not in that channel."),
        "443": tr("That person is already in the room."),
        "464": tr("Wrong password."),
        "471": tr("The room is full: you cannot come in now."),
        "473": tr("The room is locked: only those invited can come in. Ask the teacher."),
        "474": tr("You are banned from this room: you cannot come back in."),
        "475": tr("This room has a password, and it was not the right one."),
        "481": tr("Only a teacher can do that."),
        "482": tr("Only the teacher or a helper of this room can do that."),
        "902": tr("That account is locked."),
        "904": tr("Wrong account password."),
        "905": tr("That password is too long."),
        "906": tr("The login was cancelled."),
        "FAIL REDACT REDACT_FORBIDDEN": tr("Only its author or a teacher can delete that message."),
        "FAIL REDACT UNKNOWN_MSGID": tr("That message cannot be deleted any more."),
    }
    return texts.get(code, server_text)


def on_chat_message(window: Window, event: ev.ChatMessage) -> None:
    name = event.sender if event.private and not event.own else event.target
    key = fold_name(name)
    view = window.views.get(key) or window.view_for(name)
    if event.history:
        window.replaying.add(key)
    else:
        if window.joined_lines and not event.private:
            say_joined(window, event.target)  # live: any replay is over
        if key in window.replaying:  # history is over: live from here
            window.replaying.discard(key)
            view.add_marker(tr("new messages"))
    room_notice = event.kind == "notice" and not event.private and not event.history
    if room_notice and "o" in window.member_status(event.target, event.sender):
        # a teacher's (or helper's) notice to the room: an announcement, in its own tab
        view.add_announcement(
            event.time,
            event.text,
            heading=tr("Announcement from {nick}").format(nick=event.sender),
        )
        window.root.bell()
        window.count_unread(name, key)
        return
    mention = not event.own and mentions(window.client.nick, event.text)
    window.social.spoke(key, event.sender)
    view.add_message(
        event.time,
        event.sender,
        event.text,
        own=event.own,
        action=event.kind == "action",
        highlight=mention or event.private,
        history=event.history,
        msgid=event.msgid,
        more_msgids=event.more_msgids,
        quote=window.social.quote_for(key, event.reply_to),
    )
    window.pictures.saw_message(view, event.text)  # a picture's link: its thumbnail below
    if event.poll and event.msgid:  # a teacher's quick poll: its options as chips, at zero
        window.social.saw_poll(key, event.msgid, event.text, event.poll)
    if mention or event.private:
        window.root.bell()
    # a line replayed from history (at a reconnect) was said before: it is not a new call
    window.count_unread(name, key, calling=(mention or event.private) and not event.history)


def on_motd(window: Window, event: ev.Motd) -> None:
    """The server's welcome: one folded line at the first login, and after a reconnect
    only if it changed."""
    text = "\n".join(event.lines)
    if text == window.motd:
        return
    window.motd = text
    title = tr("Welcome message from the server")
    window.view_for(window.current_name()).add_folded(_now(), title, text)


def on_delivered(window: Window, event: ev.Delivered) -> None:
    last = window.pieces.pop(event.message_id, None)
    if last is not None:  # an earlier line of a long message: its id, for deleting it all
        key = window.pending.get(last)
        if key in window.views:
            window.views[key].piece_delivered(last, event.msgid)
        return
    key = window.pending.pop(event.message_id, None)
    if key in window.views:
        window.views[key].mark_delivered(event.message_id, event.msgid)
        window.social.own_poll_delivered(event.message_id, event.msgid)


def on_refused(window: Window, event: ev.Refused) -> None:
    """A line we typed did not reach the room: it stays visible, struck, with the reason."""
    reason = classroom.refusal_reason(event.text)
    window.pieces.pop(event.message_id, None)
    key = window.pending.pop(event.message_id, None)
    view = window.views.get(key) if key else None
    if view is None or not view.mark_refused(event.message_id, reason):
        # Not the last piece of what was typed (a long message is sent in pieces): the
        # line on screen is marked when its last piece is answered; say it here too.
        window.view_for(event.target).add_system(
            _now(), tr("A message was not sent: {reason}.").format(reason=reason)
        )


def on_announcement(window: Window, event: ev.Announcement) -> None:
    """The server's own words: in the channel they were said in (kept in its history for
    latecomers), else in the conversation on show."""
    if event.target and not event.history:
        say_joined(window, event.target)  # live: any replay is over
    view = window.view_for(event.target or window.current_name())
    view.add_announcement(event.time, event.text)
    if not event.history:
        window.root.bell()
        if event.target:
            window.count_unread(event.target, fold_name(event.target))


def on_server_notice(window: Window, event: ev.ServerNotice) -> None:
    """The server's own chatter to us (not an announcement): a quiet line where we are."""
    window.view_for(window.current_name()).add_system(event.time, event.text)


def on_names(window: Window, event: ev.Names) -> None:
    key = irc_lower(event.channel)
    window.members[key] = list(event.nicks)
    window.statuses[key] = {
        fold_name(nick): status
        for nick, status in zip(event.nicks, event.statuses, strict=False)
        if status
    }
    window.refresh_members(event.channel)
    if key == window.current_key:
        window.class_menu.refresh()


def by_whom(window: Window, by: str) -> str:
    """Who did something, as a person reads it: a nick, or "The server" for the server's
    own name (a console kick, a timed mute that ran out, a teacher's automatic ``+o``)."""
    if not by or by == window.server_name or "." in by:
        return tr("The server")
    return by


def on_member_status(window: Window, event: ev.MemberStatus) -> None:
    window.set_status(event.channel, event.nick, event.mode, event.adding)
    me = fold_name(event.nick) == fold_name(window.client.nick)
    by = by_whom(window, event.by)
    if me and window.teacher and by_whom(window, "") == by:
        return  # a teacher is an operator wherever it goes: nothing to tell
    window.view_for(event.channel).add_system(
        _now(), member_status_sentence(event.mode, event.adding, event.nick, by, me)
    )


def member_status_sentence(mode: str, adding: bool, nick: str, by: str, me: bool) -> str:
    """A change of someone's status in words: Charla's ``o`` and ``v`` as the server's
    users read them (``net.room_words``); other servers' owner (``q``) and admin (``a``)
    as an operator's, their half operator (``h``, ☆) in words of its own.

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> member_status_sentence("h", True, "ana", "profe", False)
    'profe gave ana half-operator rights (☆).'
    """
    if mode != "h":
        return status_sentence("o" if mode in "qa" else mode, adding, nick, by, me)
    if me:
        return (
            tr("{by} gave you half-operator rights (☆) in this room.")
            if adding
            else tr("{by} took your half-operator rights away.")
        ).format(by=by)
    return (
        tr("{by} gave {nick} half-operator rights (☆).")
        if adding
        else tr("{by} took {nick}'s half-operator rights away.")
    ).format(by=by, nick=nick)


def on_mode_changed(window: Window, event: ev.ModeChanged) -> None:
    key = irc_lower(event.channel)
    modes = window.channel_modes.setdefault(key, {})
    if event.mode not in "bq":  # lists are not modes the room is in
        if event.adding:
            modes[event.mode] = event.param
        else:
            modes.pop(event.mode, None)
    sentence = mode_sentence(
        event.mode,
        event.adding,
        event.param,
        by_whom(window, event.by),
        window.client.nick,
        window.account,
        event.ends,
    )
    if sentence:
        window.view_for(event.channel).add_system(_now(), sentence)
    if key == window.current_key:
        window.class_menu.refresh()


def on_channel_modes(window: Window, event: ev.ChannelModes) -> None:
    """The modes of a channel we joined: what matters to a newcomer, in words."""
    say_joined(window, event.channel)  # the replay, if any, is over: see on_joined
    key = irc_lower(event.channel)
    modes = dict(event.modes)
    known = window.channel_modes.get(key)
    window.channel_modes[key] = modes
    if known != modes:
        for sentence in state_sentences(modes):
            window.view_for(event.channel).add_system(_now(), sentence)
    if key == window.current_key:
        window.class_menu.refresh()


def on_user_modes(window: Window, event: ev.UserModes) -> None:
    teacher = "o" in event.modes
    if teacher and not window.teacher:
        window.view_for(window.current_name()).add_system(
            _now(),
            tr("You are a teacher here: the Class menu and right-clicking a name moderate."),
        )
    window.teacher = teacher
    window.class_menu.refresh()


def on_redacted(window: Window, event: ev.Redacted) -> None:
    text = tr("message deleted by {nick}").format(nick=by_whom(window, event.by))
    if event.reason:
        text += f" ({event.reason})"
    view = window.views.get(fold_name(event.target))
    if view is not None:
        view.redact(event.msgid, text)


def on_invited(window: Window, event: ev.Invited) -> None:
    window.view_for(window.current_name()).add_system(
        _now(),
        tr("{nick} invites you to {channel}: type /unirse {channel}").format(
            nick=event.by, channel=event.channel
        ),
    )


def on_invite_sent(window: Window, event: ev.InviteSent) -> None:
    window.view_for(event.channel).add_system(
        _now(),
        tr("You invited {nick} to {channel}.").format(nick=event.nick, channel=event.channel),
    )


def on_login_needed(window: Window, event: ev.LoginNeeded) -> None:
    window.connection_text = tr("{nick} is a registered nickname: waiting for its password").format(
        nick=event.nick
    )
    window.show_status()
    # after the pump's tick: the question waits for the user, the pump must not
    window.root.after(0, window.ask_account_password, event.nick)


def on_certificate_untrusted(window: Window, event: ev.CertificateUntrusted) -> None:
    window.connection_text = tr("The certificate of {server} is not trusted: {reason}").format(
        server=event.key, reason=event.reason
    )
    window.show_status()
    # after the pump's tick: the question waits for the user, the pump must not
    window.root.after(0, window.ask_trust, event)


def on_logged_in(window: Window, event: ev.LoggedIn) -> None:
    if window.registered:  # a network's NickServ asked, in the middle of the conversation
        window.connected_as(window.client.nick)
    if window.account == event.account:
        return  # logged in again after a reconnect: nothing new to say
    window.account = event.account
    window.view_for(window.current_name()).add_system(
        _now(), tr("You are logged in to the account {account}.").format(account=event.account)
    )


def on_joined(window: Window, event: ev.Joined) -> None:
    if event.me:
        window.left.discard(irc_lower(event.channel))
        window.class_menu.refresh()
    window.set_member(event.channel, event.nick, present=True)
    if event.me:
        key = irc_lower(event.channel)
        text = tr("You joined {channel}")
        if key in window.rejoining:  # after a lost connection
            window.rejoining.discard(key)
            text = tr("Back in {channel}")
        # The channel's history is replayed after our JOIN, with older times: the line
        # waits below it, until the answer to the MODE query the client sends on joining
        # (which comes after all the server sent for the JOIN), or a live message.
        window.view_for(event.channel)  # the tab opens now
        window.joined_lines[key] = (_now(), text.format(channel=event.channel))
        window.root.after(JOINED_LINE_WAIT_MS, say_joined, window, event.channel)
    elif window.settings.comings:  # hidden from the View menu
        comings.said(window.view_for(event.channel), _now(), event.nick, joined=True)


def say_joined(window: Window, channel: str) -> None:
    """Show the "You joined" line held for ``channel`` by ``on_joined``, if any is due."""
    key = irc_lower(channel)
    due = window.joined_lines.pop(key, None)
    view = window.views.get(key)  # None: its tab was closed meanwhile, nothing to say
    if due is not None and view is not None and not window.closed:
        view.add_system(*due)


def on_parted(window: Window, event: ev.Parted) -> None:
    if event.me and irc_lower(event.channel) not in window.views:  # its tab was closed
        window.left.add(irc_lower(event.channel))
        return
    if event.me:
        _left(window, event.channel)
        window.view_for(event.channel).add_system(
            _now(), tr("You left {channel}.").format(channel=event.channel)
        )
        return
    window.set_member(event.channel, event.nick, present=False)
    if window.settings.comings:
        view = window.view_for(event.channel)
        comings.said(view, _now(), event.nick, joined=False, reason=event.reason)


def _left(window: Window, channel: str) -> None:
    """We are out of ``channel``: its list empties and nothing typed there is sent."""
    key = irc_lower(channel)
    window.left.add(key)
    window.members[key] = []
    window.statuses.pop(key, None)
    window.refresh_members(channel)
    window.class_menu.refresh()


def on_kicked(window: Window, event: ev.Kicked) -> None:
    """Someone was removed; if it was us, who did it and why, and the window stays out
    (``net.client_protocol`` does not rejoin a channel we were removed from)."""
    if event.me:
        _left(window, event.channel)
        text = (
            tr("{by} removed you from {channel}: {reason}")
            if event.reason and event.reason != event.by
            else tr("{by} removed you from {channel}.")
        )
        window.view_for(event.channel).add_system(
            _now(),
            text.format(by=by_whom(window, event.by), channel=event.channel, reason=event.reason),
        )
        window.root.bell()
        return
    window.set_member(event.channel, event.nick, present=False)
    text = (
        tr("{by} removed {nick}: {reason}")
        if event.reason and event.reason != event.by
        else tr("{by} removed {nick}.")
    )
    window.view_for(event.channel).add_system(
        _now(), text.format(by=by_whom(window, event.by), nick=event.nick, reason=event.reason)
    )


def on_away(window: Window, event: ev.Away) -> None:
    """Someone went away or came back: the nick list says "(ausente)"; a private message
    to them is answered once with their away message; our own change is confirmed."""
    key = fold_name(event.nick)
    if fold_name(window.client.nick) == key and not event.replying:
        text = tr("You are marked as away.") if event.away else tr("You are back.")
        window.view_for(window.current_name()).add_system(_now(), text)
    if event.replying:
        private = window.views.get(key)
        if private is not None and key not in window.away_told:  # once, not per line
            window.away_told.add(key)
            private.add_system(
                _now(),
                tr("{nick} is away: {message}").format(nick=event.nick, message=event.message),
            )
    if event.away:
        window.away[key] = event.message
    else:
        window.away.pop(key, None)
        window.away_told.discard(key)
    window.refresh_members(window.current_name())


def on_user_quit(window: Window, event: ev.UserQuit) -> None:
    window.away.pop(fold_name(event.nick), None)
    window.away_told.discard(fold_name(event.nick))
    now = _now()
    for key, nicks in window.members.items():
        if event.nick in nicks:
            window.set_member(window.names.get(key, key), event.nick, present=False)
            if window.settings.comings:
                comings.said(window.views[key], now, event.nick, False, event.reason)
    private = window.views.get(fold_name(event.nick))
    if private is not None and fold_name(event.nick) not in window.members:
        private.add_system(
            now,
            tr("{nick} has left the chat: what you write here will not reach them.").format(
                nick=event.nick
            ),
        )


def on_nick_changed(window: Window, event: ev.NickChanged) -> None:
    now = _now()
    if fold_name(event.old) in window.away:  # still away under the new name
        window.away[fold_name(event.new)] = window.away.pop(fold_name(event.old))
    tabs.follow_nick(window, event.old, event.new)  # a private tab goes on with the person
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
    window.topics[irc_lower(event.channel)] = event.topic
    window.show_topic()
    if event.changed:
        window.view_for(event.channel).add_system(
            _now(), tr("{nick} set the topic: {topic}").format(nick=event.by, topic=event.topic)
        )


def on_connecting(window: Window, event: ev.Connecting) -> None:
    window.registered = False
    if window.offline and len(window.client.servers) > 1:  # a network: say which server
        window.connection_text = tr("Connecting to {address} (attempt {attempt})…").format(
            address=ServerAddress(event.host, event.port), attempt=event.attempt
        )
        window.show_status()


def on_registered(window: Window, event: ev.Registered) -> None:
    window.registered = True
    window.server_name = event.server_name
    if window.offline:  # back after a lost connection: the channels say so as they rejoin
        window.offline = False
        window.nick_list.configure(foreground=window.theme.text)
        for key, view in window.views.items():
            if key[:1] not in CHANNEL_PREFIXES:
                view.add_system(_now(), tr("Connected again."))
    window.connected_as(event.nick)
    note = window.nick_note
    if note and fold_name(note[0]) == fold_name(event.nick):  # a stand-in nick: say whose
        window.connection_text += " · " + note[1]
        window.show_status()


def on_nick_refused(window: Window, event: ev.NickRefused) -> None:
    """Our own ``/apodo`` was refused: said at once, with the name we still have."""
    reason = (
        tr("the server does not accept that name")
        if event.code == "432"
        else tr("someone is already using it")
    )
    window.view_for(window.current_name()).add_system(
        _now(),
        tr("You cannot be called {asked}: {reason}. You are still {nick}.").format(
            asked=event.asked, reason=reason, nick=event.nick
        ),
    )


def on_disconnected(window: Window, event: ev.Disconnected) -> None:
    if window.server_name and not window.offline:  # lost, not a first try: say it once
        window.offline = True
        window.nick_list.configure(foreground=window.theme.muted)
        window.rejoining = {key for key in window.views if key[:1] in CHANNEL_PREFIXES}
        window.rejoining -= window.left
        for view in window.views.values():
            view.add_system(
                _now(),
                tr("Connection to the server lost ({reason})… reconnecting.").format(
                    reason=event.reason
                ),
            )
    window.connection_text = tr(
        "Not connected ({reason}). Attempt {attempt} in {seconds} s"
    ).format(reason=event.reason, attempt=event.attempt, seconds=max(1, round(event.retry_in or 0)))
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
        refused = event.text.partition(": ")[0]  # "ana: Nickname is already in use -> ana_"
        note = (
            tr("{nick} is not accepted here")
            if event.code == "432"
            else tr("{nick} was already in use")
        )
        window.nick_note = (event.fallback, note.format(nick=refused))
    if event.code == "404" and event.target:
        text = tr("Not sent to {channel}: {reason}.").format(
            channel=event.target, reason=classroom.refusal_reason(event.text.partition(" ")[2])
        )
    # in the conversation it is about, when we have one (a channel that refused us)
    about = fold_name(event.target) if event.target else ""
    view = window.views.get(about) or window.view_for(window.current_name())
    view.add_system(_now(), text)
    if event.code in WRONG_PASSWORD and not window.registered and window.back_to_dialog:
        # no retry can fix it: back to the dialog, which says why (after this tick)
        window.root.after(0, window.return_to_dialog, text)


def on_closed(window: Window, event: ev.Closed) -> None:
    window.connection_text = tr("Disconnected: {reason}").format(reason=event.reason)
    window.view_for(window.current_name()).add_system(_now(), window.connection_text)
    window.show_status()


def _now() -> datetime:
    return datetime.now().astimezone()


#: event class -> what the window does with it
EVENT_HANDLERS: dict[type, Callable[[Window, Any], None]] = {
    ev.UploadProgress: lambda window, event: window.pictures.on_progress(event),
    ev.UploadDone: lambda window, event: window.pictures.on_done(event),
    ev.UploadFailed: lambda window, event: window.pictures.on_failed(event),
    ev.FileFetched: lambda window, event: window.pictures.on_fetched(event),
    ev.ChatMessage: on_chat_message,
    ev.Reaction: lambda window, event: window.social.on_reaction(event),
    ev.Typing: lambda window, event: window.social.on_typing(event),
    ev.OlderMessages: lambda window, event: window.social.on_older(event),
    ev.Delivered: on_delivered,
    ev.Refused: on_refused,
    ev.MemberStatus: on_member_status,
    ev.ModeChanged: on_mode_changed,
    ev.ChannelModes: on_channel_modes,
    ev.UserModes: on_user_modes,
    ev.Redacted: on_redacted,
    ev.Invited: on_invited,
    ev.InviteSent: on_invite_sent,
    ev.LoginNeeded: on_login_needed,
    ev.CertificateUntrusted: on_certificate_untrusted,
    ev.LoggedIn: on_logged_in,
    ev.Announcement: on_announcement,
    ev.ServerNotice: on_server_notice,
    ev.Names: on_names,
    ev.Joined: on_joined,
    ev.Parted: on_parted,
    ev.Kicked: on_kicked,
    ev.UserQuit: on_user_quit,
    ev.Away: on_away,
    ev.NickChanged: on_nick_changed,
    ev.Topic: on_topic,
    ev.Connecting: on_connecting,
    ev.Registered: on_registered,
    ev.Motd: on_motd,
    ev.Disconnected: on_disconnected,
    ev.OutboxChanged: on_outbox_changed,
    ev.ServerError: on_server_error,
    ev.NickRefused: on_nick_refused,
    ev.Closed: on_closed,
}


def show_event(window: Window, event: ev.Event) -> None:
    """Put one event from the client on screen (nothing for an event with no handler)."""
    handler = EVENT_HANDLERS.get(type(event))
    if handler is not None:
        handler(window, event)
