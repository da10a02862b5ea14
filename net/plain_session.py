"""A person at ``nc``, telnet or a phone "TCP terminal" app: no IRC, just lines of text.

The server asks for a name (and the password, if it has one), joins the person to the
default channel, and from then on every line they type is a message to it. A name that
is an account's (``net.accounts``) is theirs once they type its password (not echoed,
like the server's; ``MAX_ACCOUNT_TRIES`` tries, each wrong one slowed down per address;
``/otro`` goes back to choosing another name). ``/registrar`` makes an account for the
name in use (its password asked twice, not echoed) through ``accounts.register``, as
``REGISTER`` does. What others say arrives as
``[hh:mm] nick: text``; joins, leaves and the operator's announcements come as readable
lines too. A few slash commands, in Spanish and English, do the rest.

Nobody here is sent keepalive PINGs: a person at ``nc`` would see them as text, and
would not know to answer. TCP keepalive (set by ``net.server``) finds dead peers instead.

What this session says itself (``say``: the prompt, answers to slash commands) is
written at once with ``Connection.send``; what others say reaches it through
``net.state.Rooms``, which queues ``render``'s bytes and leaves the write to the end of
the sender's batch (see ``net.connection``).

Threading: like every session, handlers run on the connection's reader thread and ask
``Rooms`` for everything shared; ``render`` and ``joined_replies`` run under the rooms'
lock and only format text (``net.render``).
"""

from __future__ import annotations

import re
import time

from net.accounts import MIN_PASSWORD_BYTES, Refused
from net.connection import Connection
from net.guard import Verdict
from net.i18n import tr
from net.modes import ModeChange
from net.outgoing import Outgoing
from net.protocol import (
    MAX_LINE_BYTES,
    Message,
    decode_line,
    is_valid_nick,
    nick_key,
    normal_nick,
    printable,
    split_utf8,
    tagged_end,
)
from net.render import chat_line, history_lines, plain_history, plain_text
from net.room_words import (
    closest_command,
    mode_lines,
    teacher_help,
    teacher_names,
    teacher_usage,
)
from net.state import (
    Channel,
    ChannelView,
    JoinRefused,
    ModeRefused,
    NickRefused,
    Rooms,
    Session,
)

#: telnet option negotiation (IAC …) and other control bytes a terminal may send
_TELNET_NOISE = re.compile(r"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]|[\x00-\x08\x0b-\x1f\x7f]")
#: telnet commands (RFC 854, RFC 857) as bytes, and as ``decode_line`` shows them: a line
#: with an IAC in it is not UTF-8, so it arrives decoded as Windows-1252
_TELNET_COMMAND = re.compile(rb"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]", re.DOTALL)
_DO_ECHO = "\xff\xfd\x01"
#: "I will echo" (so the client stops echoing what is typed) and "I won't" (it echoes again)
ECHO_OFF = b"\xff\xfb\x01"
ECHO_ON = b"\xff\xfc\x01"
#: room for the prefix and command when a typed line is relayed as PRIVMSG
TEXT_BYTES_PER_MESSAGE = MAX_LINE_BYTES - 120

QUIT_WORDS = {"close", "/salir", "/quit", "/exit"}
#: protect one's name with a password (the server's ``REGISTER`` path: ``net.accounts``)
REGISTER_WORDS = {"/registrar", "/register"}
#: what a teacher (or a helper: a channel operator) types, in Spanish and English: the
#: spellings of ``net.room_words.TEACHER_COMMANDS`` that work at nc
TEACHER_COMMANDS = teacher_names(at_nc=True)
#: every command a person at nc may type, for the hint when one is mistyped
KNOWN_COMMANDS = (
    *QUIT_WORDS - {"close"},
    *("/usuarios", "/users", "/who", "/ayuda", "/help", "/privado", "/msg", "/yo", "/me"),
    *("/apodo", "/nick"),
    *REGISTER_WORDS,
    *TEACHER_COMMANDS,
)
#: a timed mute or ban lasts at most a week (``TQUIET``/``TBAN``'s limit)
MAX_MINUTES = 7 * 24 * 60
#: tries at an account's password before the connection is closed
MAX_ACCOUNT_TRIES = 5
#: typed instead of an account's password: "I'll choose another name"
OTHER_NAME_WORDS = {"/otro", "/other"}


