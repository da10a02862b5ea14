"""The room's state in words: a change of a channel's modes, a member's status, what a
newcomer must know, as sentences in the reader's language. The Charla window
(``gui.received``) and a person at ``nc`` (``net.plain_session``) read the same words.

It also holds the one table of the teacher's commands (``TEACHER_COMMANDS``: both
spellings, the argument hint, the help line), which the window (``gui.commands``) and a
teacher at ``nc`` (``net.plain_session``) both read, and ``closest_command`` for the hint
given when a command is mistyped.

Threading: pure functions of their arguments (and the translation catalog), safe on any
thread; ``net.plain_session`` calls them while ``net.state.Rooms`` holds its lock.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from net.i18n import ntr, tr
from net.protocol import fold_name, irc_lower, mask_match


@dataclass(frozen=True)
class TeacherCommand:
    """One of the teacher's (or a helper's) commands; the server checks every one."""

    action: str  # canonical name: "mute", "ban", …
    spanish: str  # "/silenciar"
    english: str  # "/mute"
    #: the argument hint and the help line, in the reader's language (called when read:
    #: the language is chosen after import)
    hint: Callable[[], str]
    help: Callable[[], str]
    #: a teacher at nc can use it too (the rest need the window: a message to point at…)
    at_nc: bool = True


#: every teacher command, in the order the help lists them
TEACHER_COMMANDS: tuple[TeacherCommand, ...] = (
    TeacherCommand(
        "mute",
        "/silenciar",
        "/mute",
        lambda: tr("NAME [minutes]"),
        lambda: tr("their messages do not reach the room"),
    ),
    TeacherCommand(
        "unmute", "/desilenciar", "/unmute", lambda: tr("NAME"), lambda: tr("they can write again")
    ),
    TeacherCommand(
        "kick",
        "/expulsar",
        "/kick",
        lambda: tr("NAME [reason]"),
        lambda: tr("out of the room (they may come back)"),
    ),
    TeacherCommand(
        "ban",
        "/vetar",
        "/ban",
        lambda: tr("NAME [minutes]"),
        lambda: tr("out of the room, and kept out"),
    ),
    TeacherCommand(
        "unban", "/desvetar", "/unban", lambda: tr("NAME"), lambda: tr("they may come back")
    ),
    TeacherCommand(
        "voice",
        "/voz",
        "/voice",
        lambda: tr("NAME [off]"),
        lambda: tr("may speak in a muted class"),
    ),
    TeacherCommand(
        "slow",
        "/lento",
        "/slow",
        lambda: tr("SECONDS|off"),
        lambda: tr("one message every SECONDS"),
    ),
    TeacherCommand(
        "moderate",
        "/moderar",
        "/moderate",
        lambda: "[off]",
        lambda: tr("only you and those with voice speak"),
    ),
    TeacherCommand(
        "announce",
        "/aviso",
        "/announce",
        lambda: tr("TEXT"),
        lambda: tr("an announcement to the room"),
    ),
    TeacherCommand(
        "claim",
        "/reclamar",
        "/claim",
        lambda: tr("#CHANNEL [off]"),
        lambda: tr("the room belongs to the teachers (off: give it back)"),
    ),
    TeacherCommand(
        "invite",
        "/invitar",
        "/invite",
        lambda: tr("NAME"),
        lambda: tr("may come into a locked room"),
        at_nc=False,
    ),
    TeacherCommand(
        "helper",
        "/ayudante",
        "/helper",
        lambda: tr("NAME [off]"),
        lambda: tr("helps you run the room"),
        at_nc=False,
    ),
    TeacherCommand(
        "poll",
        "/encuesta",
        "/poll",
        lambda: tr("QUESTION [| option | option…] (or: close)"),
        lambda: tr("a quick poll: everyone votes with a click; close says the result"),
        at_nc=False,
    ),
    TeacherCommand(
        "delete",
        "/borrar",
        "/delete",
        lambda: "",
        lambda: tr("deletes your last message (right-click any other)"),
        at_nc=False,
    ),
)


def teacher_names(at_nc: bool = False) -> dict[str, str]:
    """Every spelling of a teacher command -> its action (only those usable at nc, if asked).

    >>> teacher_names(at_nc=True)["/vetar"], "/borrar" in teacher_names(at_nc=True)
    ('ban', False)
    """
    return {
        name: one.action
        for one in TEACHER_COMMANDS
        if one.at_nc or not at_nc
        for name in (one.spanish, one.english)
    }


def teacher_usage(action: str) -> str:
    """``/silenciar NAME [minutes]``: how a command is typed, in the reader's language."""
    one = next(one for one in TEACHER_COMMANDS if one.action == action)
    return f"{one.spanish} {one.hint()}".rstrip()


