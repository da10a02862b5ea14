"""The Charla window: conversations in tabs, the nick list, the topic, a status line, the entry.

``ChatWindow(root, client)`` is the widget shell around a ``net.client.ChatClient``: it
builds the widgets, keeps the conversations and their members, and runs the pump. The
pump is one ``after()`` callback that drains the client's event queue in bounded batches
(at most ``BATCH_SECONDS`` of work per tick, again at once if more is waiting or a burst
is arriving, else every ``POLL_MS``), so a burst of messages never freezes the window and
is not kept waiting. What each event shows is in ``gui.received``; what each typed
command does is in ``gui.commands``; recall, completion and paced paste are in
``gui.entry``; the teacher's menus (Clase, right-click on a nick or a message) are in
``gui.classroom``; search is in ``gui.search``, the frame's colours and zoom in
``gui.chrome``, mentions, unread counts and the desktop's alert in ``gui.attention``,
pictures (the 📎 button, pasted files, thumbnails) in ``gui.pictures``.
The window keeps what those need: each channel member's status
(``statuses``), each channel's modes, the channels we are out of (``left``: a line typed
there is shown refused, not sent), whether we are a teacher, and whether the connection
is lost (``offline``: the nick list greys; ``rejoining``: the channels that will say "back
in" rather than "you joined"; ``joined_lines``: that line, held until the channel's
history has been replayed above it). Closing and moving between tabs is in ``gui.tabs``. An
event whose handling fails is logged with its traceback and skipped (the window says so
once), and the pump re-arms whatever happens. On close every pending ``after()`` of the
root, the pump's next tick among them, is cancelled before the root is destroyed (or,
going back to the connect dialog, emptied).

Threading: everything here runs on the Tk main thread; the client's network thread only
puts events on the queue.
"""

from __future__ import annotations

import logging
import queue
import time
import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from tkinter import font as tkfont
from tkinter import messagebox, ttk

from gui import chrome, tabs
from gui.asking import ask_line
from gui.attention import Unread
from gui.classroom import ClassMenu, add_delete_item, nick_menu
from gui.commands import run_line
from gui.connect_dialog import HostedRoom
from gui.conversation import ConversationView
from gui.emoji import EmojiPicker
from gui.entry import EntryComforts
from gui.members import MemberPanel
from gui.members import order as members_order
from gui.pictures import Pictures
from gui.received import show_event
from gui.search import SearchBar
from gui.settings import Settings, log_file
from gui.social import Social
from gui.theme import THEMES
from net import events as ev
from net.client import ChatClient
from net.i18n import tr
from net.lan import shareable_endpoints
from net.protocol import DEFAULT_CHANNEL, fold_name, irc_lower

log = logging.getLogger(__name__)

#: the longest message one Enter may send: about ten IRC lines
MAX_MESSAGE_CHARS = 4000
POLL_MS = 20  # how often the pump looks at an empty queue
BATCH_SECONDS = 0.010  # the most work one tick of the pump does before letting Tk redraw
BURST_EVENTS = 100  # a tick that handled this many is in a burst: look again after 1 ms,
# not POLL_MS, or a backlog builds up that the rest of the burst waits behind
COPIED_MS = 2000  # how long "Copy address" says "Copied ✓" after a click
CHANNEL_PREFIXES = "#&+!"  # what starts a channel's name on any IRC server (RFC 2811)
#: the nick list's badges by status letter, strongest first: an operator (the teacher, a
#: helper; other servers' owner ``~`` and admin ``&`` are operators and more), a half
#: operator (``%``, other servers only) and someone with voice
BADGES = {"q": "★ ", "a": "★ ", "o": "★ ", "h": "☆ ", "v": "✎ "}
#: the status letters that let their holder moderate a channel
OPERATOR_LETTERS = "qao"


