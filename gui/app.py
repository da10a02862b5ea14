"""The Charla window: conversations in tabs, the nick list, the topic, a status line, the entry.

``ChatWindow(root, client)`` drives a ``net.client.ChatClient``: it calls its methods, and
one ``after()`` pump drains the client's event queue in bounded batches (at most
``BATCH_SECONDS`` of work per tick, again at once if more is waiting or a burst is
arriving, else every ``POLL_MS``), so a burst of messages never freezes the window and is
not kept waiting. The pump is cancelled on close.

Threading: everything here runs on the Tk main thread; the client's network thread only
puts events on the queue.
"""

from __future__ import annotations

import logging
import queue
import time
import tkinter as tk
from datetime import datetime
from tkinter import font as tkfont
from tkinter import messagebox, ttk

from gui.commands import Command, Say, Unknown, parse_input
from gui.conversation import ConversationView
from gui.desktop import flash_taskbar
from gui.settings import Settings
from gui.theme import THEMES
from net import events as ev
from net.client import ChatClient
from net.i18n import tr
from net.lan import shareable_endpoints
from net.protocol import DEFAULT_CHANNEL, fold_name, irc_lower
from net.server import ChatServer

log = logging.getLogger(__name__)

POLL_MS = 20  # how often the pump looks at an empty queue
BATCH_SECONDS = 0.010  # the most work one tick of the pump does before letting Tk redraw
BURST_EVENTS = 100  # a tick that handled this many is in a burst: look again after 1 ms,
# not POLL_MS, or a backlog builds up that the rest of the burst waits behind
CHANNEL_PREFIXES = "#&+!"  # what starts a channel's name on any IRC server (RFC 2811)
FOLDED_FROM_SYMBOLS = frozenset("{}|^")  # what irc_lower makes of [ ] \ ~
PASTE_PACE_MS = 400  # between the lines of a multi-line paste


def error_text(code: str, server_text: str) -> str:
    """What the window says for one of the server's error numerics (else the server's text)."""
    texts = {
        "401": tr("Nobody is connected with that name."),
        "403": tr("That channel does not exist."),
        "404": tr("You cannot write in that channel."),
        "417": tr("That message is too long."),
        "432": tr("That nickname is not valid."),
        "433": tr("That nickname is already in use."),
        "442": tr("You are not in that channel."),
        "464": tr("Wrong password."),
        "482": tr("Only the operator can do that."),
    }
    return texts.get(code, server_text)