def teacher_help(at_nc: bool = False) -> list[str]:
    """One line per teacher command: ``/silenciar (/mute) NAME [minutes] — what it does``."""
    return [
        f"{one.spanish} ({one.english}) {one.hint()} — {one.help()}".replace("  ", " ")
        for one in TEACHER_COMMANDS
        if one.at_nc or not at_nc
    ]


def closest_command(word: str, known: Iterable[str]) -> str:
    """The command a mistyped one most likely meant, or "".

    >>> closest_command("/silenciarr", ["/silenciar", "/salir"]), closest_command("/x", ["/ban"])
    ('/silenciar', '')
    """
    close = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.6)
    return close[0] if close else ""


def who_of(mask: str) -> str:
    """Who a mask names, as a person reads it: ``ana!*@*`` -> ``ana``, ``$a:ana`` -> ``ana``.

    >>> who_of("ana!*@*"), who_of("$a:profe"), who_of("*!*@10.0.0.*")
    ('ana', 'profe', '*!*@10.0.0.*')
    """
    if mask.startswith("$a:"):
        return mask[3:]
    nick, bang, rest = mask.partition("!")
    return nick if bang and rest == "*@*" and nick else mask


def names_me(mask: str, nick: str, account: str = "") -> bool:
    """Whether a ban or mute mask is about us (by nick, or by our account)."""
    if mask.startswith("$a:"):
        return bool(account) and fold_name(mask[3:]) == fold_name(account)
    if who_of(mask) == mask:  # by address: we cannot tell, so we do not say "you"
        return False
    return mask_match(irc_lower(who_of(mask)), irc_lower(nick))


def mode_sentence(
    mode: str,
    adding: bool,
    param: str,
    by: str,
    me: str,
    account: str = "",
    ends: float | None = None,
) -> str | None:
    """One change of a channel's modes as a sentence; None for one nobody needs to read.

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> mode_sentence("S", True, "10", "profe", "ana")
    'profe put the room in slow mode: one message every 10 s.'
    >>> mode_sentence("q", True, "ana!*@*", "profe", "ana")
    'profe muted you: your messages do not reach the room.'
    """
    who = who_of(param)
    about_me = mode in "bq" and names_me(param, me, account)
    sentences = {
        ("m", True): tr("{by} muted the class: only the teacher and those with voice speak."),
        ("m", False): tr("{by} let everyone speak again."),
        ("S", True): tr("{by} put the room in slow mode: one message every {param} s."),
        ("S", False): tr("{by} turned slow mode off."),
        ("i", True): tr("{by} locked the room: only those invited can come in."),
        ("i", False): tr("{by} opened the room to everyone."),
        ("t", True): tr("Only the teacher can change the topic now."),
        ("t", False): tr("Anyone can change the topic now."),
        ("k", True): tr("{by} gave the room a password."),
        ("k", False): tr("{by} removed the room's password."),
        ("l", True): tr("{by} limited the room to {param} people."),
        ("l", False): tr("{by} removed the room's limit of people."),
        ("s", True): tr("The room is secret now: it is not listed."),
        ("s", False): tr("The room is listed again."),
        ("q", True): (
            tr("{by} muted you: your messages do not reach the room.")
            if about_me
            else tr("{by} muted {who}.")
        ),
        ("q", False): (
            tr("You can write again: your mute is over.")
            if about_me
            else tr("{who} can write again.")
        ),
        ("b", True): (
            tr("{by} banned you from this room.") if about_me else tr("{by} banned {who}.")
        ),
        ("b", False): tr("{who} may come back to the room."),
    }
    sentence = sentences.get((mode, adding))
    if sentence is None:
        return None
    said = sentence.format(by=by, param=param, who=who)
    if adding and mode in "bq" and ends is not None:
        said = f"{said[:-1]} {lasting(ends)}."
    return said


