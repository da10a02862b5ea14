"""Comings and goings: "ana joined", "bea left", folded when a class arrives at once.

``said(view, when, nick, joined)`` is how ``gui.received`` shows someone joining or leaving
a channel. The line waits ``QUIET_MS`` for more; a run of ``FOLD_FROM`` or more becomes one
line per direction ("12 personas han entrado: Ana, Bea, …"), a shorter run its own lines.
Whatever else the conversation shows first brings the run out before it (the view calls
``before_append``), so the order of lines is never changed; only the run's own lines wait.

Threading: Tk main thread only.
"""

from __future__ import annotations

from datetime import datetime

from gui.conversation import ConversationView
from net.i18n import ntr, tr

QUIET_MS = 1500  # a run of comings and goings ends after this long without another
FOLD_FROM = 4  # this many in one run are said in one line per direction
NAMES_SHOWN = 12  # the folded line names this many, then "…"


class _Run:
    """The comings and goings of one conversation not shown yet."""

    def __init__(self, view: ConversationView) -> None:
        self.view = view
        self.when: datetime | None = None
        self.seen: list[tuple[str, bool]] = []  # (nick, joined), in order
        self.timer: str | None = None

    def add(self, when: datetime, nick: str, joined: bool) -> None:
        self.when = self.when or when
        self.seen.append((nick, joined))
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
            for nick, joined in seen:
                text = tr("{nick} joined") if joined else tr("{nick} left")
                self.view.add_system(when, text.format(nick=nick))
            return
        for joined in (True, False):
            nicks = [nick for nick, j in seen if j is joined]
            if nicks:
                self.view.add_system(when, folded(nicks, joined=joined))


def folded(nicks: list[str], *, joined: bool) -> str:
    """ "12 personas han entrado: Ana, Bea, …" """
    many = (
        ntr("{count} person joined", "{count} people joined", len(nicks))
        if joined
        else ntr("{count} person left", "{count} people left", len(nicks))
    )
    names = ", ".join(nicks[:NAMES_SHOWN]) + (", …" if len(nicks) > NAMES_SHOWN else "")
    return f"{many.format(count=len(nicks))}: {names}"


def said(view: ConversationView, when: datetime, nick: str, joined: bool) -> None:
    """``nick`` joined (or left) the conversation in ``view``."""
    run = getattr(view, "comings_run", None)
    if run is None:
        run = view.comings_run = _Run(view)
    run.add(when, nick, joined)