class ChatWindow:
    """The main window (see the module docstring)."""

    def __init__(
        self,
        root: tk.Tk,
        client: ChatClient,
        settings: Settings,
        channel: str = DEFAULT_CHANNEL,
        hosted: HostedRoom | None = None,
        asked_port: int | None = None,
    ) -> None:
        self.root = root
        self.client = client
        self.settings = settings
        self.hosted = hosted  # the room this window opened, closed with it
        #: a hosted room that moved: the port asked for, which another program held
        self.asked_port = asked_port
        self.theme = THEMES.get(settings.theme, THEMES["light"])
        self.font = tkfont.Font(root, family="TkDefaultFont", size=settings.font_size)
        self.views: dict[str, ConversationView] = {}  # irc_lower(name) -> its tab
        self.names: dict[str, str] = {}  # irc_lower(name) -> name as shown
        self.members: dict[str, list[str]] = {}  # irc_lower(channel) -> nicks
        #: irc_lower(channel) -> fold_name(nick) -> status letters ("o", "v", "ov")
        self.statuses: dict[str, dict[str, str]] = {}
        #: irc_lower(channel) -> its modes as the server last told: letter -> parameter
        self.channel_modes: dict[str, dict[str, str]] = {}
        self.left: set[str] = set()  # irc_lower(channel): channels we left or were removed from
        #: fold_name(nick) -> the away message ("" if not said) of those who are away;
        #: forgotten when they come back or quit, so it never outgrows the people met
        self.away: dict[str, str] = {}
        #: fold_name(nick): those whose private tab was told they are away (301), once
        self.away_told: set[str] = set()
        #: certificates the client found untrusted, waiting for the question on screen
        self._trust_waiting: list[ev.CertificateUntrusted] = []
        self._trust_asking = False  # a certificate question is on screen
        #: fingerprint -> what the user answered about that certificate in this window
        self._trust_answers: dict[str, bool] = {}
        self.teacher = False  # our user mode +o: an IRC operator, a teacher everywhere
        self.account = ""  # the account we logged in to, if any
        self.listed: list[str] = []  # the nicks in the nick list, in its order
        self._not_sent = 0  # ids (-1, -2…) of lines refused by the window itself
        self.registered = False  # logged in on the current connection
        self.server_name = ""  # the server's name in its lines ("charla")
        #: set when the window was opened from the connect dialog: a login that can never
        #: work (a wrong password) closes this window and calls it with the reason
        self.back_to_dialog: Callable[[str], None] | None = None
        self.pending: dict[int, str] = {}  # message id -> conversation key
        #: a long message's earlier lines: their message id -> the id of its last line
        #: (whose entry in ``pending`` says where it is shown); gone once delivered
        self.pieces: dict[int, int] = {}
        self.replaying: set[str] = set()  # conversations whose history is being shown
        self.current_key = irc_lower(channel)  # the conversation on show
        self.connection_text = ""  # the first part of the status line
        self.waiting = 0  # our messages the server has not confirmed yet
        self.focused = True
        self.offline = False  # the connection was lost and is not back yet
        self.motd = ""  # the server's welcome last shown (shown again only if it changes)
        self.rejoining: set[str] = set()  # irc_lower(channel): to say "back in" on rejoin
        #: irc_lower(channel) -> (when, line): "You joined #x", waiting for the replay of
        #: the channel's history, which comes after our JOIN but is older (gui.received)
        self.joined_lines: dict[str, tuple[datetime, str]] = {}
        #: a stand-in nick the server gave us at login, and why (for the status line)
        self.nick_note: tuple[str, str] | None = None
        self.unread = Unread(self)  # what the user has not seen: the title, the tabs' marks
        self.closed = False  # close() has run: the root is gone
        self._failure_shown = False  # the window has said once that an event went wrong
        #: what has failed, logged already (a failure met on every tick is logged once)
        self._failures_logged: set[str] = set()
        self._build()
        self.open_conversation(channel)
        root.after(POLL_MS, self._pump)

    # -- building --

    def _build(self) -> None:
        root = self.root
        root.title("Charla")
        root.geometry(self.settings.geometry)
        root.protocol("WM_DELETE_WINDOW", self.request_close)
        self.topic = ttk.Label(root, anchor="w", padding=(10, 6))
        self.topic.grid(row=0, column=0, columnspan=2, sticky="ew")
        self.topic.grid_remove()  # shown only for a channel that has a topic
        self.topics: dict[str, str] = {}  # folded channel -> its topic
        self.tabs = ttk.Notebook(root)
        self.tabs.grid(row=1, column=0, sticky="nsew")
        self.tabs.bind("<<NotebookTabChanged>>", lambda _e: self._on_tab_changed())
        # a click on a tab takes the focus (Tk's own binding): give it back to the entry
        self.tabs.bind("<ButtonRelease-1>", lambda _e: self.entry.focus_set())
        self.members_panel = MemberPanel(root, self.font)
        self.members_panel.frame.grid(row=1, column=1, sticky="ns")
        self.nick_list = self.members_panel.listbox
        self.nick_list.bind("<Double-Button-1>", self._on_nick_double_click)
        self.nick_list.bind("<Button-3>", self._on_nick_right_click)
        self.entry = tk.Entry(root, font=self.font, relief="flat")
        self.entry.grid(row=2, column=0, sticky="ew", padx=6, pady=6, ipady=4)
        self.emoji = EmojiPicker(root, self.entry, self.font, lambda: self.theme)
        self.emoji.button.grid(row=2, column=1, sticky="w", pady=6)
        self.status = ttk.Label(root, anchor="w", padding=(10, 2))
        self.status.grid(row=5, column=0, columnspan=2, sticky="ew")  # the search bar: row 3
        root.rowconfigure(1, weight=1)
        root.columnconfigure(0, weight=1)
        self.entry_comforts = EntryComforts(
            self.entry, self.submit, lambda: self.members.get(self.current_key, [])
        )
        self.entry_comforts.catch_typing(root)
        root.bind("<Control-plus>", lambda _e: self._zoom(1))
        root.bind("<Control-equal>", lambda _e: self._zoom(1))
        root.bind("<Control-minus>", lambda _e: self._zoom(-1))
        root.bind("<Control-f>", lambda _e: self.show_search())
        tabs.bind_keys(self)
        tabs.add_close_buttons(self)
        self._build_search_bar()
        self.pictures = Pictures(self)  # the 📎 button, pasted files, thumbnails
        self.social = Social(self)  # replies, reactions, typing, older messages
        self.search_bar.search_older = self.social.search_older
        root.bind("<Alt-r>", lambda _e: self.social.reply_to_last())
        self._build_menu()
        # On the toplevel these fire for every widget inside too: only the window counts.
        root.bind("<FocusIn>", lambda e: e.widget is root and self._on_focus(True))
        root.bind("<FocusOut>", lambda e: e.widget is root and self._on_focus(False))
        if self.hosted is not None:
            self._build_share_bar()
        self._apply_theme()
        chrome.zoom(self.root, self.settings.font_size)
        self.entry.focus_set()
        self.connection_text = tr("Connecting to {address}…").format(address=self._address())
        self.show_status()

    def _build_menu(self) -> None:
        menu = tk.Menu(self.root)
        view_menu = tk.Menu(menu, tearoff=False)
        self.pictures.add_menu_item(view_menu)
        view_menu.add_command(label=tr("Light or dark theme"), command=self.toggle_theme)
        view_menu.add_command(label=tr("Search…"), accelerator="Ctrl+F", command=self.show_search)
        self.social.add_menu_items(view_menu)
        view_menu.add_command(
            label=tr("Bigger text"), accelerator="Ctrl++", command=lambda: self._zoom(1)
        )
        view_menu.add_command(
            label=tr("Smaller text"), accelerator="Ctrl+-", command=lambda: self._zoom(-1)
        )
        self.comings = tk.BooleanVar(self.root, value=self.settings.comings)
        view_menu.add_checkbutton(
            label=tr("Show who joins and leaves"),
            variable=self.comings,
            command=lambda: setattr(self.settings, "comings", self.comings.get()),
        )
        menu.add_cascade(label=tr("View"), menu=view_menu)
        self.menubar = menu
        self.class_menu = ClassMenu(self, menu)
        self.root.configure(menu=menu)

    def toggle_theme(self) -> None:
        self.theme = THEMES["dark" if self.theme.name == "light" else "light"]
        self.settings.theme = self.theme.name
        self._apply_theme()

    def _build_search_bar(self) -> None:
        """Ctrl+F: the search bar (see ``gui.search``), opened above the status line."""
        self.search_bar = SearchBar(
            self.root, lambda: self.views[self.current_key], self.entry.focus_set
        )
        self.search_entry = self.search_bar.entry

    def show_search(self) -> None:
        self.search_bar.open()
        self.search_bar.grid(row=3, column=0, columnspan=2, sticky="ew")

    def hide_search(self) -> None:
        self.search_bar.close()

    def search(self, pattern: str) -> int:
        """Search ``pattern`` in the conversation on show, as if typed in the bar."""
        self.search_entry.delete(0, "end")
        self.search_entry.insert(0, pattern)
        self.search_bar.step(-1)
        return self.search_bar.count

    def _build_share_bar(self) -> None:
        """For a room opened here: the address the others must type, and a copy button
        that says it copied. An IPv4 address comes first, alone: the IPv6 ones puzzle
        students, so they wait behind "More addresses". A room that could not open on the
        port asked for says so, or whoever was told that port would knock on the wrong one.
        Phones open the web address (the room's own server serves the page), shown below."""
        port = self.hosted.port
        self.share_addresses = shareable_endpoints(None, port) or [f"localhost:{port}"]
        ipv4 = [address for address in self.share_addresses if not address.startswith("[")]
        self.share_text = (ipv4 or self.share_addresses)[0]
        self.web_addresses = self.hosted.web_addresses()  # LAN IPv4 first; [] without web
        bar = ttk.Frame(self.root, padding=(10, 4))
        bar.grid(row=4, column=0, columnspan=2, sticky="ew")
        bar.columnconfigure(0, weight=1)
        if self.asked_port:
            ttk.Label(
                bar,
                text=tr("Port {asked} is in use; the room opens on {port}.").format(
                    asked=self.asked_port, port=port
                ),
            ).grid(row=0, column=0, columnspan=3, sticky="w")
        self.share_label = ttk.Label(bar)
        self.share_label.grid(row=1, column=0, sticky="w")
        self.phone_label = ttk.Label(bar)
        if self.web_addresses:
            self.phone_label.grid(row=2, column=0, columnspan=3, sticky="w")
        self._show_addresses([self.share_text], self.web_addresses[:1])
        if len(self.share_addresses) > 1 or len(self.web_addresses) > 1:
            self.more_addresses = ttk.Button(
                bar, text=tr("More addresses"), command=self._show_all_addresses
            )
            self.more_addresses.grid(row=1, column=1, padx=(6, 0))
        self.copy_button = ttk.Button(bar, text=tr("Copy address"), command=self._copy_address)
        self.copy_button.grid(row=1, column=2, padx=(6, 0))

    def _show_addresses(self, addresses: list[str], web_addresses: list[str]) -> None:
        self.share_label.configure(
            text=tr("Your room is open. The others connect to: {addresses}").format(
                addresses="  ".join(addresses)
            )
        )
        self.phone_label.configure(
            text=tr("On a phone: {addresses}").format(addresses="  ".join(web_addresses))
        )

    def _show_all_addresses(self) -> None:
        """The share bar's every address, the IPv4 ones first (``net.lan`` sorts them)."""
        self._show_addresses(self.share_addresses, self.web_addresses)
        self.more_addresses.grid_remove()

    def _copy_address(self) -> None:
        """Copy the address shown first; the button says "Copied ✓" for a moment, so the
        user knows the click did something (a clipboard shows nothing by itself)."""
        self.root.clipboard_clear()
        self.root.clipboard_append(self.share_text)
        self.copy_button.configure(text=tr("Copied ✓"))
        self.root.after(COPIED_MS, self._copy_button_back)

    def _copy_button_back(self) -> None:
        if not self.closed:
            self.copy_button.configure(text=tr("Copy address"))

    def _apply_theme(self) -> None:
        theme = self.theme
        self.root.configure(background=theme.panel_background)
        chrome.paint(self.root, theme, [self.menubar])  # menus, topic, tabs, status line
        self.nick_list.configure(
            background=theme.panel_background,
            foreground=theme.muted if self.offline else theme.text,  # grey: nobody reachable
        )
        self.entry.configure(
            background=theme.background, foreground=theme.text, insertbackground=theme.text
        )
        for view in self.views.values():
            view.apply_theme(theme)

    def _address(self) -> str:
        return f"{self.client.host}:{self.client.port}"

    # -- conversations --

    def open_conversation(self, name: str, *, select: bool = True) -> ConversationView:
        key = irc_lower(name)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = ConversationView(self.tabs, self.theme, self.font)
            view.text.bind("<Button-3>", lambda e, v=view: self._on_message_right_click(v, e))
            self.names[key] = name
            self.social.attach(key, view)
            self.tabs.add(view, text=name)
        if select:
            self.tabs.select(view)
            self.current_key = key
        return view

    def current_name(self) -> str:
        return self.names.get(self.current_key, DEFAULT_CHANNEL)

    def view_for(self, name: str) -> ConversationView:
        """The tab of ``name``, opened in the background if there is none yet."""
        return self.open_conversation(name, select=False)

    def _on_tab_changed(self) -> None:
        selected = self.tabs.select()
        for key, view in self.views.items():
            if str(view) == selected:
                self.current_key = key
        name = self.current_name()
        self.unread.seen(self.current_key)
        self._show_members(name)
        self.show_topic()
        self.class_menu.refresh()
        self.social.show_typing()

    def show_topic(self) -> None:
        """The topic of the conversation on show above the tabs; no empty band when it
        has none (a private conversation, a channel without a topic)."""
        text = self.topics.get(self.current_key, "")
        self.topic.configure(text=text)
        if text:
            self.topic.grid()
        else:
            self.topic.grid_remove()

    def _show_members(self, name: str) -> None:
        """The nick list: a channel's members, operators (★) first, then half operators
        (☆), those with voice (✎), then everyone else, each group as a Spanish speaker
        sorts names; or the two people in a private conversation."""
        if name[:1] in CHANNEL_PREFIXES:
            members = self.members.get(irc_lower(name), [])
        else:
            members = [self.client.nick, name]
        status = self.statuses.get(irc_lower(name), {})

        letters = list(BADGES)  # strongest first

        def rank(nick: str) -> int:  # the strongest status letter's place; none: last
            held = status.get(fold_name(nick), "")
            return next((n for n, letter in enumerate(letters) if letter in held), len(letters))

        self.listed = members_order(members, rank)
        ranks = [rank(nick) for nick in self.listed]
        away = {nick for nick in self.listed if fold_name(nick) in self.away}
        self.members_panel.show(
            [
                (BADGES[letters[n]] if n < len(letters) else "", nick)
                for n, nick in zip(ranks, self.listed, strict=True)
            ],
            away,
            self.theme.muted,
        )

    def member_status(self, channel: str, nick: str) -> str:
        """``nick``'s status letters in ``channel`` ("o", "v", "ov" or ""; on other
        servers also "h", "a", "q")."""
        return self.statuses.get(irc_lower(channel), {}).get(fold_name(nick), "")

    def is_operator(self, channel: str) -> bool:
        """Whether we may moderate ``channel``: we are a teacher, or an operator there."""
        if channel[:1] not in CHANNEL_PREFIXES or irc_lower(channel) in self.left:
            return False
        status = self.member_status(channel, self.client.nick)
        return self.teacher or any(letter in status for letter in OPERATOR_LETTERS)

    def set_status(self, channel: str, nick: str, mode: str, adding: bool) -> None:
        """``nick`` got or lost ``mode`` ("o" or "v") in ``channel``."""
        statuses = self.statuses.setdefault(irc_lower(channel), {})
        letters = statuses.get(fold_name(nick), "").replace(mode, "")
        statuses[fold_name(nick)] = "".join(sorted(letters + mode)) if adding else letters
        self.refresh_members(channel)
        if fold_name(nick) == fold_name(self.client.nick):
            self.class_menu.refresh()

    # -- the pump --

    def _pump(self) -> None:
        """Show queued events for at most BATCH_SECONDS, then give Tk its turn; always re-armed."""
        busy = False
        try:
            busy = self._show_queued_events()
            for key, view in self.views.items():
                try:
                    view.flush()
                except Exception:  # one view that cannot take its lines: the others still do
                    self._report_failure(f"showing the lines of {key}", every_tick=True)
            self.unread.show()
        except Exception:
            self._report_failure("keeping the window up to date", every_tick=True)
        finally:
            if not self.closed:
                self.root.after(1 if busy else POLL_MS, self._pump)

    def _show_queued_events(self) -> bool:
        """Show events until the queue is empty or BATCH_SECONDS have passed; True when more
        are waiting or a burst is arriving (the pump then looks again at once)."""
        take, now = self.client.events.get_nowait, time.perf_counter
        deadline = now() + BATCH_SECONDS
        shown = 0
        while now() < deadline:
            try:
                event = take()
            except queue.Empty:
                return shown >= BURST_EVENTS
            try:
                show_event(self, event)
            except Exception:  # one bad event must not stop the ones after it
                self._report_failure(f"showing a {type(event).__name__} event")
            shown += 1
        return True

    def _report_failure(self, what: str, *, every_tick: bool = False) -> None:
        """Log what went wrong with its traceback (a failure that ``every_tick`` of the pump
        meets again, once only); tell the user once, in the window."""
        if not every_tick or what not in self._failures_logged:
            self._failures_logged.add(what)
            log.exception("the window failed %s", what)
        if not self._failure_shown:
            self._failure_shown = True
            self.view_for(self.current_name()).add_system(
                datetime.now().astimezone(),
                tr("Something went wrong; details are in {path}.").format(path=log_file()),
            )

    # -- members, unread messages, status --

    def set_member(self, channel: str, nick: str, *, present: bool) -> None:
        """``nick`` is (or is no longer) in ``channel``."""
        nicks = self.members.setdefault(irc_lower(channel), [])
        if present and nick not in nicks:
            nicks.append(nick)
        elif not present and nick in nicks:
            nicks.remove(nick)
        if not present:  # who comes back comes back with no status
            self.statuses.get(irc_lower(channel), {}).pop(fold_name(nick), None)
        self.refresh_members(channel)

    def refresh_members(self, channel: str) -> None:
        """Show ``channel``'s members again if it is the conversation on show."""
        if irc_lower(channel) == self.current_key:
            self._show_members(channel)

    def count_unread(self, name: str, key: str, *, calling: bool = False) -> None:
        """A message arrived in ``name`` (folded: ``key``); ``calling``: a mention or a
        private message (see ``gui.attention.Unread``)."""
        self.unread.arrived(name, key, calling=calling)

    def _on_focus(self, focused: bool) -> None:
        if focused != self.focused:  # behind: unread begin with the next message
            for view in self.views.values():
                view.mark_unread_from_here("" if focused else tr("new messages"))
        self.focused = focused
        self.unread.focus_changed(focused)

    def connected_as(self, nick: str) -> None:
        self.connection_text = tr("Connected to {address} as {nick}").format(
            address=self._address(), nick=nick
        )
        self.show_status()

    def show_status(self) -> None:
        """Where we are connected (or how reconnecting goes), and what waits to go out."""
        text = self.connection_text
        if self.waiting == 1:
            text += " · " + tr("1 message waiting to go out")
        elif self.waiting:
            text += " · " + tr("{count} messages waiting to go out").format(count=self.waiting)
        self.status.configure(text=text)

    # -- typing --

    def submit(self, line: str) -> None:
        """Carry out one line typed in the entry (see ``gui.commands``)."""
        run_line(self, line)

    def send_text(
        self,
        target: str,
        text: str,
        *,
        action: bool,
        notice: bool = False,
        poll: tuple[str, ...] = (),
    ) -> list[int]:
        """Send a message (or a ``/me`` action) and show it as *sending…* until delivered;
        one too long for a chat (a whole document pasted on one line) is refused, not
        turned into hundreds of lines the server would have to take. ``poll``: the options
        of a quick poll it asks (``gui.social``). Returns the ids of its lines."""
        if len(text) > MAX_MESSAGE_CHARS:
            self.view_for(target).add_system(
                datetime.now().astimezone(),
                tr("That message is too long to send ({count} characters; at most {most}).").format(
                    count=len(text), most=MAX_MESSAGE_CHARS
                ),
            )
            return []
        if irc_lower(target) in self.left:  # removed, or left: shown refused, and how to return
            self._not_sent -= 1
            view = self.view_for(target)
            view.add_message(
                datetime.now().astimezone(),
                self.client.nick,
                text,
                own=True,
                action=action,
                pending_id=self._not_sent,
            )
            view.mark_refused(
                self._not_sent,
                tr("you are not in {channel}; type /unirse {channel} to go back").format(
                    channel=target
                ),
            )
            return []
        quote = None if notice or action else self.social.take_reply(target)
        if notice:
            ids = self.client.notice(target, text)
        elif action:
            ids = self.client.action(target, text)
        else:
            ids = self.client.say(target, text, reply_to=quote[0] if quote else "", poll=poll)
        self.social.stopped_typing(target)
        if not ids:
            return []
        key = irc_lower(target)
        self.pending[ids[-1]] = key
        for piece in ids[:-1]:
            self.pieces[piece] = ids[-1]
        self.view_for(target).add_message(
            datetime.now().astimezone(),
            self.client.nick,
            text,
            own=True,
            action=action,
            pending_id=ids[-1],
            quote=quote,
        )
        return ids

    def _zoom(self, step: int) -> None:
        self.settings.font_size = max(7, min(32, self.settings.font_size + step))
        self.font.configure(size=self.settings.font_size)
        chrome.zoom(self.root, self.settings.font_size)  # menus, tabs, topic, status line too
        for view in self.views.values():
            view.follow_font()

    def _on_nick_double_click(self, _event: tk.Event) -> None:
        selection = self.nick_list.curselection()
        if selection and selection[0] < len(self.listed):
            self.open_conversation(self.listed[selection[0]])

    def _on_nick_right_click(self, event: tk.Event) -> None:
        """The nick's menu (see ``gui.classroom.nick_menu``) under the pointer."""
        index = self.nick_list.nearest(event.y)
        if not 0 <= index < len(self.listed):
            return
        self.nick_list.selection_clear(0, "end")
        self.nick_list.selection_set(index)
        self.popup = nick_menu(self, self.listed[index])
        self.popup.tk_popup(event.x_root, event.y_root)

    def _on_message_right_click(self, view: ConversationView, event: tk.Event) -> None:
        """A message's menu: reply, react (``gui.social``), delete (for its author and
        operators: ``gui.classroom``)."""
        found = view.message_at(event.x, event.y)
        if not found:
            return
        key = next((k for k, v in self.views.items() if v is view), self.current_key)
        target = self.names.get(key, key)
        menu = tk.Menu(self.root, tearoff=False)
        self.social.add_message_items(menu, target, *found)
        add_delete_item(self, menu, target, *found)
        if menu.index("end") is not None:
            self.popup = menu
            menu.tk_popup(event.x_root, event.y_root)

    def ask_account_password(self, nick: str) -> None:
        """Our nick is a registered account's: ask its password (not shown as typed) and
        log in; cancelled, the client takes another nick."""
        password = ask_line(
            self.root,
            "Charla",
            tr("The nickname {nick} is registered. Type its password to log in:").format(nick=nick),
            secret=True,
        )
        if self.closed:
            return
        if password:
            self.client.login(password)
        else:
            self.client.skip_login()

    def ask_trust(self, event: ev.CertificateUntrusted) -> None:
        """A TLS server's certificate is not trusted here: show why and its fingerprint,
        and trust it (remembered in the settings) only if the user says so. A changed
        certificate is a warning, "no" first: it may be someone pretending to be the
        server. One question at a time (Tk's message boxes cannot be nested: answering
        the inner one would answer the outer one too), and one per certificate: the
        servers of a network often share one, and the answer goes for all of them."""
        self._trust_waiting.append(event)
        if self._trust_asking:
            return  # asked when the question on screen is answered
        self._trust_asking = True
        try:
            while self._trust_waiting and not self.closed:
                event = self._trust_waiting.pop(0)
                trusted = self._trust_answers.get(event.fingerprint)
                if trusted is None:  # the same certificate on another server: not asked again
                    trusted = self._trust_answers[event.fingerprint] = self._ask_trust(event)
                if self.closed:
                    return
                if trusted:
                    self.settings.trusted_certificates[event.key] = event.fingerprint
                    self.client.trust(event.key, event.fingerprint)
                    continue
                self.connection_text = tr(
                    "Not connected: the certificate of {server} is not trusted"
                ).format(server=event.key)
                self.show_status()
        finally:
            self._trust_asking = False

    def _ask_trust(self, event: ev.CertificateUntrusted) -> bool:
        if event.changed:
            question = tr(
                "WARNING: the certificate of {server} is not the one you trusted before.\n\n"
                "{reason}.\n\nNew SHA-256 fingerprint:\n{fingerprint}\n\n"
                "Trust the new certificate and connect?"
            )
        else:
            question = tr(
                "The secure server {server} cannot be checked: {reason}.\n\n"
                "SHA-256 fingerprint of its certificate:\n{fingerprint}\n\n"
                "If the teacher or the school's IT gave you this fingerprint and it is the "
                "same, you can trust it. Trust this certificate and connect?"
            )
        pairs = event.fingerprint.split(":")  # 8 of its 32 pairs a line: as narrow as a dialog
        shown = "\n".join(":".join(pairs[at : at + 8]) for at in range(0, len(pairs), 8))
        text = question.format(server=event.key, reason=event.reason, fingerprint=shown)
        return messagebox.askyesno(
            "Charla",
            text,
            icon="warning" if event.changed else "question",
            default="no" if event.changed else "yes",
            parent=self.root,
        )

    # -- closing --

    def request_close(self, *, confirm: bool = False) -> None:
        """The window's close button and ``/salir``: a window that hosts the room asks
        first, since closing it closes the room for everyone; ``confirm`` (the word "close"
        typed alone, which may have been meant as a message) asks in any case."""
        if (
            confirm
            and self.hosted is None
            # "no" first: an Enter pressed by reflex after "Close" must not quit
            and not messagebox.askyesno(
                "Charla", tr("Quit Charla?"), default="no", parent=self.root
            )
        ):
            return
        if self.hosted is not None and not messagebox.askokcancel(
            "Charla",
            tr("The room will close for everyone. Close it?"),
            icon="warning",
            parent=self.root,
        ):
            return
        self.close()

    def return_to_dialog(self, reason: str) -> None:
        """A password was wrong: back to the connect dialog, which shows ``reason``."""
        callback = self.back_to_dialog
        if callback is None or self.closed:
            return
        self.close(keep_root=True)
        callback(reason)

    def close(self, *, keep_root: bool = False) -> None:
        """Say goodbye to the server, stop the pump, every timer and every thread, close the
        window (or, ``keep_root``, empty it for the connect dialog). Safe to call twice."""
        if self.closed:
            return
        self.closed = True  # from now on the pump does not re-arm itself
        self.entry_comforts.cancel()
        self.settings.geometry = self.root.winfo_geometry()
        self.client.quit(tr("Goodbye!"))
        if self.hosted is not None:
            self.hosted.shutdown(tr("The server is shutting down. Goodbye!"))
        # Every timer still pending on this root (the pump's next tick, a conversation's
        # settle(), Tk's own auto-scroll…) would run after the destroy and fail: cancel them.
        for timer in self.root.tk.splitlist(self.root.tk.call("after", "info")):
            self.root.tk.call("after", "cancel", timer)
        if not keep_root:
            self.root.destroy()
            return
        for sequence in self.root.bind():  # ours, all of them: they point at this window
            self.root.unbind(sequence)
        for child in self.root.winfo_children():  # the menu bar and popups among them
            child.destroy()
        self.root.configure(menu="")
        self.root.protocol("WM_DELETE_WINDOW", self.root.destroy)
        self.root.title("Charla")
