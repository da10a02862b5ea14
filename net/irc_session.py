"""An IRC client's session on the server: registration, the command table, keepalive PINGs.

Handlers are looked up in ``COMMANDS`` (an explicit table: nothing else is reachable from
the network). Before registration only ``PRE_REGISTRATION`` commands are accepted; the
rest get ``451``. Accounts (``net.accounts``): ``REGISTER`` (IRCv3
draft/account-registration, before or after connecting) and SASL ``PLAIN``
(``AUTHENTICATE``, IRCv3 sasl 3.1/3.2, before or after registration) log a session in; a
password is checked on the reader thread (about 50 ms of scrypt, which holds no lock
and lets other threads run). Replies are queued with ``reply()`` in the order the lines came, so a
``PING`` is answered in order with everything else the client caused.

The human text of most numerics and ERROR lines stays in English, as on every IRC server:
clients (the Charla window included) show their own words for each numeric, and
conformance suites match it. What a person reads as content is translated: the MOTD, the
text of INFO, ADMIN and HELP, every reason a student is refused by the channel's modes
(``404`` muted, slow mode, moderated; ``474``, ``473``, ``475``, ``471``, ``482``,
``478``, ``696``) and what a teacher is told (``381``, ``313``): IRC clients show that
text as it is.

Channel modes, KICK, INVITE, OPER and the timed bans (``TBAN``/``TQUIET``) are parsed here
(``net.modes.parse_changes``) and carried out by ``Rooms`` under its lock, which answers
with what it refused; each refusal becomes its numeric here. Beyond chat, it answers the
queries IRC clients send on connect or on /commands (AWAY with IRCv3 ``away-notify``,
WHOWAS, USERHOST, ISON, TIME, VERSION, INFO, ADMIN, HELP, LUSERS), after RFC 2812 and
Modern IRC; where the two differ (WHOWAS wildcards), Modern. A message can be deleted
(IRCv3 ``REDACT``) by its author, a teacher or a channel operator.

A line's way through here: ``net.connection`` calls ``on_line`` on the reader thread;
the handler from ``COMMANDS`` checks it and asks ``net.state.Rooms`` to act (relay,
join, rename…) or for a snapshot to answer from; replies to this client are queued with
``reply()``, and ``flush_soon`` leaves the write to the end of the reader's batch.

Threading: every handler, and the keepalive timer (``next_deadline``/``on_deadline``),
runs on the connection's reader thread. Nothing here takes ``Rooms``' lock or reads its
dicts. ``render`` and ``joined_replies`` are called by ``Rooms`` on other threads, with
its lock held; they read ``_server_time``, ``_message_tags``, ``_away_notify`` and
``_multi_prefix``, which ``on_cap`` sets on the reader thread (booleans: a relay racing a
CAP REQ may use the old value once). Another session's ``away`` is read without the lock
to answer a private message with 301 (see ``net.state``).
"""

from __future__ import annotations

import binascii
import itertools
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from net import protocol as irc
from net.accounts import is_reserved
from net.chathistory import (
    MAX_LIMIT,
    MAX_TARGETS,
    SUBCOMMANDS,
    BadRequest,
    parse_limit,
    parse_reference,
    select,
)
from net.connection import BugLog, Connection, flush_soon
from net.guard import Verdict
from net.i18n import ntr, tr
from net.modes import (
    CHANMODES,
    MAX_LIST_ENTRIES,
    MAX_PARAM_CHANGES,
    PREFIX,
    TIMED_MAX,
    TIMED_MIN,
    ModeChange,
    parse_changes,
    status_prefixes,
)
from net.outgoing import KeptMessage, Outgoing, server_time_tag
from net.protocol import (
    MAX_SASL_BYTES,
    SASL_CAP,
    SASL_CHUNK,
    SASL_MECHANISMS,
    SEQ_TAG,
    SERVER_CAPABILITIES,
    SESSION_CAP,
    Message,
    irc_lower,
    is_valid_channel,
    is_valid_nick,
    mask_match,
    nick_key,
    normal_nick,
    parse,
    session_alias,
    session_msgid,
    split_utf8,
    wire_number,
)
from net.render import history_lines, irc_history
from net.state import (
    ENTRIES_PER_ADDRESS,
    USER_QUIT_PREFIX,
    Channel,
    ChannelView,
    GoneRow,
    JoinRefused,
    ModeRefused,
    NickRefused,
    RedactRefused,
    Rooms,
    Session,
    SpeakRefused,
    WhoRow,
)

log = logging.getLogger(__name__)
_bugs = BugLog(log)  # replies that cannot be formatted: bugs, logged rate-limited

PRE_REGISTRATION = frozenset(
    {"CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT", "SESSION", "AUTHENTICATE", "REGISTER"}
)
VERSION = "charla-0.1"
#: references of history batches (``BATCH +h1 chathistory``), one counter for the server
_batch_refs = itertools.count(1)
#: NAMES lines are cut so each stays well inside the 512-byte limit
NAMES_PER_LINE_BYTES = 400
#: what a line a reconnecting Charla client sends again costs in flood allowance, when the
#: server relayed it the first time: it is dropped after one look-up, so a twentieth of a
#: line (1,000 resent lines cost 50, about a burst and a second). Not zero, so that
#: nobody can make the server parse lines at full speed by sending one number over again.
RESENT_LINE_COST = 0.05
#: ISUPPORT tokens in one 005 line: with the nick and the closing text, RFC 2812 2.3.1's
#: fifteen parameters at most (Modern IRC RPL_ISUPPORT: more tokens, more 005 lines)
ISUPPORT_TOKENS_PER_LINE = 13
#: the fields of a WHOX reply (354), in the order IRCv3 whox gives them: token, channel,
#: user, IP, host, server, nick, flags, hops, idle, account, op level, realname
WHOX_FIELDS = "tcuihsnfdlaor"
#: nicks one USERHOST answers for (RFC 2812: "up to 5"); the rest are left out
USERHOST_MAX = 5
#: nicks one ISON looks up; its reply is kept to NAMES_PER_LINE_BYTES as well
ISON_MAX = 100
#: how WHOWAS and TIME write a moment (digits only: no month names in any language)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
#: the syntax HELP gives for each command it knows (protocol words: not translated)
HELP_SYNTAX = {
    "ADMIN": "ADMIN",
    "AWAY": "AWAY [:<message>]  (no message: you are back)",
    "HELP": "HELP [<command>]",
    "INFO": "INFO",
    "ISON": "ISON <nick> [<nick>...]",
    "JOIN": "JOIN <#channel>[,<#channel>...]  (JOIN 0: leave them all)",
    "KICK": "KICK <#channel> <nick>[,<nick>...] [:<reason>]",
    "LIST": "LIST [<#channel or mask>[,...]]  (!<mask>: not those; >N, <N: by members)",
    "LUSERS": "LUSERS",
    "MODE": "MODE <target> [<modes> [<arguments>...]]",
    "MOTD": "MOTD",
    "NAMES": "NAMES <#channel>[,<#channel>...]",
    "NICK": "NICK <nick>",
    "NOTICE": "NOTICE <target>[,<target>...] :<text>",
    "PART": "PART <#channel>[,<#channel>...] [:<reason>]",
    "PING": "PING <token>",
    "PRIVMSG": "PRIVMSG <target>[,<target>...] :<text>",
    "QUIT": "QUIT [:<reason>]",
    "TIME": "TIME",
    "TOPIC": "TOPIC <#channel> [:<topic>]",
    "USERHOST": "USERHOST <nick> [<nick>...]  (up to 5)",
    "VERSION": "VERSION",
    "WHO": "WHO <mask or #channel> [%<fields>[,<token>]]",
    "WHOIS": "WHOIS <nick>",
    "WHOWAS": "WHOWAS <nick>[,<nick>...] [<count>]",
}