class PlainSession(Session):
    """A plain-text client (see the module docstring)."""

    def __init__(self, rooms: Rooms, conn: Connection) -> None:
        super().__init__(rooms, conn)
        self.username = "~nc"
        #: password (if the server has one: before it, nobody learns who is here) -> name -> chat
        self._state = "password" if rooms.guard.required else "name"
        #: the client agreed to let the server echo (a telnet client): it does not show the
        #: password as it is typed, and must be told to echo again afterwards
        self._telnet_echo = False
        #: the account whose password is asked for (state "account"), and the tries so far
        self._account_name = ""
        self._account_tries = 0
        #: ``/registrar``'s first password, till it is typed again
        self._new_password = ""
        self.say(tr("Welcome to Charla ({server}).").format(server=self.settings.server_name))
        if self._state == "password":
            # Telnet clients stop echoing on IAC WILL ECHO (RFC 857), so the password is
            # not shown as it is typed; nc and terminal apps show nothing of these 3 bytes
            # (or one odd mark: the price of not showing a password on the classroom's
            # projector).
            self.say(tr("Password:"))
            self.conn.send(ECHO_OFF)
        else:
            self.say(tr("What is your name?"))

    def registration_timeout(self) -> float:
        """A person types the name (and the password) by hand: a human's pace, not a
        program's (``ServerConfig.plain_registration_timeout``)."""
        return self.settings.plain_registration_timeout

    # -- output ----------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A line from the server to this person: ``*** text``."""
        self.conn.send(self._line(f"*** {text}"))

    @staticmethod
    def _line(text: str) -> bytes:
        return "".join(f"{printable(part)}\r\n" for part in text.split("\n")).encode("utf-8")

    def goodbye(self, reason: str) -> bytes:
        return self._line(f"*** {reason}")

    def render(self, out: Outgoing) -> bytes | None:
        message = out.message
        stamp = time.strftime("[%H:%M]", time.localtime(out.time))
        who = message.source_nick or ""
        text = plain_text(message.params[-1]) if message.params else ""
        command = message.command
        if command in ("PRIVMSG", "NOTICE"):
            line = chat_line(out, stamp)
            if line is None:
                return None
        elif command == "JOIN":
            if who == self.nick:
                return None
            line = tr("{time} * {nick} joined {channel}").format(
                time=stamp, nick=who, channel=message.params[0]
            )
        elif command in ("PART", "QUIT"):
            reason = f" ({text})" if text and (command == "QUIT" or len(message.params) > 1) else ""
            line = tr("{time} * {nick} left{reason}").format(time=stamp, nick=who, reason=reason)
        elif command == "NICK":
            line = tr("{time} * {old} is now {new}").format(time=stamp, old=who, new=text)
        elif command == "TOPIC":
            line = tr("{time} * {nick} set the topic: {topic}").format(
                time=stamp, nick=who, topic=text
            )
        elif command == "KICK":
            line = tr("{time} * {nick} was removed by the operator ({reason})").format(
                time=stamp, nick=message.params[1], reason=text
            )
        elif command == "MODE" and len(message.params) >= 2 and message.params[0][:1] == "#":
            by = who if "!" in (message.source or "") else ""  # "": the server itself
            sentences = mode_lines(
                message.params, by, self.nick, self.account or "", tagged_end(message)
            )
            if not sentences:
                return None
            line = "\n".join(f"{stamp} * {sentence}" for sentence in sentences)
        else:
            return None
        return self._line(line)

    def joined_replies(self, channel: ChannelView, recent: list[Outgoing]) -> bytes:
        others = [nick for nick in channel.nicks if nick != self.nick]
        here = ", ".join(others) if others else tr("nobody else yet")
        lines = [
            "*** "
            + tr("Hello, {nick}! You are in {channel}. Here: {people}.").format(
                nick=self.nick, channel=channel.name, people=here
            )
        ]
        kept = history_lines(recent)
        if kept:
            lines += plain_history(kept)
        lines.append("*** " + tr("Type a message and press Enter. /help lists the commands."))
        return self._line("\n".join(lines))

    # -- input -----------------------------------------------------------------------------

    def on_line(self, line: str | None) -> None:
        if line is None:
            self.say(tr("That line is too long; nothing was sent."))
            return
        if "\xff" in line:  # telnet negotiation, maybe in front of what was typed
            line = self._without_telnet(line)
        line = _TELNET_NOISE.sub("", line).strip()
        if self._state == "name":
            self._on_name(line)
        elif self._state == "password":
            self._on_password(line)
        elif self._state == "account":
            self._on_account_password(line)
        elif self._state in ("new_password", "new_password_again"):
            self._on_new_password(line)
        elif line:
            self._on_chat(line)

    def _without_telnet(self, line: str) -> str:
        """The line without telnet commands, decoded again: an IAC made the whole line
        look like Windows-1252, and a UTF-8 password typed after it must still match."""
        if _DO_ECHO in line:
            self._telnet_echo = True
        try:
            raw = line.encode("cp1252")
        except UnicodeEncodeError:  # not what decode_line made of telnet bytes
            return line
        return decode_line(_TELNET_COMMAND.sub(b"", raw))

    def _on_name(self, name: str) -> None:
        name = normal_nick(name)
        if not name:
            self.say(tr("What is your name?"))
        elif not is_valid_nick(name):
            self.say(
                tr(
                    "A name uses letters, digits and - _ [ ] { } | ^ `, at most 30 characters, "
                    "and does not start with a digit. What is your name?"
                )
            )
        elif (refused := self.rooms.nick_refusal(name, self)) is NickRefused.RESERVED:
            self.say(tr("The name {name} is reserved. What is your name?").format(name=name))
        elif refused is NickRefused.REGISTERED:
            self._state, self._account_name = "account", name
            self._account_tries = 0
            self._ask_account_password(first=True)
        elif refused is not None:
            self.say(
                tr("The name {name} is taken. How about {other}?").format(
                    name=name, other=self.rooms.suggest_nick(name)
                )
            )
        else:
            self.nick = name
            self._enter()

    def _ask_account_password(self, first: bool = False) -> None:
        self.say(
            tr(
                "{name} is a registered name. Its password (or /otro to choose another name):"
            ).format(name=self._account_name)
        )
        if first:  # see __init__: a telnet client stops showing what is typed, till ECHO_ON
            self.conn.send(ECHO_OFF)

    def _on_account_password(self, password: str) -> None:
        """The password of the account the typed name belongs to; ``/otro`` gives up (an
        empty line never gets here: the connection drops those)."""
        if password.lower() in OTHER_NAME_WORDS:
            self._back_to_name()
            return
        self._account_tries += 1
        verdict, account = self.rooms.accounts.log_in(self.conn.ip, self._account_name, password)
        if verdict is Verdict.RIGHT and account is not None:
            if self._telnet_echo:
                self.conn.send(ECHO_ON)
            self.rooms.log_in(self, account)
            self.nick = account
            self._enter()
            return
        if verdict is Verdict.WAIT:
            told = tr("Too many wrong passwords from your address: try again in {seconds} s.")
            told = told.format(
                seconds=self.rooms.accounts.wait_seconds(self.conn.ip, self._account_name)
            )
        else:
            told = tr("Wrong password.")
        if self._account_tries >= MAX_ACCOUNT_TRIES:
            self.conn.enqueue(self.goodbye(f"{told} {tr('Goodbye.')}"))
            self.conn.finish("Bad account password")
            return
        self.say(told)
        self._ask_account_password()

    def _start_register(self) -> None:
        """``/registrar``: the password for an account named as we are, asked twice and not
        echoed (as the account prompt is); ``accounts.register`` decides, as for
        ``REGISTER``, and a made account logs us in."""
        if self.account:
            self.say(tr("You are logged in as {account} already.").format(account=self.account))
            return
        self._state, self._new_password = "new_password", ""
        self.say(
            tr(
                "A password for the account {name} (at least {least} characters; it is not "
                "shown, or /otro to give up):"
            ).format(name=self.nick, least=MIN_PASSWORD_BYTES)
        )
        self.conn.send(ECHO_OFF)

    def _on_new_password(self, password: str) -> None:
        if password.lower() in OTHER_NAME_WORDS:
            self._end_register(tr("No account was made."))
        elif self._state == "new_password":
            self._state, self._new_password = "new_password_again", password
            self.say(tr("The same password again:"))
        elif password != self._new_password:
            self._end_register(tr("The two passwords differ: no account was made."))
        else:
            refused = self.rooms.accounts.register(self.nick, password, self.conn.ip)
            if refused is None:
                self.rooms.log_in(self, self.nick)
                self._end_register(
                    tr(
                        "The account {name} is made, and you are logged in: next time, "
                        "type your name and this password."
                    ).format(name=self.nick)
                )
            else:
                self._end_register(_register_refusal_text(refused))

    def _end_register(self, told: str) -> None:
        self._state, self._new_password = "chat", ""
        if self._telnet_echo:
            self.conn.send(ECHO_ON)
        self.say(told)

    def _back_to_name(self) -> None:
        if self._telnet_echo:
            self.conn.send(ECHO_ON)
        self._state, self._account_name = "name", ""
        self.say(tr("What is your name?"))

    def _on_password(self, password: str) -> None:
        verdict = self.rooms.guard.check(self.conn.ip, password)
        if verdict is Verdict.RIGHT:
            self._state = "name"
            if self._telnet_echo:
                self.conn.send(ECHO_ON)
            self.say(tr("What is your name?"))
            return
        if verdict is Verdict.WAIT:
            goodbye = tr("Too many wrong passwords from your address: try again in {seconds} s.")
            goodbye = goodbye.format(seconds=self.rooms.guard.wait_seconds(self.conn.ip))
        else:
            goodbye = tr("Wrong password. Goodbye.")
        self.conn.enqueue(self.goodbye(goodbye))
        self.conn.finish("Bad password")

    def _enter(self) -> None:
        if not self.rooms.register(self):
            self._state = "name"
            self.say(
                tr("The name {name} is taken. How about {other}?").format(
                    name=self.nick, other=self.rooms.suggest_nick(self.nick)
                )
            )
            self.nick = ""
            return
        self._state = "chat"
        if isinstance(self.rooms.join(self, self.settings.channel), JoinRefused):
            self.say(
                tr("You cannot enter {channel} now (banned, or it is closed).").format(
                    channel=self.settings.channel
                )
            )

    def _on_chat(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        command = word.lower()
        rest = rest.strip()
        channel = self.rooms.default_channel
        if command in QUIT_WORDS:
            reason = f"Quit: {rest}" if rest else "Quit"
            self.rooms.quit(self, reason)
            self.conn.enqueue(self.goodbye(tr("Goodbye!")))
            self.conn.finish(reason)
        elif command in ("/usuarios", "/users", "/who"):
            people = self.rooms.view(channel).nicks
            self.say(
                tr("In {channel} ({count}): {people}").format(
                    channel=channel.name, count=len(people), people=", ".join(people)
                )
            )
        elif command in ("/ayuda", "/help"):
            self.say(
                tr(
                    "Commands:\n"
                    "***   /usuarios (/users)          who is here\n"
                    "***   /privado NAME TEXT (/msg)   a private message\n"
                    "***   /yo TEXT (/me)              an action: * you TEXT\n"
                    "***   /apodo NAME (/nick)         change your name\n"
                    "***   /registrar (/register)      protect your name with a password\n"
                    "***   /salir (/quit) or close     leave the chat\n"
                    "***   //text                      send a line that starts with /"
                )
            )
            if self.rooms.is_operator(self, channel):
                self.say(
                    "\n".join(
                        [tr("For the teacher and helpers:")]
                        + [f"***   {line}" for line in teacher_help(at_nc=True)]
                    )
                )
        elif command in REGISTER_WORDS:
            self._start_register()
        elif command in ("/privado", "/msg"):
            self._private(rest)
        elif command in ("/yo", "/me"):
            if rest:
                self._relay(channel, f"\x01ACTION {rest}\x01")
        elif command in ("/apodo", "/nick"):
            self._rename(rest)
        elif line.startswith("//"):
            self._relay(channel, line[1:])
        elif command in TEACHER_COMMANDS:
            self._moderate(TEACHER_COMMANDS[command], channel, rest)
        elif line.startswith("/"):
            hint = closest_command(command, KNOWN_COMMANDS)
            self.say(
                tr(
                    "Unknown command {command}. Did you mean {hint}? "
                    "Type /ayuda (/help) for the list."
                ).format(command=word, hint=hint)
                if hint
                else tr("Unknown command {command}. Type /ayuda (/help) for the list.").format(
                    command=word
                )
            )
        else:
            self._relay(channel, line)

    def _relay(self, channel: Channel, text: str, command: str = "PRIVMSG") -> None:
        pieces = split_utf8(text, TEXT_BYTES_PER_MESSAGE)
        self.conn.charge_flood(len(pieces) - 1)  # a long line costs what its pieces would
        for piece in pieces:
            refused = self.rooms.send_to_channel(
                self, channel, Message(command, [channel.name, piece], self.prefix)
            )
            if refused is not None:  # said, so the person knows it did not go out
                self.say(tr("Not sent: {why}.").format(why=refused.text()))
                return

    def _moderate(self, action: str, channel: Channel, rest: str) -> None:
        """A teacher's (or helper's) command, carried out as the IRC command it stands
        for; ``Rooms`` decides whether this person may, and a refusal is said in words."""
        first, _, more = rest.partition(" ")
        more = more.strip()
        refused: list[ModeRefused] = []
        if action == "announce":
            if not rest:
                self.say(tr("Usage: /aviso TEXT"))
            elif not self.rooms.is_operator(self, channel):
                refused = [ModeRefused("chanop", channel.name)]
            else:
                self._relay(channel, rest, command="NOTICE")
        elif action == "claim":
            words = rest.split()
            name = next((word for word in words if word.startswith("#")), channel.name)
            off = bool(words) and words[-1].lower() in ("off", "no", "0")
            why = self.rooms.claim(self, name, claiming=not off)
            if why == "noprivileges":
                self.say(tr("Only a teacher can do that."))
            elif why == "nosuchchannel":
                self.say(tr("There is no room called {channel}.").format(channel=name))
            elif why == "default":
                self.say(
                    tr(
                        "{channel} is the server's default channel: "
                        "it always belongs to the teachers"
                    ).format(channel=name)
                )
        elif action in ("slow", "moderate"):
            off = first.lower() in ("off", "no", "0")
            if action == "slow" and not off and not (first.isascii() and first.isdigit()):
                self.say(tr("Usage: /lento SECONDS, or /lento off"))
                return
            letter = "S" if action == "slow" else "m"
            change = ModeChange(not off, letter, first if letter == "S" and not off else "")
            refused = self.rooms.change_modes(self, channel, [change])
        elif not first:
            self.say(tr("Usage: {command}").format(command=teacher_usage(action)))
            return
        elif action == "kick":
            found = self.rooms.kick(self, channel, first, more or self.nick)
            refused = [found] if found is not None else []
        else:  # mute, unmute, ban, unban, voice: a mask for a person, maybe for N minutes
            letter = "b" if action in ("ban", "unban") else "v" if action == "voice" else "q"
            adding = action in ("ban", "mute", "voice")
            param = first if letter == "v" else f"{first}!*@*"
            expires = None
            if adding and letter != "v" and more:
                if not (more.isascii() and more.isdigit() and 0 < int(more) <= MAX_MINUTES):
                    self.say(
                        tr("The minutes are a number from 1 to {most}.").format(most=MAX_MINUTES)
                    )
                    return
                expires = self.rooms.clock() + int(more) * 60
            refused = self.rooms.change_modes(
                self, channel, [ModeChange(adding, letter, param)], expires
            )
            if not refused and action == "ban":
                self.rooms.kick(self, channel, first, tr("banned"))
        for one in refused:
            self.say(_refusal_text(one))

    def _private(self, rest: str) -> None:
        nick, _, text = rest.partition(" ")
        target = self.rooms.find_session(nick) if nick else None
        if target is None or not text.strip():
            self.say(tr("Usage: /privado NAME TEXT (NAME must be connected)."))
            return
        pieces = split_utf8(text.strip(), TEXT_BYTES_PER_MESSAGE)
        self.conn.charge_flood(len(pieces) - 1)
        for piece in pieces:
            self.rooms.send_to_session(
                target, Message("PRIVMSG", [target.nick, piece], self.prefix), sender=self
            )

    def _rename(self, new_nick: str) -> None:
        new_nick = normal_nick(new_nick)
        refused = None
        if is_valid_nick(new_nick) and nick_key(new_nick) != nick_key(self.nick):
            refused = self.rooms.nick_refusal(new_nick, self)
        if not is_valid_nick(new_nick):
            self.say(tr("Usage: /apodo NEWNAME (letters, digits and - _, at most 30)."))
        elif refused is NickRefused.RESERVED:
            self.say(tr("The name {name} is reserved.").format(name=new_nick))
        elif refused is NickRefused.REGISTERED:
            self.say(
                tr(
                    "The name {name} is registered: to use it, leave and come back typing "
                    "that name and its password."
                ).format(name=new_nick)
            )
        elif refused is not None:
            self.say(
                tr("The name {name} is taken. How about {other}?").format(
                    name=new_nick, other=self.rooms.suggest_nick(new_nick)
                )
            )
        elif nick_key(new_nick) != nick_key(self.nick) and (
            barred := self.rooms.barred_from_renaming(self)
        ):
            self.say(
                tr("Cannot change nickname while banned or muted on the channel") + f" ({barred})."
            )
        elif not self.rooms.rename(self, new_nick):
            self.say(tr("The name {name} is taken.").format(name=new_nick))


def _register_refusal_text(refused: Refused) -> str:
    """Why ``/registrar`` made no account, in words."""
    if refused is Refused.EXISTS:
        return tr("That name is an account already.")
    if refused is Refused.BAD_NAME:
        return tr("That name cannot be an account.")
    if refused is Refused.WEAK_PASSWORD:
        return tr(
            "That password is too short (at least {least} characters): no account was made."
        ).format(least=MIN_PASSWORD_BYTES)
    if refused is Refused.UNACCEPTABLE_PASSWORD:
        return tr("That password is too long or has odd characters: no account was made.")
    return tr("No accounts can be made now: try again later.")


def _refusal_text(refused: ModeRefused) -> str:
    """Why a teacher's command was not carried out, in words."""
    why, target = refused.why, refused.target
    if why in ("chanop", "notonchannel"):
        return tr("Only the teacher or a helper may do that.")
    if why == "teacher":
        return tr("{nick} is a teacher: only another teacher may do that.").format(nick=target)
    if why in ("nosuchnick", "notinchannel"):
        return tr("Nobody called {nick} is in the room.").format(nick=target)
    if why == "listfull":
        return tr("The list of bans and mutes is full: lift one first.")
    return tr("That cannot be done: {why}").format(why=refused.detail or target)
