"""Comings and goings: "ana joined", "bea left (going home)", folded when a class arrives
at once.

``said(view, when, nick, joined, reason)`` is how ``gui.received`` shows someone joining or
leaving a channel; ``why(nick, reason)`` is the leave or quit reason as it is shown: what a
person wrote, while what clients and servers put there by themselves ("Client Quit",
"Leaving", the nick again, "Remote host closed the connection") is noise and is dropped, and
a lost connection (a ping timeout, a read error, a netsplit) reads "connection lost".

A line waits ``QUIET_MS`` for more; a run of ``FOLD_FROM`` or more becomes one line per
direction ("12 personas han entrado: Ana, Bea, …"), a shorter run its own lines.
Whatever else the conversation shows first brings the run out before it (the view calls
``before_append``), so the order of lines is never changed; only the run's own lines wait.

Threading: Tk main thread only.
"""

from __future__ import annotations

import re
from datetime import datetime

from gui.conversation import ConversationView
from net.i18n import ntr, tr

QUIET_MS = 1500  # a run of comings and goings ends after this long without another
FOLD_FROM = 4  # this many in one run are said in one line per direction
NAMES_SHOWN = 12  # the folded line names this many, then "…"
REASON_SHOWN = 100  # characters of a leave reason shown (a line may carry 400 and more)

#: a leave reason that says nothing a person wrote: a client's or server's default
_NOISE = re.compile(
    r"(?:client )?(?:quit|exit|leaving|left|part|charla|bye-bye from \S+)?[.!]?"
    r"|(?:weechat|hexchat|xchat|irssi|konversation|quassel|mirc|kvirc|textual|thelounge)\b.*",
    re.IGNORECASE,
)
#: a reason that means the connection was lost: a server's words for it, or a netsplit
#: (the names of the two servers that parted, "irc1.local irc2.local")
_LOST = re.compile(
    r"(?:ping timeout|read error|write error|connection closed|connection reset"
    r"|remote host closed|broken pipe|eof from client|max sendq|internal error"
    r"|connection timed out|\*\.net \*\.split).*"
    r"|[\w-]+(?:\.[\w-]+)+ [\w-]+(?:\.[\w-]+)+",
    re.IGNORECASE,
)


class _Run:
    """The comings and goings of one conversation not shown yet."""

    def __init__(self, view: ConversationView) -> None:
        self.view = view
        self.when: datetime | None = None
        self.seen: list[tuple[str, bool, str]] = []  # (nick, joined, why), in order
        self.timer: str | None = None

    def add(self, when: datetime, nick: str, joined: bool, reason: str = "") -> None:
        self.when = self.when or when
        self.seen.append((nick, joined, why(nick, reason)))
        if self.timer is not None:
            self.view.after_cancel(self.timer)
        self.timer = self.view.after(QUIET_MS, self.show)
        self.view.before_append = self.show

    def show(self) -> None:
        """Put the run in the conversation: one line each, or folded."""
        if self.timer is not None:
            self.view.after_cancel(self.timer)
            self.timer = None
        self.view.before_append = None
        seen, when = self.seen, self.when or datetime.now().astimezone()
        self.seen, self.when = [], None
        if len(seen) < FOLD_FROM:
            for nick, joined, reason in seen:
                if joined:
                    text = tr("{nick} joined")
                else:
                    text = tr("{nick} left ({reason})") if reason else tr("{nick} left")
                self.view.add_system(when, text.format(nick=nick, reason=reason))
            return
        for joined in (True, False):
            nicks = [with_reason(nick, r) for nick, j, r in seen if j is joined]
            if nicks:
                self.view.add_system(when, folded(nicks, joined=joined))


def why(nick: str, reason: str) -> str:
    """The leave or quit ``reason`` of ``nick`` as shown ("" for none worth showing).

    >>> why("ana", "Quit: se va a casa"), why("ana", "Client Quit")
    ('se va a casa', '')
    >>> why("ana", "ana"), why("bea", "Ping timeout: 240 seconds")
    ('', 'connection lost')
    """
    reason = _CONTROLS.sub("", reason).strip()  # IRC bold, colours…: only the words
    reason = reason.removeprefix("Quit:").removeprefix("Part:").strip()
    if len(reason) > 1 and reason[0] == reason[-1] == '"':  # ngIRCd quotes a quit reason
        reason = reason[1:-1].strip()
    if not reason or reason.casefold() == nick.casefold() or _NOISE.fullmatch(reason):
        return ""
    if _LOST.fullmatch(reason):
        return tr("connection lost")
    if len(reason) > REASON_SHOWN:
        reason = reason[: REASON_SHOWN - 1].rstrip() + "…"
    return reason


def with_reason(nick: str, reason: str) -> str:
    """ "Ana (se va a casa)", as a folded line names them."""
    return f"{nick} ({reason})" if reason else nick


#: IRC formatting codes and other control characters, dropped from a reason
_CONTROLS = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}|[\x00-\x1f\x7f]")


def folded(nicks: list[str], *, joined: bool) -> str:
    """ "12 personas han entrado: Ana, Bea (se va a casa), …" """
    many = (
        ntr("{count} person joined", "{count} people joined", len(nicks))
        if joined
        else ntr("{count} person left", "{count} people left", len(nicks))
    )
    names = ", ".join(nicks[:NAMES_SHOWN]) + (", …" if len(nicks) > NAMES_SHOWN else "")
    return f"{many.format(count=len(nicks))}: {names}"


def said(view: ConversationView, when: datetime, nick: str, joined: bool, reason: str = "") -> None:
    """``nick`` joined (or left, saying ``reason``) the conversation in ``view``."""
    run = getattr(view, "comings_run", None)
    if run is None:
        run = view.comings_run = _Run(view)
    run.add(when, nick, joined, reason)