class IrcSession(Session):
    """A client that speaks IRC (see the module docstring)."""

    def __init__(self, rooms: Rooms, conn: Connection) -> None:
        super().__init__(rooms, conn)
        self.password: str | None = None
        self.caps: set[str] = set()
        self.cap_negotiating = False
        self._server_time = False  # "server-time" in caps, read on every render
        self._message_tags = False  # "message-tags" in caps
        self._away_notify = False  # "away-notify" in caps
        self._multi_prefix = False  # "multi-prefix" in caps: every status prefix, not one
        self._cap_version = 0  # from "CAP LS 302": 302 shows capability values
        #: the base64 chunks of a SASL PLAIN answer being received (None: no exchange)
        self._sasl: list[str] | None = None
        #: when our keepalive PING went out (``time.monotonic()``); anything received
        #: after it is the answer
        self._ping_sent_at: float | None = None

    # -- plumbing ------------------------------------------------------------------------

    @property
    def name_for_replies(self) -> str:
        return self.nick if self.registered else "*"

    def reply(self, numeric: str, *params: str) -> None:
        """Queue a numeric from the server: ``:server NUMERIC nick params…``."""
        self.conn.enqueue(self._numeric(numeric, *params))

    def _numeric(self, numeric: str, *params: str) -> bytes:
        """A numeric's bytes. A word the client sent that cannot stand before the last
        parameter is echoed as ``*`` (``as_middle_param``); a numeric that still cannot be
        formatted is a bug: logged (rate-limited), left out, and the client stays."""
        middle = [irc.as_middle_param(param) for param in params[:-1]]
        message = Message(
            numeric, [self.name_for_replies, *middle, *params[-1:]], self.settings.server_name
        )
        try:
            return message.to_bytes()
        except irc.InvalidMessageError as exc:
            _bugs.report(f"reply {numeric} to {self.conn.ip} cannot be formatted", exc)
            return b""

    def send_message(self, message: Message) -> None:
        self.conn.enqueue(self.render(Outgoing(message)))

    def render(self, out: Outgoing) -> bytes | None:
        if out.message.command == "TAGMSG" and not self._message_tags:
            return None
        if out.message.command == "AWAY" and not self._away_notify:
            return None
        return out.wire(self._server_time, self._message_tags)

    def goodbye(self, reason: str) -> bytes:
        return Message("ERROR", [f"Closing Link: {self.conn.host} ({reason})"]).to_bytes()

    # -- keepalive: PING a silent client, drop it if the silence goes on -----------------

    def _awaiting_pong(self) -> bool:
        sent = self._ping_sent_at
        return sent is not None and self.conn.last_received < sent

    def next_deadline(self) -> float:
        if not self.registered:
            return super().next_deadline()  # the registration timeout
        if self._ping_sent_at is not None and self._awaiting_pong():
            return self._ping_sent_at + self.settings.ping_timeout
        return self.conn.last_received + self.settings.ping_interval

    def on_deadline(self, now: float) -> None:
        if not self.registered:
            super().on_deadline(now)
        elif now < self.next_deadline():
            return
        elif self._awaiting_pong():
            silence = round(now - self.conn.last_received)
            self.conn.finish(f"Ping timeout: {silence} seconds", tell_peer=True)
        else:
            self._ping_sent_at = now
            self.conn.send(Message("PING", [self.settings.server_name]).to_bytes())

    # -- input ----------------------------------------------------------------------------

    def on_line(self, line: str | None) -> None:
        if (
            line is None
            or irc.body_length(line) > irc.MAX_LINE_BYTES
            or irc.tag_data_length(line) > irc.MAX_CLIENT_TAG_DATA_BYTES
        ):
            self.reply(irc.ERR_INPUTTOOLONG, tr("Input line was too long"))
        else:
            try:
                message = parse(line)
            except ValueError:
                return
            handler = COMMANDS.get(message.command)
            if irc.breaks_a_line(line):
                self._refuse_line_break(message)
            elif handler is None:
                if self.registered:
                    self.reply(irc.ERR_UNKNOWNCOMMAND, message.command, tr("Unknown command"))
                else:
                    self.reply(irc.ERR_NOTREGISTERED, tr("You have not registered"))
            elif not self.registered and message.command not in PRE_REGISTRATION:
                self.reply(irc.ERR_NOTREGISTERED, tr("You have not registered"))
            else:
                handler(self, message)
        flush_soon([self.conn])

    def _refuse_line_break(self, message: Message) -> None:
        """A line with a bare CR inside (or LF or NUL, were they to get this far) is refused
        whole, before any handler sees it: nothing it carries is stored or relayed, where
        it would break the line of everyone who is sent it (a topic, a realname, a reason, a
        message, a tag). The client is told and stays.

        The reply is ``400 ERR_UNKNOWNERROR <client> <command> :<info>``: Modern IRC's
        numeric for "the given command could not be processed". No numeric of RFC 1459/2812
        or Modern IRC means "a parameter holds a character a line cannot carry": 417 is for
        a line over the length limit, 412 says the text is missing, 461 that parameters are
        missing; and IRCv3's ``FAIL`` (standard replies) is for clients that negotiated it,
        while every client understands a numeric from the 400 range as an error.
        Exceptions: a NOTICE never draws an error reply (it is dropped), and QUIT is still
        carried out, without its reason: the person leaves either way.
        """
        if message.command == "QUIT":
            self.on_quit(Message("QUIT"))
        elif message.command != "NOTICE":
            self.reply(
                irc.ERR_UNKNOWNERROR,
                message.command,
                tr("Line refused: a CR, LF or NUL inside it would break it"),
            )

    def need_params(self, message: Message, count: int) -> bool:
        """True (after replying 461) when ``message`` has fewer than ``count`` parameters."""
        if len(message.params) >= count and all(message.params[:count]):
            return False
        self.reply(irc.ERR_NEEDMOREPARAMS, message.command, tr("Not enough parameters"))
        return True

    # -- registration ---------------------------------------------------------------------

    def on_cap(self, message: Message) -> None:
        if self.need_params(message, 1):
            return
        sub = message.params[0].upper()
        source = self.settings.server_name
        if sub == "LS":
            if not self.registered:
                self.cap_negotiating = True
            self._cap_version = max(self._cap_version, wire_number(message.param(1)) or 0)
            offered = (
                f"{cap}={value}" if value and self._cap_version >= 302 else cap
                for cap, value in SERVER_CAPABILITIES.items()
            )
            self.send_message(
                Message("CAP", [self.name_for_replies, "LS", " ".join(offered)], source)
            )
        elif sub == "LIST":
            self.send_message(
                Message("CAP", [self.name_for_replies, "LIST", " ".join(sorted(self.caps))], source)
            )
        elif sub == "REQ":
            if not self.registered:
                self.cap_negotiating = True
            wanted = message.param(1).split()
            names = [cap.removeprefix("-") for cap in wanted]
            if wanted and all(name in SERVER_CAPABILITIES for name in names):
                for cap in wanted:
                    if cap.startswith("-"):
                        self.caps.discard(cap[1:])
                    else:
                        self.caps.add(cap)
                self._server_time = "server-time" in self.caps
                self._message_tags = "message-tags" in self.caps
                self._away_notify = "away-notify" in self.caps
                self._multi_prefix = "multi-prefix" in self.caps
                self.echo_message = "echo-message" in self.caps
                verdict = "ACK"
            else:
                verdict = "NAK"
            self.send_message(
                Message("CAP", [self.name_for_replies, verdict, message.param(1)], source)
            )
        elif sub == "END":
            if not self.registered:
                self.cap_negotiating = False
                self._try_register()
        else:
            self.reply(irc.ERR_INVALIDCAPCMD, message.params[0], tr("Invalid CAP command"))

    def on_pass(self, message: Message) -> None:
        if self.registered:
            self.reply(irc.ERR_ALREADYREGISTERED, tr("You may not reregister"))
        elif not self.need_params(message, 1):
            self.password = message.params[0]

    def on_session(self, message: Message) -> None:
        """``SESSION <token>``: the secret that lets a reconnecting client reclaim its nick."""
        if SESSION_CAP not in self.caps:
            self.reply(irc.ERR_UNKNOWNCOMMAND, "SESSION", tr("Unknown command"))
        elif self.registered:
            self.reply(irc.ERR_ALREADYREGISTERED, tr("You may not reregister"))
        elif not self.need_params(message, 1):
            token = message.params[0]
            if 16 <= len(token) <= 64 and token.isalnum():
                self.token, self.alias = token, session_alias(token)

    def on_nick(self, message: Message) -> None:
        if not message.params or not message.params[0]:
            self.reply(irc.ERR_NONICKNAMEGIVEN, tr("No nickname given"))
            return
        nick = normal_nick(message.params[0])
        if not is_valid_nick(nick):
            self.reply(irc.ERR_ERRONEUSNICKNAME, nick, tr("Erroneous nickname"))
            return
        refused = None
        if self.registered or not self.rooms.guard.required:
            # before the password is known, who is here is not told: registering checks it
            refused = self.rooms.nick_refusal(nick, self)
        if refused not in (None, NickRefused.REGISTERED) or (self.registered and refused):
            self._refuse_nick(nick, refused)
        elif not self.registered:
            # a registered nick waits for registration to end: a SASL login (AUTHENTICATE
            # usually comes after NICK) may make it this client's
            self.nick = nick
            self._try_register()
        elif nick == self.nick:
            return
        elif (barred := self.rooms.barred_from_renaming(self)) is not None:
            self.reply(
                irc.ERR_BANNICKCHANGE,
                nick,
                barred,
                tr("Cannot change nickname while banned or muted on the channel"),
            )
        elif not self.rooms.rename(self, nick):
            self._refuse_nick(nick, self.rooms.nick_refusal(nick, self))

    def _refuse_nick(self, nick: str, refused: NickRefused | None) -> None:
        """432 for a reserved nick; 433 saying why for one in use or registered."""
        if refused is NickRefused.RESERVED:
            self.reply(irc.ERR_ERRONEUSNICKNAME, nick, tr("Erroneous nickname: it is reserved"))
        elif refused is NickRefused.REGISTERED:
            # the client (net.client_protocol) finds "regist" in it, in either language
            self.reply(
                irc.ERR_NICKNAMEINUSE,
                nick,
                tr("Nickname is registered: log in to its account (SASL) with its password"),
            )
        else:
            self.reply(irc.ERR_NICKNAMEINUSE, nick, tr("Nickname is already in use"))

    def on_user(self, message: Message) -> None:
        if self.registered:
            self.reply(irc.ERR_ALREADYREGISTERED, tr("You may not reregister"))
        elif not self.need_params(message, 4):
            self.username = "~" + message.params[0][: irc.USERLEN - 1]
            self.realname = message.params[3]
            self._try_register()

    def _try_register(self) -> None:
        if self.registered or self.cap_negotiating or not self.nick or self.username == "user":
            return
        if self.password is None and self.rooms.guard.required:
            # no password given is no guess: said so, and the address is not slowed down
            # (a web page or a window asks for it, then comes back with it at once)
            self.reply(irc.ERR_PASSWDMISMATCH, tr("This server needs a password (PASS)."))
            self.conn.enqueue(self.goodbye("Password required"))
            self.conn.finish("Password required")
            return
        verdict = self.rooms.guard.check(self.conn.ip, self.password)
        if verdict is not Verdict.RIGHT:
            if verdict is Verdict.WAIT:
                wait = self.rooms.guard.wait_seconds(self.conn.ip)
                why = tr(
                    "Too many wrong passwords from your address: try again in {seconds} s."
                ).format(seconds=wait)
            else:
                why = tr("Password incorrect")
            self.reply(irc.ERR_PASSWDMISMATCH, why)
            self.conn.enqueue(self.goodbye("Bad password"))
            self.conn.finish("Bad password")
            return
        if self._sasl is not None:  # CAP END in the middle of a SASL exchange ends it
            self._sasl = None
            self.reply(irc.ERR_SASLABORTED, tr("SASL authentication aborted"))
        if not self.rooms.register(self):
            self._refuse_nick(self.nick, self.rooms.nick_refusal(self.nick, self))
            self.nick = ""
            return
        self._welcome()

    def _welcome(self) -> None:
        config = self.settings
        created = datetime.fromtimestamp(self.rooms.created, timezone.utc)
        self.reply(
            irc.RPL_WELCOME,
            tr("Welcome to {network}, {prefix}").format(network=config.network, prefix=self.prefix),
        )
        self.reply(
            irc.RPL_YOURHOST,
            tr("Your host is {server}, running version {version}").format(
                server=config.server_name, version=VERSION
            ),
        )
        self.reply(
            irc.RPL_CREATED,
            tr("This server was created {date}").format(
                date=created.strftime("%Y-%m-%d %H:%M UTC")
            ),
        )
        self.reply(irc.RPL_MYINFO, config.server_name, VERSION, "io", "biklmnoqstvS", "bklovqS")
        self._isupport()
        self.on_lusers(Message("LUSERS"))
        self.on_motd(Message("MOTD"))

    def _isupport(self) -> None:
        """The 005 lines: what this server supports (after 004, and after VERSION)."""
        config = self.settings
        # what clients need to read the rest (modes, prefixes, names) comes first: a client
        # may act on the first 005 line before the second arrives
        tokens = [
            "CASEMAPPING=rfc1459",
            f"CHANLIMIT={irc.CHANTYPES}:{config.channels_per_person}",
            f"CHANMODES={CHANMODES}",
            f"CHANNELLEN={irc.CHANNELLEN}",
            f"CHANTYPES={irc.CHANTYPES}",
            "ELIST=MNU",
            "EXTBAN=$,a",
            "INVEX",
            f"MODES={MAX_PARAM_CHANGES}",
            f"NETWORK={config.network}",
            f"NICKLEN={irc.NICKLEN}",
            f"PREFIX={PREFIX}",
            f"TARGMAX=KICK:{irc.MAX_TARGETS},NAMES:{irc.MAX_TARGETS},"
            f"NOTICE:{irc.MAX_TARGETS},PRIVMSG:{irc.MAX_TARGETS},WHOWAS:{irc.MAX_TARGETS}",
            f"MAXLIST=bqI:{MAX_LIST_ENTRIES}",
            f"AWAYLEN={irc.AWAYLEN}",
            f"KICKLEN={irc.KICKLEN}",
            f"TOPICLEN={irc.TOPICLEN}",
            f"USERLEN={irc.USERLEN}",
            "WHOX",
            f"CHATHISTORY={MAX_LIMIT}",
            "MSGREFTYPES=msgid,timestamp",
        ]
        if self.rooms.uploads is not None:  # this session's own: see net.uploads
            tokens.append(f"charla.chat/UPLOAD={self.rooms.uploads.token_for(self)}")
        for start in range(0, len(tokens), ISUPPORT_TOKENS_PER_LINE):
            chunk = tokens[start : start + ISUPPORT_TOKENS_PER_LINE]
            self.reply(irc.RPL_ISUPPORT, *chunk, tr("are supported by this server"))

    # -- accounts: SASL PLAIN and REGISTER ---------------------------------------------------

    def on_authenticate(self, message: Message) -> None:
        """IRCv3 SASL: ``AUTHENTICATE PLAIN``, then the base64 answer in chunks of 400
        (a chunk of exactly 400 means more follows; ``+`` is an empty one), ``*`` aborts.
        Allowed before and after registration, once per connection (907 after that)."""
        if SASL_CAP not in self.caps:
            self.reply(
                irc.ERR_SASLFAIL, tr("SASL authentication failed: request the sasl capability")
            )
            return
        if self.need_params(message, 1):
            return
        data = message.params[0]
        if data == "*":
            self._sasl = None
            self.reply(irc.ERR_SASLABORTED, tr("SASL authentication aborted"))
        elif self.account is not None:
            self._sasl = None
            self.reply(irc.ERR_SASLALREADY, tr("You have already authenticated using SASL"))
        elif self._sasl is None:
            if (
                not self.registered
                and self.rooms.guard.required
                and (
                    self.password is None  # no guess made: none counted
                    or self.rooms.guard.check(self.conn.ip, self.password) is not Verdict.RIGHT
                )
            ):
                # nobody without the server's password may guess account passwords on it,
                # nor learn one was right (PASS comes before AUTHENTICATE from every client)
                self.reply(irc.ERR_SASLFAIL, tr("SASL authentication failed: give PASS first"))
            elif data.upper() == SASL_MECHANISMS:
                self._sasl = []
                self.send_message(Message("AUTHENTICATE", ["+"]))
            else:
                self.reply(irc.RPL_SASLMECHS, SASL_MECHANISMS, tr("are available SASL mechanisms"))
                self.reply(irc.ERR_SASLFAIL, tr("SASL authentication failed"))
        elif len(data) > SASL_CHUNK or (len(self._sasl) + 1) * SASL_CHUNK > MAX_SASL_BYTES * 2:
            self._sasl = None
            self.reply(irc.ERR_SASLTOOLONG, tr("SASL message too long"))
        else:
            if data != "+":
                self._sasl.append(data)
            if len(data) < SASL_CHUNK:  # the last chunk
                answer, self._sasl = "".join(self._sasl), None
                self._sasl_plain(answer)

    def _sasl_plain(self, answer: str) -> None:
        """Check a PLAIN answer (RFC 4616: ``authzid NUL authcid NUL password``, base64)."""
        try:
            authzid, authcid, password = (
                binascii.a2b_base64(answer, strict_mode=True).decode("utf-8").split("\0")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.reply(irc.ERR_SASLFAIL, tr("SASL authentication failed: not a PLAIN answer"))
            return
        if authzid and nick_key(authzid) != nick_key(authcid):
            self.reply(
                irc.ERR_SASLFAIL, tr("SASL authentication failed: one may act only as oneself")
            )
            return
        verdict, account = self.rooms.accounts.log_in(self.conn.ip, authcid, password)
        if verdict is Verdict.WAIT:
            wait = self.rooms.accounts.wait_seconds(self.conn.ip, authcid)
            self.reply(
                irc.ERR_SASLFAIL,
                tr(
                    "SASL authentication failed: too many wrong passwords from your address: "
                    "try again in {seconds} s"
                ).format(seconds=wait),
            )
        elif verdict is Verdict.WRONG or account is None:
            self.reply(irc.ERR_SASLFAIL, tr("SASL authentication failed"))
        else:
            self._logged_in(account)
            self.reply(irc.RPL_SASLSUCCESS, tr("SASL authentication successful"))

    def _logged_in(self, account: str) -> None:
        self.rooms.log_in(self, account)
        username = self.username if self.username != "user" else "*"  # no USER yet
        host = f"{self.nick or '*'}!{username}@{self.conn.host}"
        self.reply(
            irc.RPL_LOGGEDIN,
            host,
            account,
            tr("You are now logged in as {account}").format(account=account),
        )

    def on_register(self, message: Message) -> None:
        """draft/account-registration: ``REGISTER <account|*> <email|*> <password>``; the
        account name is the nick (``*`` says so); success logs the session in."""
        if len(message.params) < 3 or not all(message.params[:3]):
            self._fail_register(
                "NEED_MORE_PARAMS", "*", tr("Usage: REGISTER <account> * <password>")
            )
            return
        name, _email, password = message.params[:3]  # no e-mail: nothing is sent anywhere
        if name == "*":
            name = self.nick
        name = normal_nick(name)
        if self.account is not None:
            self._fail_register(
                "ALREADY_AUTHENTICATED", self.account, tr("You are logged in already")
            )
        elif not self.registered and self.rooms.guard.required:
            # nobody who has not given the server's password may make accounts on it
            self._fail_register(
                "COMPLETE_CONNECTION_REQUIRED", name or "*", tr("Give the server password first")
            )
        elif not self.nick:
            self._fail_register("NEED_NICK", name or "*", tr("Choose a nick first (NICK)"))
        elif not is_valid_nick(name) or (
            # a reserved word (or a look-alike) is an account only for a teacher named
            # beforehand with --teacher: "profe" is the teacher's, never a student's
            is_reserved(name, self.settings.server_name)
            and not self.rooms.accounts.is_teacher(name)
        ):
            self._fail_register("BAD_ACCOUNT_NAME", name, tr("That name cannot be an account"))
        elif nick_key(name) != nick_key(self.nick):
            self._fail_register(
                "ACCOUNT_NAME_MUST_BE_NICK", name, tr("The account's name must be your nick")
            )
        elif (holder := self.rooms.find_session(name)) is not None and holder is not self:
            self._fail_register("USERNAME_EXISTS", name, tr("Someone else is using that nick"))
        else:
            refused = self.rooms.accounts.register(name, password, self.conn.ip)
            if refused is None:
                self.send_message(
                    Message(
                        "REGISTER",
                        ["SUCCESS", name, tr("Account created: you are logged in")],
                        self.settings.server_name,
                    )
                )
                self._logged_in(name)
            else:
                self._fail_register(refused.code, name, _register_refusal(refused.code))

    def _fail_register(self, code: str, account: str, text: str) -> None:
        self.send_message(
            Message(
                "FAIL",
                ["REGISTER", code, irc.as_middle_param(account), text],
                self.settings.server_name,
            )
        )

    # -- queries -----------------------------------------------------------------------------

    def on_lusers(self, message: Message) -> None:
        """251 to 255 and 265/266, as Modern IRC lists them; one server, nobody invisible."""
        counts = self.rooms.lusers()
        users, most = counts.users, counts.most_users
        self.reply(
            irc.RPL_LUSERCLIENT,
            tr("There are {users} users and 0 invisible on 1 servers").format(users=users),
        )
        self.reply(irc.RPL_LUSEROP, str(counts.teachers), tr("operator(s) online"))
        unknown = self.rooms.count_unregistered()
        self.reply(irc.RPL_LUSERUNKNOWN, str(unknown), tr("unknown connection(s)"))
        self.reply(irc.RPL_LUSERCHANNELS, str(counts.channels), tr("channels formed"))
        self.reply(irc.RPL_LUSERME, tr("I have {users} clients and 0 servers").format(users=users))
        self.reply(
            irc.RPL_LOCALUSERS,
            str(users),
            str(most),
            tr("Current local users {users}, max {most}").format(users=users, most=most),
        )
        self.reply(
            irc.RPL_GLOBALUSERS,
            str(users),
            str(most),
            tr("Current global users {users}, max {most}").format(users=users, most=most),
        )

    def on_motd(self, message: Message) -> None:
        if not self._is_this_server(message):
            return
        motd = self.settings.motd
        if motd is None:
            motd = tr(
                "Welcome to Charla, the chat of this classroom.\n"
                "Be kind: what you write in {channel} reaches everyone there."
            ).format(channel=self.settings.channel)
            limit = ntr(
                "You may be in only {count} channel at once.",
                "You may be in up to {count} channels at once.",
                self.settings.channels_per_person,
            )
            motd = f"{motd}\n{limit.format(count=self.settings.channels_per_person)}"
        if self.settings.history_size > 0:
            history = self.rooms.history
            if history.saving:
                kept = tr(
                    "Messages in channels are kept on this server (the last {count} of each)."
                )
            elif history.on_disk:  # a full or read-only disk, for now
                kept = tr(
                    "Messages are not being saved to disk right now: they still arrive, but "
                    "are not saved (the last {count} of each channel are kept until the "
                    "server stops)."
                )
            else:
                kept = tr(
                    "Messages in channels are kept until the server stops (the last {count})."
                )
            motd = f"{motd}\n{kept.format(count=self.settings.history_size)}".strip()
            if self.settings.history_expiry > 0:
                forgotten = tr(
                    "Those of a channel everybody has left are forgotten after {minutes} min "
                    "(not those of {channel})."
                ).format(
                    minutes=round(self.settings.history_expiry / 60), channel=self.settings.channel
                )
                motd = f"{motd}\n{forgotten}"
        if not self.rooms.accounts.on_disk:
            accounts = tr("Accounts registered here are kept only until the server stops.")
            motd = f"{motd}\n{accounts}".strip()
        if not motd:
            self.reply(irc.ERR_NOMOTD, tr("MOTD File is missing"))
            return
        server_name = self.settings.server_name
        self.reply(
            irc.RPL_MOTDSTART, tr("- {server} Message of the day - ").format(server=server_name)
        )
        for text in motd.splitlines() or [""]:
            self.reply(irc.RPL_MOTD, f"- {text}")
        self.reply(irc.RPL_ENDOFMOTD, tr("End of /MOTD command."))

    def on_ping(self, message: Message) -> None:
        if not self.need_params(message, 1):
            server_name = self.settings.server_name
            self.send_message(Message("PONG", [server_name, message.params[0]], server_name))

    def on_pong(self, message: Message) -> None:
        """Nothing to do: receiving anything already proves the client is alive."""

    def on_quit(self, message: Message) -> None:
        given = message.params[0] if message.params else ""
        reason = f"{USER_QUIT_PREFIX}{given}" if given else "Quit"
        self.rooms.quit(self, reason)
        self.conn.enqueue(self.goodbye(reason))
        self.conn.finish(reason)

    # -- channels ----------------------------------------------------------------------------

    def on_join(self, message: Message) -> None:
        if self.need_params(message, 1):
            return
        if message.params[0] == "0":
            for channel in self.rooms.channels_of(self):
                self.rooms.part(self, channel, "")
            return
        names = message.params[0].split(",")
        keys = message.param(1).split(",")
        self.conn.charge_flood(len(names) - 1)  # a line that does the work of several
        for number, name in enumerate(names):
            if not is_valid_channel(name):
                self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
                continue
            joined = self.rooms.join(self, name, keys[number] if number < len(keys) else "")
            if joined is JoinRefused.BANNED:
                self.reply(
                    irc.ERR_BANNEDFROMCHAN, name, tr("Cannot join channel: you are banned (+b)")
                )
            elif joined is JoinRefused.INVITE_ONLY:
                self.reply(
                    irc.ERR_INVITEONLYCHAN,
                    name,
                    tr("Cannot join channel: it is invite only (+i); ask to be invited"),
                )
            elif joined is JoinRefused.BAD_KEY:
                self.reply(
                    irc.ERR_BADCHANNELKEY,
                    name,
                    tr("Cannot join channel: wrong or missing key (+k)"),
                )
            elif joined is JoinRefused.FULL:
                self.reply(irc.ERR_CHANNELISFULL, name, tr("Cannot join channel: it is full (+l)"))
            elif joined is JoinRefused.TOO_MANY_FOR_PERSON:
                self.reply(irc.ERR_TOOMANYCHANNELS, name, tr("You have joined too many channels"))
            elif joined is JoinRefused.TOO_MANY_FROM_ADDRESS:
                self.reply(
                    irc.ERR_TOOMANYCHANNELS,
                    name,
                    tr(
                        "Too many channels were opened from your address ({count}): "
                        "join one that exists"
                    ).format(count=self.settings.channels_per_address),
                )
            elif joined is JoinRefused.TOO_MANY_ON_SERVER:
                self.reply(
                    irc.ERR_TOOMANYCHANNELS,
                    name,
                    tr("The server has too many channels ({count}): join one that exists").format(
                        count=self.settings.max_channels
                    ),
                )

    def joined_replies(self, channel: ChannelView, recent: list[Outgoing]) -> bytes:
        """Topic, names and recent history for the joiner (built under ``Rooms``' lock)."""
        lines: list[bytes] = []
        if channel.topic:
            lines.append(self._numeric(irc.RPL_TOPIC, channel.name, channel.topic))
            lines.append(
                self._numeric(
                    irc.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(int(channel.topic_at))
                )
            )
        lines += self._names_lines(channel, channel.secret)
        if recent:
            lines += self._history_lines(channel.name, recent)
        return b"".join(lines)

    def _history_lines(self, channel_name: str, recent: list[Outgoing]) -> list[bytes]:
        """The channel's recent messages: an IRCv3 chathistory batch for clients that
        negotiated ``batch``, else notices from the server that say when each was sent."""
        if "batch" in self.caps:
            return self._batched("chathistory", [channel_name], recent)
        texts = irc_history(channel_name, history_lines(recent))
        server_name = self.settings.server_name
        return [Message("NOTICE", [channel_name, text], server_name).to_bytes() for text in texts]

    def _batched(self, kind: str, params: list[str], kept: list[Outgoing]) -> list[bytes]:
        """Kept messages in an IRCv3 batch of ``kind`` (``chathistory``), as they were
        said, with their times; the reactions only to a client that reads tags."""
        server_name = self.settings.server_name
        ref = f"h{next(_batch_refs)}"  # unique on this connection, all a client needs
        lines = [Message("BATCH", [f"+{ref}", kind, *params], server_name).to_bytes()]
        lines += [
            out.replayed(ref, self._server_time, self._message_tags)
            for out in kept
            if self._message_tags or out.message.command != "TAGMSG"
        ]
        lines.append(Message("BATCH", [f"-{ref}"], server_name).to_bytes())
        return lines

    def _names_lines(self, channel: ChannelView, secret: bool = False) -> list[bytes]:
        """353 lines, each well inside 512 bytes, and the closing 366; each nick with the
        prefix of its status (``@``, ``+``)."""
        lines: list[bytes] = []
        batch: list[str] = []
        size = 0
        symbol = "@" if secret else "="
        statuses = channel.statuses or ("",) * len(channel.nicks)
        for bare, status in zip(channel.nicks, statuses, strict=True):
            nick = status_prefixes(status, multi=self._multi_prefix) + bare if status else bare
            if batch and size + len(nick) + 1 > NAMES_PER_LINE_BYTES:
                lines.append(self._numeric(irc.RPL_NAMREPLY, symbol, channel.name, " ".join(batch)))
                batch, size = [], 0
            batch.append(nick)
            size += len(nick.encode()) + 1
        if batch:
            lines.append(self._numeric(irc.RPL_NAMREPLY, symbol, channel.name, " ".join(batch)))
        lines.append(self._numeric(irc.RPL_ENDOFNAMES, channel.name, tr("End of /NAMES list")))
        return lines

    def _my_channel(self, name: str) -> Channel | None:
        """The channel ``name`` if this session is on it; else replies 403 or 442."""
        channel, member = self.rooms.lookup_channel(name, self)
        if channel is None:
            self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
        elif not member:
            self.reply(irc.ERR_NOTONCHANNEL, name, tr("You're not on that channel"))
        else:
            return channel
        return None

    def on_part(self, message: Message) -> None:
        if self.need_params(message, 1):
            return
        for name in message.params[0].split(","):
            channel = self._my_channel(name)
            if channel is not None:
                self.rooms.part(self, channel, message.param(1))

    def on_names(self, message: Message) -> None:
        """``NAMES <#chan>[,<#chan>…]``: the 353 lines of each channel (at most
        ``MAX_TARGETS``, ISUPPORT ``TARGMAX``), then one 366 naming the parameter as
        given (Modern IRC: one RPL_ENDOFNAMES, with the name, for a channel that does not
        exist or is secret and not yours; irctest names.py: one for several)."""
        if not message.params or not message.params[0]:
            self.reply(irc.RPL_ENDOFNAMES, "*", tr("End of /NAMES list"))
            return
        lines: list[bytes] = []
        for name in message.params[0].split(",")[: irc.MAX_TARGETS]:
            channel = self.rooms.find_channel(name)
            view = None if channel is None else self.rooms.names_view(channel, self)
            if view is not None:  # else no such channel, or a secret one this client is not in
                lines += self._names_lines(view, view.secret)[:-1]
        self.conn.enqueue(b"".join(lines))
        self.reply(irc.RPL_ENDOFNAMES, message.params[0], tr("End of /NAMES list"))

    def on_topic(self, message: Message) -> None:
        if self.need_params(message, 1):
            return
        name = message.params[0]
        if len(message.params) == 1:
            channel = self.rooms.find_channel(name)
            if channel is None or self.rooms.names_view(channel, self) is None:  # or secret
                self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
                return
            view = self.rooms.view(channel)
            if view.topic:
                self.reply(irc.RPL_TOPIC, view.name, view.topic)
                self.reply(irc.RPL_TOPICWHOTIME, view.name, view.topic_by, str(int(view.topic_at)))
            else:
                self.reply(irc.RPL_NOTOPIC, channel.name, tr("No topic is set"))
            return
        channel = self._my_channel(name)
        if channel is not None and not self.rooms.set_topic(
            self, channel, message.params[1][: irc.TOPICLEN]
        ):
            self.reply(
                irc.ERR_CHANOPRIVSNEEDED,
                channel.name,
                tr("You're not channel operator: the topic is locked (+t)"),
            )

    def on_list(self, message: Message) -> None:
        """``LIST [<term>[,<term>…]]``: the channels this client may see (a secret one only
        to its members). A term is a channel name; or, as ISUPPORT ``ELIST=MNU`` says
        (Modern IRC, "ELIST Parameter"), a mask (``M``: ``#c*``), a mask not to match
        (``N``: ``!#c*``) or a number of members (``U``: ``<n`` fewer than n, ``>n`` more).
        Names and masks widen the list, the others narrow it; at most ``MAX_TARGETS``
        masks in all are tried, none longer than a channel name may be."""
        terms = [term for term in message.param(0).split(",") if term]
        wanted: set[str] = set()
        masks: list[str] = []
        not_masks: list[str] = []
        fewer = more = None
        for term in terms:
            if term[0] in "<>":
                count = wire_number(term[1:])
                if count is not None and term[0] == "<":
                    fewer = count if fewer is None else min(fewer, count)
                elif count is not None:
                    more = count if more is None else max(more, count)
            elif len(term) > irc.CHANNELLEN + 1:
                continue  # no channel name is that long: a mask this long only costs time
            elif term[0] == "!":
                not_masks.append(irc_lower(term[1:]))
            elif "*" in term or "?" in term:
                masks.append(irc_lower(term))
            else:
                wanted.add(irc_lower(term))
        # each mask is tried on every channel: MAX_TARGETS of them in all, and each one
        # past the first costs a line of flood allowance, as a message's targets do
        masks = masks[: irc.MAX_TARGETS]
        not_masks = not_masks[: irc.MAX_TARGETS - len(masks)]
        self.conn.charge_flood(len(masks) + len(not_masks) - 1)
        widened = bool(wanted or masks)
        rows = [
            (name, count, topic)
            for name, count, topic in self.rooms.list_rows(
                wanted if widened and not masks else None, self
            )
            if (
                not widened
                or irc_lower(name) in wanted
                or any(mask_match(mask, irc_lower(name)) for mask in masks)
            )
            and not any(mask_match(mask, irc_lower(name)) for mask in not_masks)
            and (fewer is None or count < fewer)
            and (more is None or count > more)
        ]
        self.reply(irc.RPL_LISTSTART, "Channel", tr("Users  Name"))
        for name, count, topic in rows:
            self.reply(irc.RPL_LIST, name, str(count), topic)
        self.reply(irc.RPL_LISTEND, tr("End of /LIST"))

    def on_kick(self, message: Message) -> None:
        """``KICK <#chan>[,<#chan>…] <nick>[,<nick>…] [reason]``. RFC 2812 3.2.8: "either
        one channel parameter and multiple user parameter, or as many channel parameters
        as there are user parameters"; anything else is 461. At most ``MAX_TARGETS``
        nicks (ISUPPORT ``TARGMAX``), each kicked with its own KICK line."""
        if self.need_params(message, 2):
            return
        names = message.params[0].split(",")
        nicks = message.params[1].split(",")[: irc.MAX_TARGETS]
        if len(names) == 1:
            names = names * len(nicks)
        elif len(names) != len(message.params[1].split(",")):
            self.reply(irc.ERR_NEEDMOREPARAMS, "KICK", tr("Not enough parameters"))
            return
        reason = message.param(2)[: irc.KICKLEN]
        self.conn.charge_flood(len(nicks) - 1)
        # names may be longer: nicks past MAX_TARGETS were dropped, with their channels
        for name, nick in zip(names, nicks, strict=False):
            channel = self.rooms.find_channel(name)
            if channel is None:
                self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
                continue
            refused = self.rooms.kick(self, channel, nick, reason)
            if refused is not None:
                self._refused(refused, channel.name)
                if refused.why in ("chanop", "notonchannel") and len(set(names)) == 1:
                    return

    def _refused(self, refused: ModeRefused, channel_name: str) -> None:
        """The numeric for a change, KICK or INVITE that ``Rooms`` did not make."""
        why, target = refused.why, refused.target
        if why == "chanop":
            self.reply(irc.ERR_CHANOPRIVSNEEDED, channel_name, tr("You're not channel operator"))
        elif why == "teacher":
            self.reply(
                irc.ERR_CHANOPRIVSNEEDED,
                channel_name,
                tr("{nick} is a teacher: only another teacher may do that").format(nick=target),
            )
        elif why == "notonchannel":
            self.reply(irc.ERR_NOTONCHANNEL, channel_name, tr("You're not on that channel"))
        elif why == "nosuchnick":
            self.reply(irc.ERR_NOSUCHNICK, target, tr("No such nick/channel"))
        elif why == "notinchannel":
            self.reply(
                irc.ERR_USERNOTINCHANNEL, target, channel_name, tr("They aren't on that channel")
            )
        elif why == "onchannel":
            self.reply(irc.ERR_USERONCHANNEL, target, channel_name, tr("is already on channel"))
        elif why == "listfull" and refused.detail == "address":
            self.reply(
                irc.ERR_BANLISTFULL,
                channel_name,
                target,
                tr(
                    "Your address has set as many bans and mutes as it may ({count}, all "
                    "channels together): remove some first"
                ).format(count=ENTRIES_PER_ADDRESS),
            )
        elif why == "listfull":
            self.reply(
                irc.ERR_BANLISTFULL,
                channel_name,
                target,
                tr("The list is full ({count} entries): remove one first").format(
                    count=MAX_LIST_ENTRIES
                ),
            )
        else:  # "invalid"; a key is never echoed (others may read this on the screen)
            self.reply(
                irc.ERR_INVALIDMODEPARAM,
                channel_name,
                refused.letter,
                "*" if refused.letter == "k" or not target else target,
                tr("Invalid mode parameter: {why}").format(why=refused.detail),
            )

    def on_mode(self, message: Message) -> None:
        if self.need_params(message, 1):
            return
        target = message.params[0]
        if target[:1] in irc.CHANTYPES:
            self._channel_mode(target, message.params[1:])
        elif irc_lower(target) != irc_lower(self.nick):
            if self.rooms.find_session(target) is None:
                self.reply(irc.ERR_NOSUCHNICK, target, tr("No such nick/channel"))
            else:
                self.reply(irc.ERR_USERSDONTMATCH, tr("Can't change mode for other users"))
        elif len(message.params) == 1:
            self.reply(irc.RPL_UMODEIS, "+o" if self.rooms.is_teacher(self) else "+")
        elif message.params[1].strip("+-") not in ("", "i", "o"):
            self.reply(irc.ERR_UMODEUNKNOWNFLAG, tr("Unknown MODE flag"))

    def _channel_mode(self, name: str, params: list[str]) -> None:
        """``MODE #chan`` (324, 329), ``MODE #chan b`` (the list), ``MODE #chan +mv-o x y``."""
        channel = self.rooms.find_channel(name)
        if channel is None or self.rooms.names_view(channel, self) is None:
            self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
            return
        if not params:
            self.reply(irc.RPL_CHANNELMODEIS, channel.name, *self.rooms.mode_reply(self, channel))
            self.reply(irc.RPL_CREATIONTIME, channel.name, str(int(channel.created)))
            return
        parsed = parse_changes(params[0], params[1:])
        for letter in parsed.unknown:
            self.reply(irc.ERR_UNKNOWNMODE, letter, tr("is an unknown mode char to me"))
        for letter in parsed.lists:
            self._send_list(channel, letter)
        if parsed.missing:
            self.reply(irc.ERR_NEEDMOREPARAMS, "MODE", tr("Not enough parameters"))
        self._change_modes(channel, parsed.changes)

    def _change_modes(
        self, channel: Channel, changes: list[ModeChange], expires: float | None = None
    ) -> None:
        refused = self.rooms.change_modes(self, channel, changes, expires)
        for one in refused:
            self._refused(one, channel.name)

    def _send_list(self, channel: Channel, letter: str) -> None:
        """The bans (367/368), quiets (728/729) or invite exceptions (346/347) of a channel."""
        entries = self.rooms.list_entries(channel, letter)
        if letter == "I":
            for entry in entries:
                self.reply(
                    irc.RPL_INVEXLIST,
                    channel.name,
                    entry.mask,
                    entry.set_by,
                    str(int(entry.set_at)),
                )
            self.reply(
                irc.RPL_ENDOFINVEXLIST, channel.name, tr("End of channel invite exception list")
            )
            return
        for entry in entries:
            if letter == "b":
                self.reply(
                    irc.RPL_BANLIST, channel.name, entry.mask, entry.set_by, str(int(entry.set_at))
                )
            else:
                self.reply(
                    irc.RPL_QUIETLIST,
                    channel.name,
                    "q",
                    entry.mask,
                    entry.set_by,
                    str(int(entry.set_at)),
                )
        if letter == "b":
            self.reply(irc.RPL_ENDOFBANLIST, channel.name, tr("End of channel ban list"))
        else:
            self.reply(irc.RPL_ENDOFQUIETLIST, channel.name, "q", tr("End of channel quiet list"))

    def on_timed(self, message: Message) -> None:
        """``TBAN #chan SECONDS MASK`` and ``TQUIET #chan SECONDS MASK`` (InspIRCd's
        m_timedbans style): a ban or quiet that the server lifts when the time is up."""
        if self.need_params(message, 3):
            return
        name, seconds, mask = message.params[:3]
        channel = self.rooms.find_channel(name)
        if channel is None:
            self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
            return
        number = int(seconds) if seconds.isascii() and seconds.isdigit() else 0
        letter = "b" if message.command == "TBAN" else "q"
        if not TIMED_MIN <= number <= TIMED_MAX:
            self._refused(
                ModeRefused(
                    "invalid",
                    seconds,
                    letter,
                    tr("the time is {low} to {high} seconds").format(low=TIMED_MIN, high=TIMED_MAX),
                ),
                channel.name,
            )
            return
        expires = self.rooms.clock() + number
        self._change_modes(channel, [ModeChange(True, letter, mask)], expires)

    def on_invite(self, message: Message) -> None:
        """``INVITE nick #chan``: 341 to the inviter, INVITE to the invitee; ``INVITE``
        alone lists the invitations not used yet (336, 337)."""
        if not message.params:
            for name in self.rooms.invitations(self):
                self.reply(irc.RPL_INVITELIST, name)
            self.reply(irc.RPL_ENDOFINVITELIST, tr("End of /INVITE list"))
            return
        if self.need_params(message, 2):
            return
        nick, name = message.params[:2]
        channel = self.rooms.find_channel(name)
        if channel is None:  # RFC 2812: the channel need not exist; nothing to let past
            target = self.rooms.find_session(nick)
            if target is None:
                self.reply(irc.ERR_NOSUCHNICK, nick, tr("No such nick/channel"))
            elif not is_valid_channel(name):
                self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
            else:
                self.rooms.send_to_session(
                    target, Message("INVITE", [target.nick, name], self.prefix)
                )
                self.reply(irc.RPL_INVITING, target.nick, name)
            return
        invited = self.rooms.invite(self, nick, channel)
        if isinstance(invited, ModeRefused):
            self._refused(invited, channel.name)
        else:
            self.reply(irc.RPL_INVITING, invited.nick, channel.name)

    def on_oper(self, message: Message) -> None:
        """``OPER name password`` against ``--oper NAME:PASSWORD``, or a teacher's account
        and its password: a teacher (381), a wrong password (464, slowed per address as
        the server's password is), 491 when there is neither."""
        if self.need_params(message, 2):
            return
        name, password = message.params[:2]
        opers = self.settings.opers
        accounts = self.rooms.accounts
        teacher_account = name not in opers and accounts.is_teacher(name)
        if not opers and not teacher_account:
            self.reply(irc.ERR_NOOPERHOST, tr("No operator (teacher) is configured here"))
            return
        if teacher_account:  # a teacher's account and its password (slowed as logins are)
            login = accounts.log_in(self.conn.ip, name, password)
            verdict = login.verdict
            if verdict is Verdict.RIGHT and login.account is not None:
                self.rooms.log_in(self, login.account)  # logged in to it, as with SASL
        else:
            # the accounts' guard: one rule for every password a person gives once connected
            verdict = accounts.guard.judge_secret(
                self.conn.ip, f"oper {name}", password, opers.get(name)
            )
        if verdict is Verdict.RIGHT:
            self.rooms.make_teacher(self)
            self.reply(irc.RPL_YOUREOPER, tr("You are now a teacher (an IRC operator)"))
            self.send_message(Message("MODE", [self.nick, "+o"], self.settings.server_name))
        elif verdict is Verdict.WAIT:
            if teacher_account:
                wait = accounts.wait_seconds(self.conn.ip, name)
            else:
                wait = accounts.guard.wait_seconds(self.conn.ip, name=f"oper {name}")
            self.reply(
                irc.ERR_PASSWDMISMATCH,
                tr("Too many wrong passwords from your address: try again in {seconds} s.").format(
                    seconds=wait
                ),
            )
        else:
            self.reply(irc.ERR_PASSWDMISMATCH, tr("Password incorrect"))

    # -- who is who --------------------------------------------------------------------------

    def _who_line(self, row: WhoRow) -> bytes:
        return self._numeric(
            irc.RPL_WHOREPLY,
            row.channel,
            row.username,
            row.host,
            self.settings.server_name,
            row.nick,
            _who_flags(row, multi_prefix=self._multi_prefix),
            f"0 {row.realname or row.nick}",
        )

    def on_who(self, message: Message) -> None:
        """``WHO <mask> [%<fields>[,<token>]]``: 352 for each one matched, or, with IRCv3
        WHOX's second parameter, 354 with the fields asked for, in ``WHOX_FIELDS`` order;
        then 315 with the mask as given."""
        mask = message.param(0, "*") or "*"
        rows = self.rooms.who(mask, self)
        fields, _, token = message.param(1).partition(",")
        if fields.startswith("%"):
            token = token if token.isascii() and token.isdigit() and len(token) <= 3 else "0"
            wanted = [field for field in WHOX_FIELDS if field in fields]
            lines = [self._whox_line(row, wanted, token) for row in rows]
        else:
            lines = [self._who_line(row) for row in rows]
        self.conn.enqueue(b"".join(lines))
        self.reply(irc.RPL_ENDOFWHO, mask, tr("End of /WHO list"))

    def _whox_line(self, row: WhoRow, fields: list[str], token: str) -> bytes:
        """A 354 (IRCv3 whox) with ``fields``; idle time is not kept (0), nor op levels."""
        value = {
            "t": token,
            "c": row.channel,
            "u": row.username,
            "i": row.host,  # hosts are addresses: Charla looks up no names
            "h": row.host,
            "s": self.settings.server_name,
            "n": row.nick,
            "f": _who_flags(row, multi_prefix=self._multi_prefix),
            "d": "0",
            "l": "0",
            "a": row.account or "0",
            "o": "n/a",
            "r": row.realname or row.nick,
        }
        return self._numeric(irc.RPL_WHOSPCRPL, *(value[field] for field in fields))

    def on_whois(self, message: Message) -> None:
        if not message.params or not message.params[-1]:
            self.reply(irc.ERR_NONICKNAMEGIVEN, tr("No nickname given"))
            return
        nick = message.params[-1]
        found = self.rooms.whois(nick, self)
        if found is None:
            self.reply(irc.ERR_NOSUCHNICK, nick, tr("No such nick/channel"))
        else:
            person, channels = found
            self.reply(
                irc.RPL_WHOISUSER, person.nick, person.username, person.host, "*", person.realname
            )
            if channels:
                self.reply(irc.RPL_WHOISCHANNELS, person.nick, " ".join(channels))
            self.reply(irc.RPL_WHOISSERVER, person.nick, self.settings.server_name, "Charla")
            if person.away:
                self.reply(irc.RPL_AWAY, person.nick, person.away)
            if person.teacher:
                self.reply(irc.RPL_WHOISOPERATOR, person.nick, tr("is a teacher (IRC operator)"))
            if person.account:
                self.reply(irc.RPL_WHOISACCOUNT, person.nick, person.account, tr("is logged in as"))
        self.reply(irc.RPL_ENDOFWHOIS, nick, tr("End of /WHOIS list"))

    def on_whowas(self, message: Message) -> None:
        """``WHOWAS <nick>[,<nick>…] [<count>]``: who had those nicks (exactly: Modern IRC
        allows no wildcards), newest first, up to ``<count>`` for each (not a positive
        number: all that are kept); 406 for a nick nobody had; one 369 at the end, naming
        the parameter as given. At most ``MAX_TARGETS`` nicks (ISUPPORT ``TARGMAX``)."""
        if not message.params or not message.params[0]:
            self.reply(irc.ERR_NONICKNAMEGIVEN, tr("No nickname given"))
            return
        count = wire_number(message.param(1).lstrip("+")) or 0
        found: list[GoneRow] = []
        for nick in message.params[0].split(",")[: irc.MAX_TARGETS]:
            rows = self.rooms.whowas(nick, count) if nick else []
            if not rows:
                self.reply(irc.ERR_WASNOSUCHNICK, nick, tr("There was no such nickname"))
            found += rows
        for row in sorted(found, key=lambda row: row.when, reverse=True):
            self._whowas_entry(row)
        self.reply(irc.RPL_ENDOFWHOWAS, message.params[0], tr("End of WHOWAS"))

    def _whowas_entry(self, row: GoneRow) -> None:
        self.reply(irc.RPL_WHOWASUSER, row.nick, row.username, row.host, "*", row.realname)
        when = datetime.fromtimestamp(row.when).astimezone().strftime(TIME_FORMAT)
        self.reply(irc.RPL_WHOISSERVER, row.nick, self.settings.server_name, when)

    def on_userhost(self, message: Message) -> None:
        """``USERHOST <nick>...``: ``nick[*]=(+|-)user@host`` for those here (``*``: a
        teacher, ``-``: away), up to ``USERHOST_MAX``; unknown nicks are left out."""
        if self.need_params(message, 1):
            return
        nicks = " ".join(message.params).split()[:USERHOST_MAX]
        replies = [
            f"{row.nick}{'*' if teacher else ''}={'-' if row.away else '+'}"
            f"{row.username}@{row.host}"
            for row, teacher in self.rooms.userhosts(nicks)
        ]
        self.reply(irc.RPL_USERHOST, " ".join(replies))

    def on_ison(self, message: Message) -> None:
        """``ISON <nick>...``: which of them are here, as they spell their nicks; at most
        ``ISON_MAX`` looked up, and a reply no longer than ``NAMES_PER_LINE_BYTES``."""
        if self.need_params(message, 1):
            return
        nicks = " ".join(message.params).split()[:ISON_MAX]
        here: list[str] = []
        size = 0
        for nick in self.rooms.ison(nicks):
            size += len(nick.encode()) + 1
            if size > NAMES_PER_LINE_BYTES:
                break
            here.append(nick)
        self.reply(irc.RPL_ISON, " ".join(here))

    # -- the server itself ---------------------------------------------------------------------

    def _is_this_server(self, message: Message) -> bool:
        """Whether the optional ``<target>`` of a server query is this server (its name, a
        mask matching it, or a nick: everyone is on this one server); else replies 402."""
        target = message.param(0)
        if not target:
            return True
        server_name = self.settings.server_name
        if mask_match(irc_lower(target), irc_lower(server_name)):
            return True
        if "*" not in target and self.rooms.find_session(target) is not None:
            return True
        self.reply(irc.ERR_NOSUCHSERVER, target, tr("No such server"))
        return False

    def on_time(self, message: Message) -> None:
        if self._is_this_server(message):
            now = datetime.now().astimezone().strftime(TIME_FORMAT)
            self.reply(irc.RPL_TIME, self.settings.server_name, now)

    def on_version(self, message: Message) -> None:
        """351, then the 005 lines (Modern IRC: VERSION tells the ISUPPORT tokens too)."""
        if self._is_this_server(message):
            self.reply(
                irc.RPL_VERSION,
                VERSION,
                self.settings.server_name,
                tr("Charla, the classroom chat"),
            )
            self._isupport()

    def on_info(self, message: Message) -> None:
        if not self._is_this_server(message):
            return
        started = datetime.fromtimestamp(self.rooms.created).astimezone().strftime(TIME_FORMAT)
        text = tr(
            "Charla {version}: the group chat of a classroom or an office.\n"
            "Anyone may join it with an IRC program (HexChat, irssi, WeeChat), with the Charla "
            "window, or with nothing more than nc or telnet.\n"
            "Written in Python, with its standard library only.\n"
            "This server has been running since {started}.\n"
            "HELP lists the commands it knows."
        ).format(version=VERSION, started=started)
        for line in text.splitlines():
            self.reply(irc.RPL_INFO, line)
        self.reply(irc.RPL_ENDOFINFO, tr("End of INFO list"))

    def on_admin(self, message: Message) -> None:
        """256 to 259: who runs this server. Charla has no administrator's address to give:
        the teacher, or whoever started the server, is in the room."""
        if not self._is_this_server(message):
            return
        server_name = self.settings.server_name
        self.reply(irc.RPL_ADMINME, server_name, tr("Administrative info"))
        self.reply(irc.RPL_ADMINLOC1, tr("Charla, the chat of this classroom."))
        self.reply(irc.RPL_ADMINLOC2, tr("Run by whoever started the server: usually the teacher."))
        self.reply(irc.RPL_ADMINEMAIL, tr("No e-mail address: ask in the room."))

    def on_help(self, message: Message) -> None:
        """Modern IRC's HELP: 704, 705 lines, 706; a subject it does not know gets 524."""
        subject = message.param(0).upper()
        if not subject:
            known = sorted(HELP_SYNTAX)
            lines = [
                "",
                tr("The commands this server knows:"),
                *(" ".join(known[i : i + 10]) for i in range(0, len(known), 10)),
                tr("HELP <command> shows how to use one."),
            ]
            subject_param, title = "*", tr("** Charla help **")
        elif subject in HELP_SYNTAX:
            lines = ["", HELP_SYNTAX[subject]]
            subject_param, title = subject, f"** {subject} **"
        else:
            self.reply(
                irc.ERR_HELPNOTFOUND, message.params[0], tr("No help available on this topic")
            )
            return
        self.reply(irc.RPL_HELPSTART, subject_param, title)
        for line in lines[:-1]:
            self.reply(irc.RPL_HELPTXT, subject_param, line)
        self.reply(irc.RPL_ENDOFHELP, subject_param, lines[-1])

    def on_away(self, message: Message) -> None:
        """``AWAY :<message>`` marks this person away (305/306; cut to ``AWAYLEN`` bytes),
        ``AWAY`` alone or with an empty message marks them back."""
        text = split_utf8(message.param(0), irc.AWAYLEN)[0]
        self.rooms.set_away(self, text)
        if text:
            self.reply(irc.RPL_NOWAWAY, tr("You have been marked as being away"))
        else:
            self.reply(irc.RPL_UNAWAY, tr("You are no longer marked as being away"))

    # -- talking -----------------------------------------------------------------------------

    def on_privmsg(self, message: Message) -> None:
        self._talk(message, notice=False)

    def on_notice(self, message: Message) -> None:
        self._talk(message, notice=True)

    def _talk(self, message: Message, *, notice: bool) -> None:
        """PRIVMSG and NOTICE; a NOTICE never draws an error reply."""
        if not message.params or not message.params[0]:
            if not notice:
                self.reply(
                    irc.ERR_NORECIPIENT,
                    tr("No recipient given ({command})").format(command=message.command),
                )
            return
        if len(message.params) < 2 or not message.params[1]:
            if not notice:
                self.reply(irc.ERR_NOTEXTTOSEND, tr("No text to send"))
            return
        text = message.params[1]
        seq = wire_number(message.tags.get(SEQ_TAG, "")) if self.alias else None
        if seq is not None and not self.rooms.first_delivery(self.alias, seq):
            # A message this client sent before it reconnected, relayed the first time:
            # dropped after one look-up, so it costs a fraction of a line, not a whole one
            # a second time (1,000 resent lines would otherwise wait 96 s in the gate).
            self.conn.refund_flood(1 - RESENT_LINE_COST)
            return
        tags = self._client_tags(message)
        if seq is not None:
            tags["msgid"] = session_msgid(self.alias, seq)
        targets = _distinct_targets(message.params[0])
        if len(targets) > 1:
            for extra in targets[irc.MAX_TARGETS :]:
                if not notice:
                    self.reply(
                        irc.ERR_TOOMANYTARGETS,
                        extra,
                        tr("Too many recipients. Only {count} processed").format(
                            count=irc.MAX_TARGETS
                        ),
                    )
            targets = targets[: irc.MAX_TARGETS]
            self.conn.charge_flood(len(targets) - 1)
        for target in targets:
            if target[:1] in irc.CHANTYPES:
                channel = self.rooms.find_channel(target)
                if channel is None:
                    error = (irc.ERR_NOSUCHCHANNEL, tr("No such channel"))
                else:
                    relayed = Message(message.command, [channel.name, text], self.prefix, tags)
                    if self._fits(relayed, notice):
                        refused = self.rooms.send_to_channel(self, channel, relayed)
                        if refused is not None:
                            self._cannot_send(channel.name, refused)
                    continue
            else:
                recipient = self.rooms.find_session(target)
                if recipient is not None:
                    relayed = Message(message.command, [recipient.nick, text], self.prefix, tags)
                    if self._fits(relayed, notice):
                        echo_to = self if self.echo_message else None
                        self.rooms.send_to_session(recipient, relayed, echo_to, sender=self)
                        away = recipient.away  # read without the lock: see net.state
                        if away and not notice:
                            self.reply(irc.RPL_AWAY, recipient.nick, away)
                    continue
                error = (irc.ERR_NOSUCHNICK, tr("No such nick/channel"))
            if not notice:
                self.reply(error[0], target, error[1])

    def _client_tags(self, message: Message) -> dict[str, str]:
        """The client-only tags (``+name``) to relay, for a client that may send them.

        A key that is not a tag name (an escape sequence, a space, ``ñ``) is dropped, and
        control characters in values are made visible (``printable``): the other clients
        parse these tags, and some show their values (a reaction's emoji). Only the first
        ``MAX_CLIENT_TAGS`` are relayed."""
        if not self._message_tags or not message.tags:
            return {}
        tags = (
            (key, irc.printable(value))
            for key, value in message.tags.items()
            if irc.is_client_tag_key(key)
        )
        return dict(itertools.islice(tags, irc.MAX_CLIENT_TAGS))

    def on_tagmsg(self, message: Message) -> None:
        """IRCv3 TAGMSG: only client-only tags, relayed to those who negotiated message-tags."""
        if not self._message_tags or self.need_params(message, 1):
            return
        tags = self._client_tags(message)
        target = message.params[0]
        if target[:1] in irc.CHANTYPES:
            channel = self.rooms.find_channel(target)
            if channel is None:
                self.reply(irc.ERR_NOSUCHCHANNEL, target, tr("No such channel"))
                return
            refused = self.rooms.send_to_channel(
                self, channel, Message("TAGMSG", [channel.name], self.prefix, tags)
            )
            if refused is not None:
                self._cannot_send(channel.name, refused)
        else:
            recipient = self.rooms.find_session(target)
            if recipient is not None:
                self.rooms.send_to_session(
                    recipient,
                    Message("TAGMSG", [recipient.nick], self.prefix, tags),
                    self if self.echo_message else None,
                )

    def understands_redaction(self) -> bool:
        return irc.REDACTION_CAP in self.caps

    def on_chathistory(self, message: Message) -> None:
        """IRCv3 ``draft/chathistory``: ``CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target>
        <reference> <limit>``, ``BETWEEN <target> <reference> <reference> <limit>`` and
        ``TARGETS <timestamp> <timestamp> <limit>`` (``net.chathistory`` picks the
        messages); the answer is a ``chathistory`` batch, errors the spec's ``FAIL``s."""
        source = self.settings.server_name
        params = message.params
        subcommand = params[0].upper() if params else ""

        def fail(code: str, *context: str, text: str) -> None:
            self.send_message(Message("FAIL", ["CHATHISTORY", code, *context, text], source))

        if subcommand not in SUBCOMMANDS:
            if subcommand:
                fail("UNKNOWN_COMMAND", subcommand, text=tr("Unknown CHATHISTORY subcommand"))
            else:
                fail("NEED_MORE_PARAMS", text=tr("Not enough parameters"))
            return
        needed = 5 if subcommand == "BETWEEN" else 4
        if len(params) < needed:
            fail("NEED_MORE_PARAMS", subcommand, text=tr("Not enough parameters"))
            return
        if subcommand == "TARGETS":
            self._history_targets(params, fail)
            return
        target = params[1]
        try:
            first = parse_reference(params[2], star=subcommand == "LATEST")
            second = parse_reference(params[3]) if subcommand == "BETWEEN" else None
            limit = parse_limit(params[needed - 1])
        except BadRequest as bad:
            fail("INVALID_PARAMS", subcommand, str(bad), text=tr("Invalid parameters"))
            return
        found = self.rooms.history_of(self, target)
        if found is None:  # no such channel, or one the asker is not in: one answer
            fail("INVALID_TARGET", subcommand, target, text=tr("Messages could not be retrieved"))
            return
        name, kept = found
        chosen = select(kept, subcommand, first, limit, second)
        self._send_history_batch("chathistory", [name], chosen)

    def _history_targets(self, params: list[str], fail: Callable[..., None]) -> None:
        """``CHATHISTORY TARGETS <timestamp> <timestamp> <limit>``: the conversations with
        kept messages between the two times, oldest newest-message first."""
        try:
            references = [parse_reference(text) for text in params[1:3]]
            limit = min(parse_limit(params[3]), MAX_TARGETS)
        except BadRequest as bad:
            fail("INVALID_PARAMS", "TARGETS", str(bad), text=tr("Invalid parameters"))
            return
        times = sorted(ref.time for ref in references if ref.time is not None)
        if len(times) != 2:  # TARGETS takes timestamps only
            fail("INVALID_PARAMS", "TARGETS", params[1], text=tr("Invalid parameters"))
            return
        latest = self.rooms.history_targets(self)
        chosen = sorted(
            (when, name) for name, when in latest.items() if times[0] < when < times[1]
        )[:limit]
        source = self.settings.server_name
        ref = f"h{next(_batch_refs)}"
        lines = [Message("BATCH", [f"+{ref}", "draft/chathistory-targets"], source)]
        lines += [
            Message("CHATHISTORY", ["TARGETS", name, server_time_tag(when)], source)
            for when, name in chosen
        ]
        lines.append(Message("BATCH", [f"-{ref}"], source))
        self._send_batch_lines(ref, lines)

    def _send_batch_lines(self, ref: str, lines: list[Message]) -> None:
        """A batch's opening, its lines (tagged ``batch=ref``) and its end; without the
        ``batch`` capability, only the lines."""
        batched = "batch" in self.caps
        data = []
        for index, line in enumerate(lines):
            if index in (0, len(lines) - 1):
                if batched:
                    data.append(line.to_bytes())
                continue
            if batched:
                line = Message(line.command, line.params, line.source, {"batch": ref})
            data.append(line.to_bytes())
        self.conn.enqueue(b"".join(data))

    def _send_history_batch(self, kind: str, params: list[str], kept: list[KeptMessage]) -> None:
        """``CHATHISTORY``'s answer: a batch (without the ``batch`` capability, the lines)."""
        if "batch" in self.caps:
            self.conn.enqueue(b"".join(self._batched(kind, params, list(kept))))
            return
        wanted = (k for k in kept if self._message_tags or k.message.command != "TAGMSG")
        self.conn.enqueue(b"".join(k.wire(self._server_time, self._message_tags) for k in wanted))

    def on_redact(self, message: Message) -> None:
        """IRCv3 message redaction: ``REDACT <channel> <msgid> [:reason]`` deletes a kept
        message of a channel, for its author or a teacher. Errors are the spec's ``FAIL
        REDACT`` replies. Messages to a person are not kept, so they cannot be deleted."""
        if self.need_params(message, 2):
            return
        target, msgid, reason = message.params[0], message.params[1], message.param(2)
        source = self.settings.server_name
        channel = self.rooms.find_channel(target) if target[:1] in irc.CHANTYPES else None
        refused = None if channel is None else self.rooms.redact(self, channel, msgid, reason)
        if channel is None or refused is RedactRefused.INVALID_TARGET:
            # one answer for no such channel and for one the sender is not in (a +s one too)
            text = tr("You cannot delete messages from that target")
            self.send_message(Message("FAIL", ["REDACT", "INVALID_TARGET", target, text], source))
            return
        if refused is RedactRefused.UNKNOWN_MSGID:
            text = tr("This message does not exist or is too old")
        elif refused is RedactRefused.REDACT_FORBIDDEN:
            text = tr("You are not authorised to delete this message")
        else:
            return
        self.send_message(Message("FAIL", ["REDACT", refused.value, target, msgid, text], source))

    def on_claim(self, message: Message) -> None:
        """Charla's ``CLAIM #chan`` / ``UNCLAIM #chan``: a teacher makes a channel the
        teachers' (as the default one is) or gives it back (``Rooms.claim``)."""
        if self.need_params(message, 1):
            return
        name = message.params[0]
        refused = self.rooms.claim(self, name, claiming=message.command == "CLAIM")
        if refused == "noprivileges":
            self.reply(irc.ERR_NOPRIVILEGES, tr("Permission Denied: only a teacher may do that"))
        elif refused == "nosuchchannel":
            self.reply(irc.ERR_NOSUCHCHANNEL, name, tr("No such channel"))
        elif refused == "default":
            told = tr(
                "{channel} is the server's default channel: it always belongs to the teachers"
            )
            self.send_message(
                Message("NOTICE", [self.nick, told.format(channel=name)], self.settings.server_name)
            )

    def _cannot_send(self, channel_name: str, refused: SpeakRefused) -> None:
        """404 with the reason in words. A NOTICE gets it too: a line refused by the
        channel's modes is never dropped without a word (Modern IRC allows it; the sender
        must know its message did not reach the class)."""
        self.reply(irc.ERR_CANNOTSENDTOCHAN, channel_name, refused.text())

    def _fits(self, relayed: Message, notice: bool) -> bool:
        """Whether the relayed line, with our prefix, keeps to 512 bytes (else 417, not cut)."""
        if irc.body_length(relayed.format()) <= irc.MAX_LINE_BYTES:
            return True
        if not notice:
            self.reply(irc.ERR_INPUTTOOLONG, tr("Input line was too long"))
        return False


def _register_refusal(code: str) -> str:
    """The text of each FAIL REGISTER code that ``AccountStore.register`` may give, in the
    server's language (asked for at each use: the language is set after imports)."""
    return {
        "ACCOUNT_EXISTS": tr("That account exists already"),
        "BAD_ACCOUNT_NAME": tr("That name cannot be an account"),
        "WEAK_PASSWORD": tr("The password must have at least 8 bytes"),
        "UNACCEPTABLE_PASSWORD": tr(
            "The password must have at most 128 bytes and no control characters"
        ),
        "TEMPORARILY_UNAVAILABLE": tr("No more accounts can be made now: try again later"),
    }[code]


def _who_flags(row: WhoRow, *, multi_prefix: bool) -> str:
    """The flags of a WHO reply (352): ``H`` here or ``G`` gone (away), ``*`` a teacher
    (IRC operator), then the channel status (``@``, ``+``)."""
    here = "G" if row.away else "H"
    return here + ("*" if row.teacher else "") + status_prefixes(row.status, multi=multi_prefix)


def _distinct_targets(text: str) -> list[str]:
    """The targets of a PRIVMSG or NOTICE, each once (as ``irc_lower`` sees names), first
    spelling kept, in order: ``#general,#GENERAL,bea`` names two.

    >>> _distinct_targets("#general,#GENERAL,bea,Bea,#general"), _distinct_targets("ana")
    (['#general', 'bea'], ['ana'])
    """
    if "," not in text:
        return [text]
    distinct: dict[str, str] = {}  # irc_lower(target) -> the target as first written
    for target in text.split(","):
        distinct.setdefault(irc_lower(target), target)
    return list(distinct.values())


COMMANDS: dict[str, Callable[[IrcSession, Message], None]] = {
    "CAP": IrcSession.on_cap,
    "PASS": IrcSession.on_pass,
    "NICK": IrcSession.on_nick,
    "USER": IrcSession.on_user,
    "PING": IrcSession.on_ping,
    "PONG": IrcSession.on_pong,
    "QUIT": IrcSession.on_quit,
    "LUSERS": IrcSession.on_lusers,
    "MOTD": IrcSession.on_motd,
    "TIME": IrcSession.on_time,
    "VERSION": IrcSession.on_version,
    "INFO": IrcSession.on_info,
    "ADMIN": IrcSession.on_admin,
    "HELP": IrcSession.on_help,
    # the name InspIRCd and UnrealIRCd give HELP; clients' /helpop sends it
    "HELPOP": IrcSession.on_help,
    "JOIN": IrcSession.on_join,
    "PART": IrcSession.on_part,
    "NAMES": IrcSession.on_names,
    "TOPIC": IrcSession.on_topic,
    "LIST": IrcSession.on_list,
    "KICK": IrcSession.on_kick,
    "INVITE": IrcSession.on_invite,
    "OPER": IrcSession.on_oper,
    "TBAN": IrcSession.on_timed,
    "TQUIET": IrcSession.on_timed,
    "MODE": IrcSession.on_mode,
    "WHO": IrcSession.on_who,
    "WHOIS": IrcSession.on_whois,
    "WHOWAS": IrcSession.on_whowas,
    "USERHOST": IrcSession.on_userhost,
    "ISON": IrcSession.on_ison,
    "AWAY": IrcSession.on_away,
    "PRIVMSG": IrcSession.on_privmsg,
    "NOTICE": IrcSession.on_notice,
    "TAGMSG": IrcSession.on_tagmsg,
    "REDACT": IrcSession.on_redact,
    "CHATHISTORY": IrcSession.on_chathistory,
    "CLAIM": IrcSession.on_claim,
    "UNCLAIM": IrcSession.on_claim,
    "SESSION": IrcSession.on_session,
    "AUTHENTICATE": IrcSession.on_authenticate,
    "REGISTER": IrcSession.on_register,
}


#: commands that are also words a person at ``nc`` may type first ("help", "info"): an
#: IRC client never opens a connection with them (they come after registration), so a
#: first line that starts with one is a person's
PEOPLES_FIRST_WORDS = frozenset({"AWAY", "HELP", "INFO", "TIME"})


def is_irc_command(command: str) -> bool:
    """Whether a first line's command shows an IRC client (as opposed to a person at ``nc``)."""
    return command in COMMANDS and command not in PEOPLES_FIRST_WORDS