def lasting(ends: float, now: float | None = None) -> str:
    """How long a timed ban or mute lasts, in words: "for 5 minutes (until 10:42)".

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> import time; now = time.time()
    >>> lasting(now + 300, now).split(" (")[0], lasting(now + 30, now).split(" (")[0]
    ('for 5 minutes', 'for 1 minute')
    """
    now = time.time() if now is None else now
    minutes = max(1, round((ends - now) / 60))
    clock = time.strftime("%H:%M", time.localtime(ends))
    return ntr(
        "for {count} minute (until {clock})", "for {count} minutes (until {clock})", minutes
    ).format(count=minutes, clock=clock)


def state_sentences(modes: dict[str, str]) -> list[str]:
    """What a newcomer must know of a channel's modes (``MODE #chan`` answered with 324).

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> for line in state_sentences({"n": "", "t": "", "S": "10", "m": ""}): print(line)
    Only the teacher and those with voice speak in this room.
    The room is in slow mode: one message every 10 s.
    """
    sentences = []
    if "m" in modes:
        sentences.append(tr("Only the teacher and those with voice speak in this room."))
    if "S" in modes:
        sentences.append(
            tr("The room is in slow mode: one message every {seconds} s.").format(
                seconds=modes["S"]
            )
        )
    if "i" in modes:
        sentences.append(tr("The room is locked: only those invited can come in."))
    return sentences


def status_sentence(mode: str, adding: bool, nick: str, by: str, me: bool) -> str:
    """``MODE #chan +o/-o/+v/-v nick`` as a sentence.

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> status_sentence("o", True, "tere", "ana", False)
    'ana made tere a helper.'
    >>> status_sentence("o", True, "tere", "The server", False)  # a teacher coming in
    'tere runs this room as a teacher (★).'
    """
    if mode == "o":
        if me:
            return (
                tr("{by} made you a helper of this room.")
                if adding
                else tr("{by} took away your helper role.")
            ).format(by=by)
        if adding and by == tr("The server"):  # the server gives +o only to teachers
            return tr("{nick} runs this room as a teacher (★).").format(nick=nick)
        return (
            tr("{by} made {nick} a helper.")
            if adding
            else tr("{by} took {nick}'s helper role away.")
        ).format(by=by, nick=nick)
    if me:
        return (
            tr("{by} gave you voice: you can speak in a muted class.")
            if adding
            else tr("{by} took your voice away.")
        ).format(by=by)
    return (
        tr("{by} gave {nick} voice.") if adding else tr("{by} took {nick}'s voice away.")
    ).format(by=by, nick=nick)


#: channel modes that take a parameter when set, and when unset (``CHANMODES=bq,k,lS,imnst``
#: and ``PREFIX=(ov)@+``)
_PARAM_ALWAYS = "bqkov"
_PARAM_WHEN_SET = "lS"


def mode_changes(modes: str, params: list[str]) -> list[tuple[str, bool, str]]:
    """The changes of a relayed MODE line: (letter, adding, parameter).

    >>> mode_changes("+S-q+v", ["10", "ana!*@*", "bea"])
    [('S', True, '10'), ('q', False, 'ana!*@*'), ('v', True, 'bea')]
    """
    changes, adding, rest = [], True, iter(params)
    for letter in modes:
        if letter in "+-":
            adding = letter == "+"
            continue
        takes = letter in _PARAM_ALWAYS or (adding and letter in _PARAM_WHEN_SET)
        changes.append((letter, adding, next(rest, "") if takes else ""))
    return changes


def mode_lines(
    message_params: list[str], by: str, me: str, account: str = "", ends: float | None = None
) -> list[str]:
    """A relayed channel MODE line as sentences for a person (``by``: who made it, "" for
    the server itself; ``me``: the reader's nick).

    >>> from net.i18n import set_language; _ = set_language("en")
    >>> mode_lines(["#general", "+mq", "pepe!*@*"], "profe", "ana")
    ['profe muted the class: only the teacher and those with voice speak.', 'profe muted pepe.']
    """
    by = by or tr("The server")
    lines = []
    for letter, adding, param in mode_changes(message_params[1], message_params[2:]):
        if letter in "ov":
            sentence = status_sentence(letter, adding, param, by, fold_name(param) == fold_name(me))
        else:
            sentence = mode_sentence(letter, adding, param, by, me, account, ends)
        if sentence:
            lines.append(sentence)
    return lines
