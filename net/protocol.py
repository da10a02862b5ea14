"""The IRC line model shared by the server and the client: framing, parse/format, names, limits.

Everything that knows what an IRC line looks like lives here, so the server and the
client agree on it by construction:

- ``LineBuffer`` turns a byte stream into lines (CRLF or bare LF), keeping the unfinished
  tail between ``recv()`` calls and dropping lines over the limit without buffering them.
- ``decode_line`` is the single place bytes become text: UTF-8, with a fallback for bytes
  that are not UTF-8, so a bad byte never raises.
- ``Message`` with ``parse`` and ``Message.format``: one value object per line, validated
  in one place when formatted (``EmbeddedNewlineError`` and friends).
- ``breaks_a_line`` is the one test for the characters no line can carry (CR, LF, NUL):
  the server asks it of every line before acting on it and of every row its database
  gives back; ``Message.format`` refuses them as the last guard.
- ``irc_lower`` is the one case-folding function for nicks and channel names.
- Numerics and limits are named constants.

Threading: pure functions and immutable values, except ``LineBuffer``, which belongs to
the one thread that reads its socket.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------
# Limits

#: RFC 1459: a line is at most 512 bytes, CRLF included (tags not counted).
MAX_LINE_BYTES = 512
#: IRCv3 message-tags: the tag section a client sends is at most 4096 bytes.
MAX_TAG_BYTES = 4096
#: IRCv3 message-tags, "Size limit": "Clients MUST NOT send messages with tag data
#: exceeding 4094 bytes" (the section without its leading '@' and trailing space); a line
#: with more gets 417 ERR_INPUTTOOLONG and is not carried out (never cut).
MAX_CLIENT_TAG_DATA_BYTES = MAX_TAG_BYTES - 2
#: client-only tags relayed with one message (IRCv3 sets no number, only the 4096 bytes; a
#: real client sends two or three, and a thousand tiny ones would cost ~100 KB of memory
#: for every kept copy of the message)
MAX_CLIENT_TAGS = 16
#: What a ``LineBuffer`` accepts in one line: the body limit plus room for tags.
MAX_FRAME_BYTES = MAX_LINE_BYTES + MAX_TAG_BYTES
NICKLEN = 30
CHANNELLEN = 50
TOPICLEN = 390
#: a KICK's reason: the relayed line carries the kicker's prefix, channel and nick too
KICKLEN = 255
USERLEN = 18
#: an away message is cut to this many UTF-8 bytes (ISUPPORT ``AWAYLEN``), so that the
#: AWAY line relayed with the longest prefix, and 301 with two nicks, keep to 512 bytes
AWAYLEN = 200
CHANTYPES = "#"
#: distinct targets one PRIVMSG, NOTICE, KICK, NAMES or WHOWAS may name (ISUPPORT
#: ``TARGMAX``); for PRIVMSG, NOTICE and KICK each one past
#: the first costs a line of the sender's flood allowance
MAX_TARGETS = 4

# ---------------------------------------------------------------------------
# What a Charla server and client agree on beyond RFC 1459

DEFAULT_PORT = 12345
DEFAULT_CHANNEL = "#general"
#: a client proves across reconnects that it is the same client (see ``net.client``)
SESSION_CAP = "charla.chat/session"
#: a server tag on the MODE line of a timed ban or mute (``TBAN``/``TQUIET``): when it ends,
#: in whole seconds since the epoch, so a window can say "for 5 minutes (until 10:42)"
ENDS_TAG = "charla.chat/ends"
#: the client's own number for each message, so the server relays it once
SEQ_TAG = "charla.chat/seq"
#: what a Charla server implements and a Charla client asks for, in ``CAP LS`` order
#: IRCv3 message redaction (work in progress, hence the draft/ name): REDACT deletes a message
REDACTION_CAP = "draft/message-redaction"
CAPABILITIES = ("batch", "server-time", "message-tags", REDACTION_CAP, SESSION_CAP, "multi-prefix")
#: IRCv3 SASL (only the PLAIN mechanism) and account registration (``net.accounts``)
SASL_CAP = "sasl"
SASL_MECHANISMS = "PLAIN"
REGISTER_CAP = "draft/account-registration"
#: IRCv3 chathistory (work in progress): ``CHATHISTORY`` reads kept messages
CHATHISTORY_CAP = "draft/chathistory"
#: what a Charla server offers, in ``CAP LS`` order, with the value ``CAP LS 302`` shows:
#: the above, and what only IRC clients use
SERVER_CAPABILITIES = {
    **dict.fromkeys(CAPABILITIES, ""),
    "away-notify": "",
    "echo-message": "",
    CHATHISTORY_CAP: "",
    SASL_CAP: SASL_MECHANISMS,
    REGISTER_CAP: "before-connect",
}
#: an AUTHENTICATE line carries at most this much base64; exactly this much means "more"
SASL_CHUNK = 400
#: a whole SASL PLAIN answer, decoded: two names (30 characters, 4 bytes each at most)
#: and a password (128 bytes), with room to spare
MAX_SASL_BYTES = 1024

# ---------------------------------------------------------------------------
# Numerics (RFC 1459 / RFC 2812 / Modern IRC)

RPL_WELCOME = "001"
RPL_YOURHOST = "002"
RPL_CREATED = "003"
RPL_MYINFO = "004"
RPL_ISUPPORT = "005"
RPL_UMODEIS = "221"
RPL_LUSERCLIENT = "251"
RPL_LUSEROP = "252"
RPL_LUSERUNKNOWN = "253"
RPL_LUSERCHANNELS = "254"
RPL_LUSERME = "255"
RPL_ADMINME = "256"
RPL_ADMINLOC1 = "257"
RPL_ADMINLOC2 = "258"
RPL_ADMINEMAIL = "259"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_AWAY = "301"
RPL_USERHOST = "302"
RPL_ISON = "303"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_WHOISUSER = "311"
RPL_WHOISSERVER = "312"
RPL_WHOWASUSER = "314"
RPL_ENDOFWHO = "315"
RPL_ENDOFWHOIS = "318"
RPL_WHOISCHANNELS = "319"
RPL_LISTSTART = "321"
RPL_LIST = "322"
RPL_LISTEND = "323"
RPL_CHANNELMODEIS = "324"
RPL_CREATIONTIME = "329"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
RPL_VERSION = "351"
RPL_WHOREPLY = "352"
RPL_WHOSPCRPL = "354"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_ENDOFBANLIST = "368"
RPL_ENDOFWHOWAS = "369"
RPL_INFO = "371"
RPL_BANLIST = "367"
RPL_YOUREOPER = "381"
RPL_WHOISOPERATOR = "313"
RPL_INVITING = "341"
RPL_INVITELIST = "336"
#: the +I list (Modern IRC RPL_INVEXLIST / RPL_ENDOFINVEXLIST)
RPL_INVEXLIST = "346"
RPL_ENDOFINVEXLIST = "347"
RPL_ENDOFINVITELIST = "337"
RPL_QUIETLIST = "728"  # Solanum/Charybdis: the +q list
RPL_ENDOFQUIETLIST = "729"
RPL_MOTD = "372"
RPL_ENDOFINFO = "374"
RPL_MOTDSTART = "375"
RPL_ENDOFMOTD = "376"
RPL_TIME = "391"
ERR_UNKNOWNERROR = "400"
ERR_NOSUCHNICK = "401"
ERR_NOSUCHSERVER = "402"
ERR_NOSUCHCHANNEL = "403"
ERR_CANNOTSENDTOCHAN = "404"
ERR_TOOMANYCHANNELS = "405"
ERR_WASNOSUCHNICK = "406"
ERR_TOOMANYTARGETS = "407"
ERR_NORECIPIENT = "411"
ERR_NOTEXTTOSEND = "412"
ERR_INPUTTOOLONG = "417"
ERR_UNKNOWNCOMMAND = "421"
ERR_NOMOTD = "422"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_USERNOTINCHANNEL = "441"
ERR_NOTONCHANNEL = "442"
ERR_NOTREGISTERED = "451"
ERR_NEEDMOREPARAMS = "461"
ERR_ALREADYREGISTERED = "462"
ERR_PASSWDMISMATCH = "464"
ERR_UNKNOWNMODE = "472"
ERR_BADCHANMASK = "476"
ERR_NOPRIVILEGES = "481"
ERR_CHANOPRIVSNEEDED = "482"
ERR_UMODEUNKNOWNFLAG = "501"
ERR_USERSDONTMATCH = "502"
ERR_HELPNOTFOUND = "524"
RPL_HELPSTART = "704"
RPL_HELPTXT = "705"
RPL_ENDOFHELP = "706"
ERR_INVALIDCAPCMD = "410"
ERR_USERONCHANNEL = "443"
ERR_BANNICKCHANGE = "435"  # Charybdis/Solanum: no new nick while banned or muted
ERR_CHANNELISFULL = "471"
ERR_INVITEONLYCHAN = "473"
ERR_BANNEDFROMCHAN = "474"
ERR_BADCHANNELKEY = "475"
ERR_BANLISTFULL = "478"
ERR_NOOPERHOST = "491"
ERR_INVALIDMODEPARAM = "696"
RPL_WHOISACCOUNT = "330"
RPL_LOGGEDIN = "900"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"

# ---------------------------------------------------------------------------
# Errors raised when a line cannot be built


class InvalidMessageError(ValueError):
    """A message cannot be put on the wire as it is."""


class EmbeddedNewlineError(InvalidMessageError):
    """A parameter contains CR, LF or NUL, which would split or end the line."""


class InvalidParameterError(InvalidMessageError):
    """A middle parameter is empty, contains a space or starts with ':'."""


class ParseError(ValueError):
    """A received line has no command."""


def breaks_a_line(text: str) -> bool:
    """Whether ``text`` holds a character that no IRC line can carry: CR or LF (they would
    end or split the line wherever it is relayed, stored or replayed) or NUL.

    The server asks this of every line it receives, before acting on it, and of every row
    it reads back from its database; the client, of every text before it is queued.

    >>> [breaks_a_line(t) for t in ("hola", "a\\\\rb", "a\\rb", "a\\nb", "a\\0b", "")]
    [False, False, True, True, True, False]
    """
    return "\r" in text or "\n" in text or "\0" in text


def as_middle_param(word: str) -> str:
    """A word a client sent, to echo where a reply needs a middle parameter (``403 ana
    <name> :No such channel``): itself when it can stand there, else ``*`` (an empty word,
    one with a space, a leading ':' or a line break would make the reply unsendable).

    >>> [as_middle_param(w) for w in ("#a", "", "a b", ":x", "a\\rb", "*")]
    ['#a', '*', '*', '*', '*', '*']
    """
    if not word or " " in word or word[0] == ":" or breaks_a_line(word):
        return "*"
    return word


# ---------------------------------------------------------------------------
# Framing and decoding


class LineBuffer:
    """Splits a byte stream into lines, whatever ``recv()`` boundaries the network chose.

    ``feed()`` returns the complete lines seen so far, without their CRLF or LF. A line
    longer than ``max_line_bytes`` (counting its CRLF) is not buffered: it comes out as
    ``None`` in its place, once, so the reader can answer it and carry on.

    >>> buf = LineBuffer()
    >>> buf.feed(b"PING a\\r\\nPRIV"), buf.feed(b"MSG #x :hi\\n")
    ([b'PING a'], [b'PRIVMSG #x :hi'])
    >>> LineBuffer(max_line_bytes=8).feed(b"123456789\\nok\\n")
    [None, b'ok']
    """

    def __init__(self, max_line_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._tail = b""
        self._discarding = False  # inside an overlong line whose end has not arrived yet

    def feed(self, data: bytes) -> list[bytes | None]:
        lines: list[bytes | None] = []
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return lines
            data = data[end + 1 :]
            self._discarding = False
            lines.append(None)
        parts = (self._tail + data).split(b"\n")
        self._tail = parts.pop()
        limit = self.max_line_bytes - 2
        for part in parts:
            if part.endswith(b"\r"):
                part = part[:-1]
            lines.append(part if len(part) <= limit else None)
        if len(self._tail) > limit:
            self._tail = b""
            self._discarding = True
        return lines


def decode_line(raw: bytes) -> str:
    """Bytes of one line to text: UTF-8, else Windows-1252 (what old Spanish clients send).

    NUL bytes, which IRC forbids, are dropped. Never raises.

    >>> decode_line("añá 👋".encode()), decode_line(b"ni\\xf1o"), decode_line(b"\\xff\\x81")
    ('añá 👋', 'niño', 'ÿ\\ufffd')
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\0", "") if "\0" in text else text


