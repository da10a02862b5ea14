"""The first thing a double-click shows: where to connect, as whom, or host a room here.

``ConnectDialog`` asks for the server address (prefilled with the last one used; for an
IRC network, its servers separated by commas, ``ircs://`` for TLS: ``net.network``) and the
nickname, or offers to **host a room on this computer**: that starts a Charla server in
this process, so one person with one double-click can open a class chat (on the next free
port when another program holds the usual one). It lists, live, the rooms announced on
the local network (``net.mdns``: "Sala de Marta — #general — 192.168.1.23:12345"); a
double-click joins one, and when none is heard after a few seconds it says what to check.
The server's modules (and sqlite3) are imported only for hosting, so a window that only
joins rooms never loads them. Wrong input is explained in plain words; an unreachable
server is found out by trying to connect, on a worker thread, so the window never freezes.

Threading: a Tk frame on the main thread; the reachability check runs on a short-lived
worker thread, and the rooms browser (``net.mdns.Browser``) on its own; both only put
their answers on a ``queue.Queue``, drained with ``after()``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import secrets
import socket
import threading
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk
from typing import Any, Protocol

from gui.settings import Settings
from net.i18n import tr
from net.network import ServerAddress, parse_servers
from net.protocol import DEFAULT_PORT, is_valid_nick, wire_number

log = logging.getLogger(__name__)

HOST_PORT_TRIES = 10  # a room whose port another program holds takes the next free one
# "taken": in use, or (Windows) reserved by the system or held exclusively by a program
PORT_TAKEN = {errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEACCES", errno.EACCES)}
CHECK_TIMEOUT = 3.0  # seconds to wait for a server to answer the reachability check
CHECKED_SERVERS = 4  # of a network's servers, how many the check tries before it says no
ROOMS_POLL_MS = 250  # how often the rooms heard are shown
NOTHING_FOUND_AFTER = 4.0  # seconds without a room before saying what to check
MAX_LISTED_ROOMS = 50


def room_line(room: Any) -> str:
    """ "Sala de Marta — #general — 192.168.1.23:12345 — con contraseña"."""
    parts = [room.name]
    if room.channel:
        parts.append(room.channel)
    parts.append(room.endpoint)
    if room.password:
        parts.append(tr("with a password"))
    return " — ".join(parts)


def _multicast_browser(on_change: Callable[[tuple], None]) -> Any:
    from net.mdns import Browser  # only when the dialog lists rooms

    return Browser(on_change)


def problem_in_words(exc: OSError) -> str:
    """Why a connection failed, in the window's language (the system's own text,
    "Connection refused", would be English under --lang es); its text for anything rarer."""
    if isinstance(exc, socket.gaierror):
        return tr("that name is not known on this network")
    if isinstance(exc, TimeoutError):
        return tr("no answer in time")
    known = {
        errno.ECONNREFUSED: tr("nothing answers on that port"),
        errno.ETIMEDOUT: tr("no answer in time"),
        errno.EHOSTUNREACH: tr("that computer cannot be reached"),
        errno.ENETUNREACH: tr("the network cannot be reached"),
        errno.ECONNRESET: tr("the connection was cut"),
    }
    return known.get(exc.errno or 0) or exc.strerror or str(exc)


class HostedRoom(Protocol):
    """A room opened in this process: a ``net.server.ChatServer``, named by what the window
    uses of it, so that nothing imports the server until a room is opened."""

    @property
    def port(self) -> int: ...

    def shutdown(self, reason: str = ...) -> None: ...


def start_room(
    port: int,
    host: str | None = None,
    oper: tuple[str, str] | None = None,
    room_name: str | None = None,
) -> HostedRoom:
    """Start a Charla server in this process on ``port``, on every interface (or only on
    ``host``); raises OSError as ``ChatServer.start`` does. ``oper`` (name, password) is
    the credential with which the hosting window makes itself the room's teacher
    (``OPER``); a server without teachers yet ignores it. The room keeps its history (and
    accounts) in the per-user data folder, the file ``servidor.py`` uses by default, so
    reopening it brings the conversation back. With ``room_name``, the room is announced
    on the local network by that name (multicast DNS), as ``servidor.py`` does."""
    from net.server import ChatServer, ServerConfig, default_database_path  # only when hosting

    history_db = str(default_database_path())
    try:
        config = ServerConfig(
            host=host,
            port=port,
            opers=dict([oper]) if oper else {},
            history_db=history_db,
            announce=room_name is not None,
            room_name=room_name,
        )
    except TypeError:  # a server from before issue 14's MODES work: no operators
        config = ServerConfig(host=host, port=port, history_db=history_db)
    server = ChatServer(config)
    server.start()
    return server


def host_credential() -> tuple[str, str]:
    """The OPER name and a fresh random password for the teacher of a room opened here:
    only this process knows it, so only the hosting window becomes the teacher."""
    return "charla-host", secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Choice:
    """What the user chose: where to connect and as whom (and the room, if hosting)."""

    host: str
    port: int
    nick: str
    hosted: HostedRoom | None = None
    password: str | None = None  # the server's password (PASS), if it has one
    oper: tuple[str, str] | None = None  # for a hosted room: OPER to become its teacher
    #: for a hosted room that moved: the port asked for, which another program holds
    asked_port: int | None = None
    tls: bool = False  # the first server speaks TLS (``ircs://``)
    #: the network's other servers, tried in turn when one cannot be reached
    alternates: tuple[ServerAddress, ...] = ()

    @property
    def servers(self) -> list[ServerAddress]:
        return [ServerAddress(self.host, self.port, self.tls), *self.alternates]


def parse_address(text: str) -> tuple[str, int] | None:
    """``host``, ``host:port`` or ``[v6]:port``; None when the port is not 1–65535.

    >>> parse_address("192.168.1.23:6667"), parse_address("aula"), parse_address("x:0")
    (('192.168.1.23', 6667), ('aula', 12345), None)
    """
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        return None
    if not port_text:
        return host, DEFAULT_PORT
    port = wire_number(port_text, maximum=65535)
    return None if not port else (host, port)


class ConnectDialog(ttk.Frame):
    """See the module docstring; ``on_done(choice)`` is called once the user is through."""

    #: a room hosted here is announced on the local network (the tests turn it off: they
    #: run in the machine's own network, where nothing may be multicast)
    announce_rooms = True
    #: the rooms announced on the local network are listed (``net.mdns.Browser``); off
    #: where ``CHARLA_NO_DISCOVERY`` is set (the tests: nothing may be multicast there)
    #: and where ``make_browser`` is None
    make_browser: Callable[[Callable[[tuple], None]], Any] | None = staticmethod(_multicast_browser)

    def __init__(self, root: tk.Tk, settings: Settings, on_done: Callable[[Choice], None]) -> None:
        super().__init__(root, padding=24)
        self.root = root
        self.on_done = on_done
        self._answers: queue.Queue[tuple[list[ServerAddress], str, str]] = queue.Queue()
        first = str(ServerAddress(settings.host, settings.port, settings.tls))
        self.address = tk.StringVar(value=", ".join(filter(None, (first, settings.other_servers))))
        self.nick = tk.StringVar(value=settings.nick)
        self.password = tk.StringVar(value="")
        self.mode = tk.StringVar(value="join")
        ttk.Label(self, text=tr("Welcome to Charla"), font=("TkDefaultFont", 16, "bold")).grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, 12)
        )
        ttk.Radiobutton(
            self, text=tr("Join a room"), variable=self.mode, value="join", command=self._on_mode
        ).grid(row=1, column=0, columnspan=2, sticky="w")
        ttk.Label(self, text=tr("Server address:")).grid(row=2, column=0, sticky="w", padx=(24, 8))
        self.address_entry = ttk.Entry(self, textvariable=self.address, width=28)
        self.address_entry.grid(row=2, column=1, sticky="ew", pady=4)
        self._build_room_list()
        ttk.Radiobutton(
            self,
            text=tr("Host a room on this computer"),
            variable=self.mode,
            value="host",
            command=self._on_mode,
        ).grid(row=3, column=0, columnspan=2, sticky="w", pady=(8, 0))
        ttk.Label(self, text=tr("Your nickname:")).grid(row=4, column=0, sticky="w", pady=(12, 4))
        self.nick_entry = ttk.Entry(self, textvariable=self.nick, width=28)
        self.nick_entry.grid(row=4, column=1, sticky="ew", pady=(12, 4))
        self.password_label = ttk.Label(self, text=tr("Room password (if it has one):"))
        self.password_label.grid(row=5, column=0, sticky="w", pady=4)
        self.password_entry = ttk.Entry(self, textvariable=self.password, width=28, show="•")
        self.password_entry.grid(row=5, column=1, sticky="ew", pady=4)
        self.error = ttk.Label(self, foreground="#b3261e", wraplength=380)
        self.error.grid(row=6, column=0, columnspan=2, sticky="w", pady=8)
        self.button = ttk.Button(self, text=tr("Enter"), command=self.submit)
        self.button.grid(row=7, column=1, sticky="e")
        root.bind("<Return>", lambda _e: self.submit())
        self.nick_entry.focus_set()

    # -- the rooms on this network (net.mdns) ------------------------------------------

    def _build_room_list(self) -> None:
        """ "Rooms on this network": filled live by a multicast DNS browser on its own
        thread (its rooms reach the Tk thread through ``_found``); a double-click joins."""
        self.rooms: tuple[Any, ...] = ()
        self._found: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.browser = None
        self.rooms_frame = ttk.Frame(self)
        self.rooms_frame.grid(row=8, column=0, columnspan=2, sticky="ew", padx=(24, 0))
        ttk.Label(self.rooms_frame, text=tr("Rooms on this network:")).pack(anchor="w")
        self.room_list = tk.Listbox(self.rooms_frame, height=4, width=56, activestyle="dotbox")
        self.room_list.pack(fill="x", pady=(2, 2))
        self.rooms_hint = ttk.Label(self.rooms_frame, wraplength=380, foreground="#6e7781")
        self.rooms_hint.pack(anchor="w")
        self.room_list.bind("<Double-Button-1>", lambda _e: self.join_listed())
        self.room_list.bind("<Return>", lambda _e: self.join_listed())
        make = self.make_browser if not os.environ.get("CHARLA_NO_DISCOVERY") else None
        if make is None:
            self.rooms_frame.grid_remove()
            return
        try:
            self.browser = make(self._found.put)
            self.browser.start()
        except OSError as exc:  # no multicast here (no network, a locked-down system)
            log.info("rooms on the network cannot be listed: %s", exc)
            self.browser = None
            self.rooms_frame.grid_remove()
            return
        self.rooms_hint.configure(text=tr("Looking for rooms…"))
        self._looking_since = time.monotonic()
        self.after(ROOMS_POLL_MS, self._show_rooms)

    def _show_rooms(self) -> None:
        latest = None
        with contextlib.suppress(queue.Empty):
            while True:
                latest = self._found.get_nowait()
        if latest is not None:
            self.rooms = tuple(latest)[:MAX_LISTED_ROOMS]
            self.room_list.delete(0, "end")
            for room in self.rooms:
                self.room_list.insert("end", room_line(room))
        if self.rooms:
            self.rooms_hint.configure(text=tr("Double-click a room to join it."))
        elif time.monotonic() - self._looking_since > NOTHING_FOUND_AFTER:
            self.rooms_hint.configure(
                text=tr(
                    "No room found on this network. Are you on the same network (the same "
                    "Wi-Fi) as the teacher? Does the teacher's firewall let Charla in on "
                    "private networks? You can also type the address above."
                )
            )
        self.after(ROOMS_POLL_MS, self._show_rooms)

    def join_listed(self) -> None:
        """The selected room: its address in the box, then in as if Enter was pressed."""
        selection = self.room_list.curselection()
        if not selection or selection[0] >= len(self.rooms):
            return
        room = self.rooms[selection[0]]
        self.mode.set("join")
        self._on_mode()
        self.address.set(room.endpoint)
        self.submit()

    def _on_mode(self) -> None:
        joining = self.mode.get() == "join"
        state = "normal" if joining else "disabled"
        self.address_entry.configure(state=state)
        self.password_entry.configure(state=state)
        # the button says what it will do: hosting opens a room, it enters none
        self.button.configure(text=tr("Enter") if joining else tr("Open the room"))

    def submit(self) -> None:
        nick = self.nick.get().strip()
        if not nick:
            self.show_error(tr("Write a nickname: it is how the others will see you."))
            return
        if not is_valid_nick(nick):
            self.show_error(
                tr(
                    "A nickname uses letters, digits and - _ (no spaces), at most 30, "
                    "and does not start with a digit."
                )
            )
            return
        if self.mode.get() == "host":
            address = parse_address(self.address.get().partition(",")[0])
            port = address[1] if address else DEFAULT_PORT
            self._host(port, nick)
            return
        servers, wrong = parse_servers([self.address.get()])
        if wrong or not servers:
            named = tr("“{address}” is not an address.").format(address=wrong[0]) if wrong else ""
            self.show_error(
                named
                + (" " if named else "")
                + tr(
                    "Write the address as the server shows it, for example "
                    "192.168.1.23:12345 (the port is a number from 1 to 65535). "
                    "For a network, several addresses separated by commas; "
                    "ircs://address for a secure (TLS) server."
                )
            )
            return
        self.button.configure(state="disabled")
        self.show_error(tr("Connecting…"))
        threading.Thread(target=self._check, args=(servers, nick), daemon=True).start()
        self.after(50, self._poll)

    def _check(self, servers: list[ServerAddress], nick: str) -> None:
        """Worker thread: can we reach the server (one of the network's)? The answer goes
        on the queue: the problem with the first one when none answers."""
        problem = ""
        for server in servers[:CHECKED_SERVERS]:
            try:
                socket.create_connection((server.host, server.port), timeout=CHECK_TIMEOUT).close()
            except OSError as exc:
                problem = problem or problem_in_words(exc)
            else:
                problem = ""
                break
        self._answers.put((servers, nick, problem))

    def _poll(self) -> None:
        try:
            servers, nick, problem = self._answers.get_nowait()
        except queue.Empty:
            self.after(50, self._poll)
            return
        self.button.configure(state="normal")
        first = servers[0]
        if problem:
            self.show_error(
                tr(
                    "Cannot reach {address} ({problem}). Is the server running? "
                    "Check the address with the person who started it."
                ).format(address=", ".join(str(server) for server in servers), problem=problem)
            )
        else:
            password = self.password.get() or None
            alternates = tuple(servers[1:])
            self.on_done(
                Choice(
                    first.host,
                    first.port,
                    nick,
                    password=password,
                    tls=first.tls,
                    alternates=alternates,
                )
            )

    def _room_name(self, nick: str) -> str | None:
        """The name a room hosted here is announced by ("Sala de ana"); None: not announced."""
        return tr("Room of {name}").format(name=nick) if self.announce_rooms else None

    def _host(self, port: int, nick: str) -> None:
        """Start a room on ``port``, or on one of the next few if another program has it."""
        oper = host_credential()
        for candidate in range(port, min(port + HOST_PORT_TRIES, 65536)):
            try:
                server = start_room(candidate, oper=oper, room_name=self._room_name(nick))
            except OSError as exc:
                if exc.errno in PORT_TAKEN:
                    log.info("port %d is taken; trying the next one for the room", candidate)
                    continue
                log.warning("cannot open a room on port %d: %s", candidate, exc)
                self.show_error(
                    tr("Cannot open a room on port {port}: {problem}").format(
                        port=candidate, problem=exc.strerror or exc
                    )
                )
                return
            moved = port if server.port != port else None  # said in the window's share bar
            self.on_done(
                Choice("localhost", server.port, nick, hosted=server, oper=oper, asked_port=moved)
            )
            return
        log.warning("cannot open a room: ports %d to %d are all taken", port, candidate)
        self.show_error(
            tr(
                "Ports {first} to {last} are all in use on this computer: is a room already "
                "open here (in another window, or a Charla server)? Then join it instead."
            ).format(first=port, last=candidate)
        )

    def show_error(self, text: str) -> None:
        self.error.configure(text=text)

    def destroy(self) -> None:
        self.root.unbind("<Return>")
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        super().destroy()