class ChatWindow:
    """The main window (see the module docstring)."""

    def __init__(
        self,
        root: tk.Tk,
        client: ChatClient,
        settings: Settings,
        channel: str = DEFAULT_CHANNEL,
        hosted: ChatServer | None = None,
    ) -> None:
        self.root = root
        self.client = client
        self.settings = settings
        self.hosted = hosted  # the room this window opened, closed with it
        self.theme = THEMES.get(settings.theme, THEMES["light"])
        self.font = tkfont.Font(root, family="TkDefaultFont", size=settings.font_size)
        self.views: dict[str, ConversationView] = {}  # irc_lower(name) -> its tab
        self.names: dict[str, str] = {}  # irc_lower(name) -> name as shown
        self.members: dict[str, list[str]] = {}  # irc_lower(channel) -> nicks
        self.pending: dict[int, str] = {}  # message id -> conversation key
        self.replaying: set[str] = set()  # conversations whose history is being shown
        self.unread = 0  # messages that arrived while the user was not looking
        self.shown_unread = 0  # the count in the title now
        self.current_key = irc_lower(channel)  # the conversation on show
        self.marked: set[str] = set()  # tabs showing "•" for unread messages
        self.connection_text = ""  # the first part of the status line
        self.waiting = 0  # our messages the server has not confirmed yet
        self.focused = True
        self.sent: list[str] = []  # what the user typed, for Up/Down
        self.sent_index = 0
        self._pump_id: str | None = None
        self._build()
        self.open_conversation(channel)
        self._pump_id = root.after(POLL_MS, self._pump)

    # -- building --

    def _build(self) -> None:
        root = self.root
        root.title("Charla")
        root.geometry(self.settings.geometry)
        root.protocol("WM_DELETE_WINDOW", self.close)
        self.topic = ttk.Label(root, anchor="w", padding=(10, 6))
        self.topic.grid(row=0, column=0, columnspan=2, sticky="ew")
        self.tabs = ttk.Notebook(root)
        self.tabs.grid(row=1, column=0, sticky="nsew")
        self.tabs.bind("<<NotebookTabChanged>>", lambda _e: self._on_tab_changed())
        self.nick_list = tk.Listbox(
            root, width=18, borderwidth=0, activestyle="none", font=self.font
        )
        self.nick_list.grid(row=1, column=1, sticky="ns")
        self.nick_list.bind("<Double-Button-1>", self._on_nick_double_click)
        self.entry = tk.Entry(root, font=self.font, relief="flat")
        self.entry.grid(row=2, column=0, columnspan=2, sticky="ew", padx=6, pady=6, ipady=4)
        self.status = ttk.Label(root, anchor="w", padding=(10, 2))
        self.status.grid(row=3, column=0, columnspan=2, sticky="ew")
        root.rowconfigure(1, weight=1)
        root.columnconfigure(0, weight=1)
        self.entry.bind("<Return>", self._on_entry_return)
        self.entry.bind("<Up>", lambda _e: self._recall(-1))
        self.entry.bind("<Down>", lambda _e: self._recall(1))
        self.entry.bind("<Tab>", self._on_tab_complete)
        self.entry.bind("<<Paste>>", self._on_paste)
        root.bind("<Control-plus>", lambda _e: self._zoom(1))
        root.bind("<Control-equal>", lambda _e: self._zoom(1))
        root.bind("<Control-minus>", lambda _e: self._zoom(-1))
        root.bind("<Control-f>", lambda _e: self.show_search())
        self._build_search_bar()
        self._build_menu()
        # On the toplevel these fire for every widget inside too: only the window counts.
        root.bind("<FocusIn>", lambda e: e.widget is root and self._on_focus(True))
        root.bind("<FocusOut>", lambda e: e.widget is root and self._on_focus(False))
        if self.hosted is not None:
            self._build_share_bar()
        self._apply_theme()
        self.entry.focus_set()
        self.connection_text = tr("Connecting to {address}…").format(address=self._address())
        self._show_status()

    def _build_menu(self) -> None:
        menu = tk.Menu(self.root)
        view_menu = tk.Menu(menu, tearoff=False)
        view_menu.add_command(label=tr("Light or dark theme"), command=self.toggle_theme)
        view_menu.add_command(label=tr("Search…"), accelerator="Ctrl+F", command=self.show_search)
        view_menu.add_command(
            label=tr("Bigger text"), accelerator="Ctrl++", command=lambda: self._zoom(1)
        )
        view_menu.add_command(
            label=tr("Smaller text"), accelerator="Ctrl+-", command=lambda: self._zoom(-1)
        )
        menu.add_cascade(label=tr("View"), menu=view_menu)
        self.root.configure(menu=menu)

    def toggle_theme(self) -> None:
        self.theme = THEMES["dark" if self.theme.name == "light" else "light"]
        self.settings.theme = self.theme.name
        self._apply_theme()

    def _build_search_bar(self) -> None:
        """Ctrl+F: a line to search the conversation; Enter finds, Escape closes."""
        self.search_bar = ttk.Frame(self.root, padding=(10, 2))
        ttk.Label(self.search_bar, text=tr("Search:")).pack(side="left")
        self.search_entry = ttk.Entry(self.search_bar, width=30)
        self.search_entry.pack(side="left", padx=6)
        self.search_result = ttk.Label(self.search_bar)
        self.search_result.pack(side="left")
        self.search_entry.bind("<Return>", lambda _e: self.search(self.search_entry.get()))
        self.search_entry.bind("<Escape>", lambda _e: self.hide_search())

    def show_search(self) -> None:
        self.search_bar.grid(row=5, column=0, columnspan=2, sticky="ew")
        self.search_entry.focus_set()

    def hide_search(self) -> None:
        self.views[self.current_key].find("")
        self.search_bar.grid_remove()
        self.entry.focus_set()

    def search(self, pattern: str) -> int:
        count = self.views[self.current_key].find(pattern)
        found = tr("1 found") if count == 1 else tr("{count} found").format(count=count)
        self.search_result.configure(text=found)
        return count

    def _build_share_bar(self) -> None:
        """For a room opened here: the address the others must type, and a copy button."""
        addresses = shareable_endpoints(None, self.hosted.port) or [f"localhost:{self.hosted.port}"]
        self.share_text = addresses[0]
        bar = ttk.Frame(self.root, padding=(10, 4))
        bar.grid(row=4, column=0, columnspan=2, sticky="ew")
        ttk.Label(
            bar,
            text=tr("Your room is open. The others connect to: {addresses}").format(
                addresses="  ".join(addresses)
            ),
        ).pack(side="left")
        ttk.Button(bar, text=tr("Copy address"), command=self._copy_address).pack(side="right")

    def _copy_address(self) -> None:
        self.root.clipboard_clear()
        self.root.clipboard_append(self.share_text)

    def _apply_theme(self) -> None:
        theme = self.theme
        self.root.configure(background=theme.panel_background)
        self.nick_list.configure(background=theme.panel_background, foreground=theme.text)
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
            self.names[key] = name
            self.tabs.add(view, text=name)
        if select:
            self.tabs.select(view)
            self.current_key = key
        return view

    def current_name(self) -> str:
        return self.names.get(self.current_key, DEFAULT_CHANNEL)

    def _view_for(self, name: str) -> ConversationView:
        return self.open_conversation(name, select=False)

    def _on_tab_changed(self) -> None:
        selected = self.tabs.select()
        for key, view in self.views.items():
            if str(view) == selected:
                self.current_key = key
        name = self.current_name()
        if self.current_key in self.marked:
            self.marked.discard(self.current_key)
            self.tabs.tab(self.views[self.current_key], text=name)
        self._show_members(name)

    def _show_members(self, name: str) -> None:
        """The nick list: a channel's members, or the two people in a private conversation."""
        self.nick_list.delete(0, "end")
        if name[:1] in CHANNEL_PREFIXES:
            members = self.members.get(irc_lower(name), [])
        else:
            members = [self.client.nick, name]
        for nick in sorted(members, key=irc_lower):
            self.nick_list.insert("end", nick)

    # -- the pump --

    def _pump(self) -> None:
        """Handle queued events for at most BATCH_SECONDS, then give Tk its turn."""
        # looked up once, not per event
        now, take, handle = time.perf_counter, self.client.events.get_nowait, self.handle
        deadline = now() + BATCH_SECONDS
        more = False
        handled = 0
        while now() < deadline:
            try:
                event = take()
            except queue.Empty:
                break
            handle(event)
            handled += 1
        else:
            more = True
        for view in self.views.values():
            view.flush()
        self._show_unread()
        busy = more or handled >= BURST_EVENTS  # a burst is arriving: do not wait POLL_MS
        self._pump_id = self.root.after(1 if busy else POLL_MS, self._pump)

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.ChatMessage):  # first: nearly every event is one
            self._show_message(event)
            return
        now = datetime.now().astimezone()
        if isinstance(event, ev.Delivered):
            key = self.pending.pop(event.message_id, None)
            if key in self.views:
                self.views[key].mark_delivered(event.message_id)
        elif isinstance(event, ev.Announcement):
            self._view_for(self.current_name()).add_announcement(event.time, event.text)
            self.root.bell()
        elif isinstance(event, ev.Names):
            self.members[irc_lower(event.channel)] = list(event.nicks)
            self._refresh_members(event.channel)
        elif isinstance(event, ev.Joined):
            self._member(event.channel, event.nick, add=True)
            text = tr("You joined {channel}") if event.me else tr("{nick} joined")
            self._view_for(event.channel).add_system(
                now, text.format(nick=event.nick, channel=event.channel)
            )
        elif isinstance(event, ev.Parted):
            self._member(event.channel, event.nick, add=False)
            self._view_for(event.channel).add_system(now, tr("{nick} left").format(nick=event.nick))
        elif isinstance(event, ev.Kicked):
            self._member(event.channel, event.nick, add=False)
            self._view_for(event.channel).add_system(
                now,
                tr("{nick} was removed ({reason})").format(nick=event.nick, reason=event.reason),
            )
        elif isinstance(event, ev.UserQuit):
            for key, nicks in self.members.items():
                if event.nick in nicks:
                    self._member(self.names.get(key, key), event.nick, add=False)
                    self.views[key].add_system(now, tr("{nick} left").format(nick=event.nick))
        elif isinstance(event, ev.NickChanged):
            for key, nicks in self.members.items():
                if event.old in nicks:
                    nicks[nicks.index(event.old)] = event.new
                    self.views[key].add_system(
                        now, tr("{old} is now {new}").format(old=event.old, new=event.new)
                    )
                    self._refresh_members(self.names.get(key, key))
            if event.me:
                self._connected_as(event.new)
        elif isinstance(event, ev.Topic):
            if irc_lower(event.channel) == self.current_key:
                self.topic.configure(text=event.topic)
            if event.changed:
                self._view_for(event.channel).add_system(
                    now,
                    tr("{nick} set the topic: {topic}").format(nick=event.by, topic=event.topic),
                )
        elif isinstance(event, ev.Registered):
            self._connected_as(event.nick)
        elif isinstance(event, ev.Disconnected):
            self.connection_text = tr("Reconnecting… attempt {attempt} in {seconds} s").format(
                attempt=event.attempt, seconds=max(1, round(event.retry_in or 0))
            )
            self._show_status()
        elif isinstance(event, ev.OutboxChanged):
            self.waiting = event.pending
            self._show_status()
        elif isinstance(event, ev.ServerError):
            self._view_for(self.current_name()).add_system(now, error_text(event.code, event.text))
        elif isinstance(event, ev.Closed):
            self.connection_text = tr("Disconnected: {reason}").format(reason=event.reason)
            self._show_status()

    def _show_message(self, event: ev.ChatMessage) -> None:
        name = event.sender if event.private and not event.own else event.target
        key = fold_name(name)
        view = self.views.get(key) or self._view_for(name)
        if event.history:
            self.replaying.add(key)
        elif key in self.replaying:  # history is over: live from here
            self.replaying.discard(key)
            view.add_marker(tr("new messages"))
        mention = not event.own and self._mentions_me(event.text)
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
            self.root.bell()
            if not self.focused:
                flash_taskbar(self.root)
        self._count_unread(name, key)

    def _mentions_me(self, text: str) -> bool:
        """Whether ``text`` contains our nick, compared as ``irc_lower`` folds names."""
        me = fold_name(self.client.nick)
        if text.isascii() and FOLDED_FROM_SYMBOLS.isdisjoint(me):
            # The same answer without folding the whole text: on ASCII, irc_lower only
            # lowers case and turns [ ] \ ~ into { } | ^, none of which is in our nick.
            return me in text.lower()
        return me in irc_lower(text)

    def _member(self, channel: str, nick: str, *, add: bool) -> None:
        nicks = self.members.setdefault(irc_lower(channel), [])
        if add and nick not in nicks:
            nicks.append(nick)
        elif not add and nick in nicks:
            nicks.remove(nick)
        self._refresh_members(channel)

    def _refresh_members(self, channel: str) -> None:
        if irc_lower(channel) == self.current_key:
            self._show_members(channel)

    def _count_unread(self, name: str, key: str) -> None:
        if self.focused and key == self.current_key:
            return
        self.unread += 1
        if key != self.current_key and key not in self.marked:
            self.marked.add(key)
            self.tabs.tab(self.views[key], text=f"{name} •")

    def _show_unread(self) -> None:
        """The unread count in the title, changed once per pump tick at most."""
        if self.unread != self.shown_unread:
            self.shown_unread = self.unread
            self.root.title(f"({self.unread}) Charla" if self.unread else "Charla")

    def _on_focus(self, focused: bool) -> None:
        if focused and not self.focused:
            self.unread = 0
            self._show_unread()
        elif not focused and self.focused:
            for view in self.views.values():
                view.add_marker(tr("new messages"))
        self.focused = focused

    def _connected_as(self, nick: str) -> None:
        self.connection_text = tr("Connected to {address} as {nick}").format(
            address=self._address(), nick=nick
        )
        self._show_status()

    def _show_status(self) -> None:
        """Where we are connected (or how reconnecting goes), and what waits to go out."""
        text = self.connection_text
        if self.waiting == 1:
            text += " · " + tr("1 message waiting to go out")
        elif self.waiting:
            text += " · " + tr("{count} messages waiting to go out").format(count=self.waiting)
        self.status.configure(text=text)

    # -- typing --

    def _on_entry_return(self, _event: tk.Event | None = None) -> str:
        line = self.entry.get()
        self.entry.delete(0, "end")
        if line.strip():
            self.sent.append(line)
            self.sent_index = len(self.sent)
        self.submit(line)
        return "break"

    def submit(self, line: str) -> None:
        """Carry out one line typed in the entry."""
        parsed = parse_input(line)
        target = self.current_name()
        now = datetime.now().astimezone()
        view = self._view_for(target)
        if isinstance(parsed, Say):
            self._send(target, parsed.text, action=False)
        elif isinstance(parsed, Unknown):
            hint = (
                tr("Did you mean {command}?").format(command=parsed.suggestion)
                if parsed.suggestion
                else ""
            )
            view.add_system(
                now,
                f"{tr('Unknown command {command}.').format(command=parsed.typed)} {hint} "
                + tr("Type /ayuda (/help) for the list."),
            )
        elif isinstance(parsed, Command):
            self._command(parsed, target, view, now)

    def _command(
        self, command: Command, target: str, view: ConversationView, now: datetime
    ) -> None:
        name, args = command.name, command.args
        if name == "nick" and args:
            self.client.change_nick(args.split()[0])
        elif name == "me" and args:
            self._send(target, args, action=True)
        elif name == "msg" and len(args.split(maxsplit=1)) == 2:
            nick, text = args.split(maxsplit=1)
            self.open_conversation(nick)
            self._send(nick, text, action=False)
        elif name == "join" and args:
            channel = args.split()[0]
            channel = channel if channel.startswith("#") else f"#{channel}"
            self.client.join(channel)
            self.open_conversation(channel)
        elif name == "part":
            self.client.part(args or target)
        elif name == "topic" and args:
            self.client.set_topic(target, args)
        elif name == "users":
            nicks = self.members.get(irc_lower(target), [])
            view.add_system(
                now,
                tr("In {channel} ({count}): {people}").format(
                    channel=target, count=len(nicks), people=", ".join(nicks)
                ),
            )
        elif name == "clear":
            view.clear()
        elif name == "help":
            view.add_system(
                now,
                tr(
                    "Commands: /apodo (/nick) NAME · /yo (/me) TEXT · /privado (/msg) NAME TEXT · "
                    "/unirse (/join) #CHANNEL · /dejar (/part) · /tema (/topic) TEXT · "
                    "/usuarios (/users) · /limpiar (/clear) · /salir (/quit) or close"
                ),
            )
        elif name == "quit":
            self.close()
        else:
            view.add_system(now, tr("Type /ayuda (/help) for the list."))

    def _send(self, target: str, text: str, *, action: bool) -> None:
        ids = self.client.action(target, text) if action else self.client.say(target, text)
        if not ids:
            return
        key = irc_lower(target)
        self.pending[ids[-1]] = key
        self._view_for(target).add_message(
            datetime.now().astimezone(),
            self.client.nick,
            text,
            own=True,
            action=action,
            pending_id=ids[-1],
        )

    def _recall(self, step: int) -> str:
        if self.sent:
            self.sent_index = max(0, min(len(self.sent), self.sent_index + step))
            self.entry.delete(0, "end")
            if self.sent_index < len(self.sent):
                self.entry.insert(0, self.sent[self.sent_index])
        return "break"

    def _on_tab_complete(self, _event: tk.Event) -> str:
        text = self.entry.get()[: self.entry.index("insert")]
        word = text.split(" ")[-1]
        if word:
            matches = [
                n
                for n in self.members.get(self.current_key, [])
                if irc_lower(n).startswith(irc_lower(word))
            ]
            if matches:
                completion = sorted(matches, key=irc_lower)[0] + (": " if text == word else " ")
                self.entry.delete(self.entry.index("insert") - len(word), "insert")
                self.entry.insert("insert", completion)
        return "break"

    def _on_paste(self, _event: tk.Event) -> str | None:
        try:
            pasted = self.root.clipboard_get()
        except tk.TclError:
            return None
        lines = [line for line in pasted.splitlines() if line.strip()]
        if len(lines) < 2:
            return None
        if messagebox.askyesno(
            "Charla", tr("Send these {count} lines?").format(count=len(lines)), parent=self.root
        ):
            self.send_paced(lines)
        return "break"

    def send_paced(self, lines: list[str]) -> None:
        """Send pasted lines one by one, at a polite pace."""
        if lines:
            self.submit(lines[0])
            self.root.after(PASTE_PACE_MS, self.send_paced, lines[1:])

    def _zoom(self, step: int) -> None:
        self.settings.font_size = max(7, min(32, self.settings.font_size + step))
        self.font.configure(size=self.settings.font_size)

    def _on_nick_double_click(self, _event: tk.Event) -> None:
        selection = self.nick_list.curselection()
        if selection:
            self.open_conversation(self.nick_list.get(selection[0]))

    # -- closing --

    def close(self) -> None:
        """Say goodbye to the server, stop the pump and every thread, close the window."""
        if self._pump_id is not None:
            self.root.after_cancel(self._pump_id)
            self._pump_id = None
        self.settings.geometry = self.root.winfo_geometry()
        self.client.quit(tr("Goodbye!"))
        if self.hosted is not None:
            self.hosted.shutdown(tr("The server is shutting down. Goodbye!"))
        self.root.destroy()