# ---------------------------------------------------------------------------
# Messages

_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def _unescape_tag_value(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(_TAG_UNESCAPES.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: ``@tags :source COMMAND param param :trailing``.

    >>> m = parse("@time=2026-11-23T10:00:00.000Z :ana!a@h PRIVMSG #general :hola a todos")
    >>> m.source_nick, m.command, m.params, m.tags["time"]
    ('ana', 'PRIVMSG', ['#general', 'hola a todos'], '2026-11-23T10:00:00.000Z')
    >>> Message("PRIVMSG", ["#general", "¿qué tal?"], source="ana!a@h").format()
    ':ana!a@h PRIVMSG #general :¿qué tal?'
    """

    command: str
    params: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def source_nick(self) -> str | None:
        """The nickname part of ``nick!user@host`` (or the server name)."""
        if self.source is None:
            return None
        return self.source.split("!", 1)[0].split("@", 1)[0]

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default

    def format(self) -> str:
        """The line without CRLF; raises ``InvalidMessageError`` if it cannot be sent as is."""
        pieces: list[str] = []
        if self.tags:
            for key in self.tags:
                if not key or breaks_a_line(key) or " " in key or ";" in key or "=" in key:
                    raise InvalidParameterError(f"{self.command}: bad tag key {key!r}")
            pieces.append(
                "@"
                + ";".join(
                    key if value == "" else f"{key}={value.translate(_TAG_ESCAPES)}"
                    for key, value in self.tags.items()
                )
            )
        if self.source:
            pieces.append(":" + self.source)
        pieces.append(self.command)
        last = len(self.params) - 1
        for index, param in enumerate(self.params):
            if breaks_a_line(param):
                raise EmbeddedNewlineError(f"{self.command}: parameter {index} has CR, LF or NUL")
            if index == last:
                # A final parameter after others is text: always mark it, as servers do.
                if last or not param or " " in param or param[0] == ":":
                    param = ":" + param
            elif not param or " " in param or param[0] == ":":
                raise InvalidParameterError(f"{self.command}: bad middle parameter {param!r}")
            pieces.append(param)
        return " ".join(pieces)

    def to_bytes(self) -> bytes:
        return (self.format() + "\r\n").encode("utf-8")


def parse(line: str) -> Message:
    """Parse one line (without CRLF); raises ``ParseError`` when it has no command.

    >>> parse("nick   Ana").params, parse("QUIT :").params, parse(":srv 001 ana :Hi").source
    (['Ana'], [''], 'srv')
    """
    tags: dict[str, str] = {}
    rest = line
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        for item in tag_text.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = _unescape_tag_value(value)
    rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    head, sep, trailing = rest.partition(" :")
    params = head.split(" ")
    if "" in params:  # runs of spaces
        params = [word for word in params if word]
    if not params or params[0].startswith(":"):
        raise ParseError(f"no command in {line[:40]!r}")
    if sep:
        params.append(trailing)
    command = params.pop(0).upper()
    return Message(command, params, source or None, tags)


def tag_data_length(line: str) -> int:
    """Bytes of a line's tag data (without the ``@`` and the space): what
    ``MAX_CLIENT_TAG_DATA_BYTES`` limits; 0 for a line without tags.

    >>> [tag_data_length(t) for t in ("PING x", "@a=b PING x", "@+é=1 TAGMSG #c")]
    [0, 3, 5]
    """
    if not line.startswith("@"):
        return 0
    return len(line[1:].partition(" ")[0].encode("utf-8"))


def body_length(line: str) -> int:
    """Bytes of a line without its tag section, CRLF included: what ``MAX_LINE_BYTES`` limits."""
    if line.startswith("@"):
        line = line.partition(" ")[2]
    return len(line.encode("utf-8")) + 2


# ---------------------------------------------------------------------------
# Names

_RFC1459_FOLD = str.maketrans("[]\\~", "{}|^")
_NICK_SPECIALS = set("[]\\`_^{|}-")


#: the largest number taken from the wire (a message number, an ack): SQLite's and C's int64
MAX_WIRE_NUMBER = 2**63 - 1


def wire_number(text: str, maximum: int = MAX_WIRE_NUMBER) -> int | None:
    """``text`` as a whole number from 0 to ``maximum``, or None: the one way a number
    taken from the wire (or typed) is read. Only ASCII digits count (``"²".isdigit()`` is
    true, but ``int("²")`` raises), and no number is too big to store.

    >>> [wire_number(t) for t in ("42", "007", "²", "-1", "", " 1", "9" * 30)]
    [42, 7, None, None, None, None, None]
    >>> wire_number("65536", maximum=65535)
    """
    if not (0 < len(text) <= 20 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= maximum else None


#: what a terminal would obey rather than show: C0 controls (ESC starts the sequences that
#: move the cursor, clear the screen, set the title or the clipboard), DEL and the C1
#: controls (0x9B is a one-byte CSI) become visible pictures; bidi overrides, which reorder
#: what follows them, and line separators are dropped
_UNPRINTABLE = str.maketrans(
    {
        **{code: 0x2400 + code for code in range(32)},  # ESC -> ␛, BEL -> ␇ …
        0x7F: 0x2421,  # ␡
        **{code: 0xFFFD for code in range(0x80, 0xA0)},  # �
        **dict.fromkeys((0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F)), None),
        **dict.fromkeys(range(0x2066, 0x206A), None),
    }
)


def printable(text: str) -> str:
    """``text`` as a terminal or a log may show it: nothing in it is a control.

    >>> printable("hola\x1b[2J\x1b]52;c;cGFzcw==\x07 \x9b31m\u202eadiós")
    'hola␛[2J␛]52;c;cGFzcw==␇ �31madiós'
    """
    return text.translate(_UNPRINTABLE)


def is_client_tag_key(key: str) -> bool:
    """Whether ``key`` is a client-only tag name as IRCv3 message-tags spells them:
    ``+``, an optional vendor (a host name and ``/``), then letters, digits and ``-``.

    >>> [is_client_tag_key(k) for k in ("+typing", "+draft/reply", "+x.org/a-1", "time")]
    [True, True, True, False]
    >>> [is_client_tag_key(k) for k in ("+", "+a/", "+\x1b[2J", "+ñ", "+a b", "+/a")]
    [False, False, False, False, False, False]
    """
    if not key.startswith("+"):
        return False
    vendor, slash, name = key[1:].rpartition("/")
    if slash and not _is_tag_word(vendor, ".-"):
        return False
    return _is_tag_word(name, "-")


def _is_tag_word(text: str, punctuation: str) -> bool:
    """Non-empty, ASCII letters and digits and the given punctuation only."""
    return bool(text) and text.isascii() and all(c.isalnum() or c in punctuation for c in text)


def split_utf8(text: str, limit: int) -> list[str]:
    """Pieces of ``text`` of at most ``limit`` UTF-8 bytes, cut between characters.

    A single character wider than ``limit`` is a piece of its own; an empty text is one
    empty piece.

    >>> split_utf8("añá" * 2, 5), split_utf8("ñ" * 3, 3), split_utf8("ñandú" * 3, 8)
    (['añá', 'añá'], ['ñ', 'ñ', 'ñ'], ['ñandú', 'ñandú', 'ñandú'])
    """
    pieces: list[str] = []
    start, size = 0, 0
    for index, char in enumerate(text):
        width = len(char.encode("utf-8"))
        if size + width > limit and index > start:
            pieces.append(text[start:index])
            start, size = index, 0
        size += width
    pieces.append(text[start:])
    return pieces


def irc_lower(name: str) -> str:
    """The one case-folding for nicks and channels (CASEMAPPING=rfc1459, extended to Unicode).

    >>> irc_lower("ÑANDÚ[x]") == irc_lower("ñandú{X}")
    True
    """
    if name.isascii():
        return name.lower().translate(_RFC1459_FOLD)
    return unicodedata.normalize("NFC", name).lower().translate(_RFC1459_FOLD)


#: ``irc_lower`` for names that come back again and again (a message's sender and
#: channel), remembered, bounded: a burst asks about the same few names thousands of times
#: a second. Thread-safe. Not for message texts, which would only churn it.
fold_name = functools.lru_cache(maxsize=4096)(irc_lower)


def mask_match(mask: str, name: str) -> bool:
    """Whether ``name`` matches the IRC mask ``mask`` (``*``: any run, ``?``: one character;
    everything else, ``[`` included, stands for itself). Compare folded forms.

    Not ``fnmatch``: it compiles each pattern to a regex and keeps up to 32,768 of them in
    a process-wide cache, which a client filled with distinct WHO masks. This keeps nothing,
    and takes at most ``len(mask) * len(name)`` steps (each ``*`` restarts the rest once
    per position, never more).

    >>> mask_match("an*", "ana"), mask_match("?e?", "bea"), mask_match("a*a*b", "aaaa")
    (True, True, False)
    """
    m = n = 0
    star = -1  # where the last * in the mask was, and the name position it now covers up to
    covered = 0
    while n < len(name):
        if m < len(mask) and mask[m] in ("?", name[n]) and mask[m] != "*":
            m += 1
            n += 1
        elif m < len(mask) and mask[m] == "*":
            star, covered = m, n
            m += 1
        elif star >= 0:  # let the last * cover one character more
            covered += 1
            m, n = star + 1, covered
        else:
            return False
    return all(char == "*" for char in mask[m:])


#: letters that imitate Latin ones (from Unicode TR39's confusables: the Cyrillic and Greek
#: ones that matter in names), as the Latin letter; applied after ``irc_lower``, so the
#: lowercase forms only. And "l" as "i": a capital I and a small l look the same.
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "i", "к": "k",
        # Greek
        "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x",
        # Latin
        "ɡ": "g", "l": "i",
    }
)  # fmt: skip
#: letters that draw nothing at all (Hangul fillers): a nick of them looks blank
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
#: scripts whose letters can pass for each other: one nick uses at most one of them
_LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


def normal_nick(nick: str) -> str:
    """A nick as it arrived, in the one form it is kept in (NFC: "n" + combining tilde is "ñ")."""
    return nick if nick.isascii() else unicodedata.normalize("NFC", nick)


def nick_key(nick: str) -> str:
    """What two nicks must differ in to belong to two people: not case (``irc_lower``), not a
    compatibility form (fullwidth, mathematical letters), not a look-alike letter.

    >>> nick_key("Profesor") == nick_key("Prоfesor") == nick_key("PROFESOR")  # Cyrillic о
    True
    >>> nick_key("charla") == nick_key("сharla") == nick_key("charIa")  # Cyrillic с, capital I
    True
    >>> nick_key("Begoña") == nick_key("BEGOÑA"), nick_key("ana") == nick_key("ama")
    (True, False)
    """
    if nick.isascii():
        return irc_lower(nick).translate(_LOOKALIKES)
    return irc_lower(unicodedata.normalize("NFKC", nick)).translate(_LOOKALIKES)


def is_valid_nick(nick: str) -> bool:
    """Letters (any script: á, ñ), digits and ``[]\\`_^{|}-``; not starting with a digit or '-';
    in the form it is kept in (``normal_nick``), with no compatibility forms (Ｐ, 𝐏, ²), no
    letter that draws nothing, and no mixing of Latin, Cyrillic and Greek letters.

    >>> [is_valid_nick(n) for n in ("Begoña", "a_b|c", "9lives", "a b", "#x", "x" * 31)]
    [True, True, False, False, False, False]
    >>> [is_valid_nick(n) for n in ("Ｐrofe", "Profe\u3164", "\u3164", "Prоfe", "Дима")]
    [False, False, False, False, True]
    """
    if not nick or len(nick) > NICKLEN or nick[0].isdigit() or nick[0] == "-":
        return False
    if nick.isascii():
        return all(char.isalnum() or char in _NICK_SPECIALS for char in nick)
    if unicodedata.normalize("NFKC", nick) != nick or _INVISIBLE_LETTERS.intersection(nick):
        return False
    scripts = set()
    for char in nick:
        if not (char.isalnum() or char in _NICK_SPECIALS):
            return False
        if char.isalpha():
            script = unicodedata.name(char, "").partition(" ")[0]
            if script in _LOOKALIKE_SCRIPTS:
                scripts.add(script)
    return len(scripts) <= 1


def is_valid_channel(name: str) -> bool:
    """``#`` then up to CHANNELLEN-1 characters, none of them space, comma, BEL or control.

    >>> [is_valid_channel(c) for c in ("#general", "#año-2º", "general", "#a,b", "#")]
    [True, True, False, False, False]
    """
    if len(name) < 2 or len(name) > CHANNELLEN or name[0] not in CHANTYPES:
        return False
    return not any(char in " ,\x07" or ord(char) < 32 for char in name)


# ---------------------------------------------------------------------------
# The charla.chat/session extension (see net.client for the whole story)


def session_alias(token: str) -> str:
    """The public name of a client's session ``token``, as it appears in its msgids.

    Nobody can derive the token from it or forge another token with the same alias:
    ``random.Random(token)`` hashes the token with SHA-512 to seed the generator, and
    Python guarantees that ``random()`` gives the same sequence for the same seed in
    every version. (``hashlib`` would load OpenSSL: 3.7 MiB more for a server that must
    keep 2,000 idle clients under 64 MiB.)

    >>> session_alias("0123456789abcdef")
    '1c031b22d2981'
    """
    return f"{int(random.Random(token).random() * 2**53):x}"


def session_msgid(alias: str, seq: int) -> str:
    """The ``msgid`` of message ``seq`` of the client ``alias``: the same on both ends.

    The server tags what it relays with it (so a message sent again after a reconnect
    keeps its id, even across a server restart), and the client knows its own messages
    by it when history is replayed.

    >>> session_msgid("1c031b22d2981", 7)
    'c-1c031b22d2981-7'
    """
    return f"c-{alias}-{seq}"


def tagged_end(message: Message) -> float | None:
    """When a timed ban or mute ends, from ``ENDS_TAG`` (None: not said, or not a time:
    ten digits, seconds since the epoch from 2001 to 2286).

    >>> tagged_end(parse("@charla.chat/ends=1796000000 :a!b@c MODE #x +q d!*@*"))
    1796000000.0
    >>> tagged_end(parse("@charla.chat/ends=ayer :a!b@c MODE #x +q d!*@*")) is None
    True
    """
    value = message.tags.get(ENDS_TAG, "")
    return float(value) if value.isascii() and value.isdigit() and len(value) == 10 else None
