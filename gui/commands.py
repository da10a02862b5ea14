"""What the user typed, and doing it: a message, or a command in Spanish or English.

``parse_input`` turns a line into a ``Command`` (with its canonical English name) or a
plain ``Say``; an unknown command comes back with the closest known one as a hint.
``run_line`` carries a typed line out in the window: ``COMMANDS`` maps each canonical
name to a function ``(window, args, target)`` that does it in the conversation
``target`` and returns False when the command lacks what it needs (``/apodo`` alone).

Threading: ``parse_input`` is a pure function; everything runs on the Tk main thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gui import classroom, tabs
from net.i18n import tr
from net.protocol import InvalidMessageError, irc_lower, is_valid_nick, wire_number
from net.room_words import closest_command, teacher_help, teacher_names

# ``window`` below is a gui.app.ChatWindow (not imported: app imports this module).
Window = Any

#: every spelling a user may type -> the command's canonical name
ALIASES = {
    "/nick": "nick",
    "/apodo": "nick",
    "/me": "me",
    "/yo": "me",
    "/msg": "msg",
    "/privado": "msg",
    "/join": "join",
    "/unirse": "join",
    "/part": "part",
    "/dejar": "part",
    "/close": "close",
    "/cerrar": "close",
    "/topic": "topic",
    "/tema": "topic",
    "/users": "users",
    "/usuarios": "users",
    "/clear": "clear",
    "/save": "save",
    "/guardar": "save",
    "/limpiar": "clear",
    "/help": "help",
    "/ayuda": "help",
    "/quit": "quit",
    "/salir": "quit",
    "/away": "away",
    "/ausente": "away",
    # a channel operator's (the teacher's, a helper's): the one table both sides read
    **teacher_names(),
}
CHANNEL_PREFIXES = tabs.CHANNEL_PREFIXES
#: words that turn a mode off: ``/lento off``, ``/moderar no``
OFF_WORDS = frozenset({"off", "no", "0", "quitar", "fuera", "desactivar"})
#: words that close a poll: ``/encuesta cerrar``
CLOSE_WORDS = frozenset({"cerrar", "close", "fin", "end", "resultado", "result"})


@dataclass(frozen=True)
class Say:
    """Text to send to the current conversation."""

    text: str


@dataclass(frozen=True)
class Command:
    name: str  # canonical: "nick", "me", "msg", …
    args: str


@dataclass(frozen=True)
class CloseWord:
    """The word "close" alone: leave, once the user confirms."""


@dataclass(frozen=True)
class Unknown:
    typed: str
    suggestion: str  # the closest command, or ""


def parse_input(line: str) -> Say | Command | CloseWord | Unknown | None:
    """Classify one line from the entry; None for an empty one.

    >>> parse_input("/apodo Bego"), parse_input("close"), parse_input("//no es comando")
    (Command(name='nick', args='Bego'), CloseWord(), Say(text='/no es comando'))
    >>> parse_input("/usuraios")
    Unknown(typed='/usuraios', suggestion='/usuarios')
    """
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.lower() == "close":  # as in the programs Charla grew from: asks first, as
        return CloseWord()  # "Close" may be an answer in English class
    if stripped.startswith("//"):
        return Say(stripped[1:])
    if not stripped.startswith("/"):
        return Say(line.rstrip("\r\n"))
    word, _, rest = stripped.partition(" ")
    name = ALIASES.get(word.lower())
    if name is None:
        return Unknown(word, closest_command(word, ALIASES))
    return Command(name, rest.strip())


def run_line(window: Window, line: str) -> None:
    """Carry out one line typed in the entry, in the conversation on show; a line the
    client refuses to send (a NUL pasted in, a channel name with a comma) is said so."""
    target = window.current_name()
    try:
        _run(window, line, target)
    except InvalidMessageError:
        window.view_for(target).add_system(
            _now(),
            tr(
                "That cannot be sent as it is: it has a character or a name "
                "that a chat cannot carry."
            ),
        )


def _run(window: Window, line: str, target: str) -> None:
    parsed = parse_input(line)
    view = window.view_for(target)
    if isinstance(parsed, Say):
        window.send_text(target, parsed.text, action=False)
    elif isinstance(parsed, Unknown):
        hint = (
            tr("Did you mean {command}?").format(command=parsed.suggestion)
            if parsed.suggestion
            else ""
        )
        view.add_system(
            _now(),
            f"{tr('Unknown command {command}.').format(command=parsed.typed)} {hint} "
            + tr("Type /ayuda (/help) for the list."),
        )
    elif isinstance(parsed, CloseWord):
        window.request_close(confirm=True)
    elif isinstance(parsed, Command) and not COMMANDS[parsed.name](window, parsed.args, target):
        view.add_system(_now(), tr("Type /ayuda (/help) for the list."))


def change_nick(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if len(args.split()) > 1:  # "Lucía López": not the first word behind the user's back
        joined = "_".join(args.split())
        window.view_for(target).add_system(
            _now(),
            tr("A nickname cannot have spaces: try {nick}.").format(nick=joined)
            if is_valid_nick(joined)
            else tr("A nickname cannot have spaces."),
        )
        return True
    try:
        window.client.change_nick(args)
    except InvalidMessageError:  # not even sendable (":ana"): what the server would say
        window.view_for(target).add_system(_now(), tr("That nickname is not valid."))
    return True


def act(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    window.send_text(target, args, action=True)
    return True


def message_privately(window: Window, args: str, _target: str) -> bool:
    if len(args.split(maxsplit=1)) != 2:
        return False
    nick, text = args.split(maxsplit=1)
    window.open_conversation(nick)
    try:
        window.send_text(nick, text, action=False)
    except InvalidMessageError:  # not even sendable (":bea"): what the server would say
        window.view_for(nick).add_system(_now(), tr("Nobody is connected with that name."))
    return True


def join(window: Window, args: str, _target: str) -> bool:
    if not args:
        return False
    channel = args.split()[0]
    channel = channel if channel.startswith("#") else f"#{channel}"
    window.client.join(channel)
    window.open_conversation(channel)
    return True


def part(window: Window, args: str, target: str) -> bool:
    if not args and target[:1] not in CHANNEL_PREFIXES:  # a private tab: leaving closes it
        return close_tab(window, args, target)
    window.client.part(args or target)
    return True


def close_tab(window: Window, _args: str, target: str) -> bool:
    """``/cerrar``: close this tab (leaving the channel, if it is one)."""
    tabs.close_conversation(window, irc_lower(target))
    return True


def set_topic(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if target[:1] not in CHANNEL_PREFIXES:  # a private tab has no topic (not "no such channel")
        _in_channel(window, target)
        return True
    window.client.set_topic(target, args)
    return True


def list_users(window: Window, _args: str, target: str) -> bool:
    nicks = window.members.get(irc_lower(target), [])
    window.view_for(target).add_system(
        _now(),
        tr("In {channel} ({count}): {people}").format(
            channel=target, count=len(nicks), people=", ".join(nicks)
        ),
    )
    return True


def clear(window: Window, _args: str, target: str) -> bool:
    window.view_for(target).clear()
    return True


def show_help(window: Window, _args: str, target: str) -> bool:
    window.view_for(target).add_system(
        _now(),
        tr(
            "Commands: /apodo (/nick) NAME · /yo (/me) TEXT · /privado (/msg) NAME TEXT · "
            "/unirse (/join) #CHANNEL · /dejar (/part) · /tema (/topic) TEXT · "
            "/usuarios (/users) · /limpiar (/clear) · /guardar (/save) [YYYY-MM-DD] · "
            "/cerrar (/close) this tab · /ausente (/away) [REASON], alone: back · "
            "/salir (/quit) Charla"
        ),
    )
    if window.is_operator(target):
        window.view_for(target).add_system(
            _now(),
            tr("For the teacher (right-click a name or a message for more):")
            + "\n"
            + "\n".join(teacher_help()),
        )
    return True


def set_away(window: Window, args: str, _target: str) -> bool:
    """``/ausente [motivo]``: marked away (others see it in their list); alone: back."""
    try:
        window.client.send_command("AWAY", args)  # an empty reason is left out: back
    except InvalidMessageError:
        return False
    return True


def quit_window(window: Window, _args: str, _target: str) -> bool:
    window.request_close()
    return True


def _in_channel(window: Window, target: str) -> bool:
    """Moderation happens in a channel: in a private conversation, say so."""
    if target[:1] == "#":
        return True
    window.view_for(target).add_system(_now(), tr("That works in a channel, not here."))
    return False


def _nick_and_minutes(args: str) -> tuple[str, int | None, str]:
    """``ana 10 por hablar`` -> ("ana", 10, "por hablar"); minutes None when not a number."""
    words = args.split(maxsplit=2)
    nick = words[0] if words else ""
    minutes = wire_number(words[1], maximum=classroom.MAX_MINUTES) if len(words) > 1 else 0
    rest = words[2] if len(words) > 2 else ""
    return nick, minutes, rest


def kick(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if _in_channel(window, target):
        nick, _, reason = args.partition(" ")
        classroom.kick(window, target, nick, reason.strip())
    return True


def ban(window: Window, args: str, target: str) -> bool:
    nick, minutes, reason = _nick_and_minutes(args)
    if not nick or minutes is None:
        return False
    if _in_channel(window, target):
        classroom.ban(window, target, nick, minutes, reason)
    return True


def unban(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if _in_channel(window, target):
        classroom.unban(window, target, args.split()[0])
    return True


def mute(window: Window, args: str, target: str) -> bool:
    nick, minutes, _ = _nick_and_minutes(args)
    if not nick or minutes is None:
        return False
    if _in_channel(window, target):
        classroom.mute(window, target, nick, minutes)
    return True


def unmute(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if _in_channel(window, target):
        classroom.unmute(window, target, args.split()[0])
    return True


def slow(window: Window, args: str, target: str) -> bool:
    word = args.split()[0].lower() if args else ""
    seconds = 0 if word in OFF_WORDS else wire_number(word, maximum=classroom.MAX_SLOW_SECONDS)
    if not word or seconds is None:
        return False
    if _in_channel(window, target):
        classroom.set_slow(window, target, seconds)
    return True


def moderate(window: Window, args: str, target: str) -> bool:
    if _in_channel(window, target):
        off = bool(args) and args.split()[0].lower() in OFF_WORDS
        classroom.set_flag(window, target, "m", not off)
    return True


def invite(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if _in_channel(window, target):
        classroom.invite(window, target, args.split()[0])
    return True


def _status_command(mode: str) -> Callable[[Window, str, str], bool]:
    def give_or_take(window: Window, args: str, target: str) -> bool:
        words = args.split()
        if not words:
            return False
        if _in_channel(window, target):
            off = len(words) > 1 and words[1].lower() in OFF_WORDS
            classroom.set_status(window, target, words[0], mode, not off)
        return True

    return give_or_take


def claim(window: Window, args: str, target: str) -> bool:
    """``/reclamar [#canal] [off]``: this channel (or the one named) becomes the teachers'."""
    words = args.split()
    channel = words[0] if words and words[0][:1] in CHANNEL_PREFIXES else target
    off = bool(words) and words[-1].lower() in OFF_WORDS
    if channel[:1] not in CHANNEL_PREFIXES:
        return _in_channel(window, target)
    classroom.claim(window, channel, not off)
    return True


def announce(window: Window, args: str, target: str) -> bool:
    if not args:
        return False
    if not classroom.announce(window, args):
        window.view_for(target).add_system(_now(), tr("You are in no channel to announce it in."))
    return True


def save(window: Window, args: str, target: str) -> bool:
    """``/guardar`` (the whole conversation) or ``/guardar 2026-12-05`` (that day's): asks
    where, then writes it (``gui.social``)."""
    day = None
    if args.strip():
        try:
            day = date.fromisoformat(args.strip())
        except ValueError:
            return False
    window.social.ask_save(day)
    return True


def poll(window: Window, args: str, target: str) -> bool:
    """``/encuesta ¿Lo habéis entendido?`` (👍 / 👎), ``/encuesta ¿Cuándo? | lunes |
    martes`` (1️⃣ 2️⃣), ``/encuesta cerrar``: the result, said to the room."""
    if not args:
        return False
    if target[:1] not in CHANNEL_PREFIXES:
        return _in_channel(window, target)
    if args.strip().lower() in CLOSE_WORDS:
        window.social.close_poll(target)
    else:
        window.social.start_poll(target, args)
    return True


def delete_last(window: Window, _args: str, target: str) -> bool:
    """``/borrar``: delete our own last message here that the server confirmed (any other
    message: right-click it)."""
    view = window.view_for(target)
    me = window.client.nick
    mine = [msgid for msgid, author in view.authors.items() if irc_lower(author) == irc_lower(me)]
    if not mine:
        view.add_system(_now(), tr("Nothing of yours to delete here; right-click a message."))
        return True
    classroom.delete_message(window, target, mine[-1])
    return True


def _now() -> datetime:
    return datetime.now().astimezone()


#: canonical command name (the values of ALIASES) -> what it does
COMMANDS: dict[str, Callable[[Window, str, str], bool]] = {
    "nick": change_nick,
    "me": act,
    "msg": message_privately,
    "join": join,
    "part": part,
    "close": close_tab,
    "topic": set_topic,
    "users": list_users,
    "clear": clear,
    "help": show_help,
    "quit": quit_window,
    "away": set_away,
    "kick": kick,
    "ban": ban,
    "unban": unban,
    "mute": mute,
    "unmute": unmute,
    "slow": slow,
    "moderate": moderate,
    "invite": invite,
    "voice": _status_command("v"),
    "helper": _status_command("o"),
    "announce": announce,
    "claim": claim,
    "delete": delete_last,
    "poll": poll,
    "save": save,
}
