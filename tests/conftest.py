"""The fixtures: a real Charla server on 127.0.0.1 port 0, raw clients connected to it,
``servidor.py`` processes, ngIRCd, an X display, Tk roots, browser pages, and two network
namespaces on a link-local link with programs running inside them. Each one closes what it
opened at teardown. The helpers they use are in ``tests/support.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from net.i18n import set_language
from net.server import ChatServer, ServerConfig
from tests.support import (
    FAST_RETRY,
    IrcClient,
    LineClient,
    NamespacePeer,
    ServerProcess,
    chromium_missing,
    chromium_page,
    link_local_namespaces,
    namespaces_missing,
    running_ngircd,
    x_display,
)

#: no connect dialog lists the rooms of the machine's own network (a multicast DNS query
#: would leave 127.0.0.1); the programs the tests start inherit it. tests/test_mdns.py
#: looks for rooms only inside network namespaces it makes.
os.environ["CHARLA_NO_DISCOVERY"] = "1"
MDNS_PEER = str(Path(__file__).with_name("mdns_peer.py"))


@pytest.fixture(autouse=True)
def no_unexpected_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test during which something was logged at ERROR or above (a traceback on a
    reader thread, say) that the test did not expect. A test that provokes an error on
    purpose checks the record and then empties it with ``caplog.clear()``."""
    caplog.set_level(logging.INFO)
    yield
    # this fixture is set up first, so it is torn down last: the other fixtures' teardowns
    # (servers shutting down, windows closing) have logged by now
    errors = [
        record
        for phase in ("setup", "call", "teardown")
        for record in caplog.get_records(phase)
        if record.levelno >= logging.ERROR
    ]
    if errors:
        pytest.fail(
            "logged at ERROR: " + "; ".join(f"{r.name}: {r.getMessage()}" for r in errors[:5]),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Tests read the English texts unless they switch the language themselves."""
    set_language("en")
    yield
    set_language("en")


TEST_CONFIG = ServerConfig(
    host="127.0.0.1", port=0, server_name="test.charla", plain_text_after=0.2
)


@pytest.fixture
def start_server() -> Iterator[Callable[..., ChatServer]]:
    """Start servers with ``start_server(**config_changes)``; all are shut down after."""
    servers: list[ChatServer] = []

    def start(**changes: object) -> ChatServer:
        server = ChatServer(replace(TEST_CONFIG, **changes))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def server(start_server: Callable[..., ChatServer]) -> ChatServer:
    return start_server()


@pytest.fixture
def connect(server: ChatServer) -> Iterator[Callable[..., IrcClient]]:
    """Open raw IRC connections to ``server``; ``connect("ana")`` also registers."""
    clients: list[LineClient] = []

    def open_client(
        nick: str | None = None, *, plain: bool = False, port: int | None = None, **kwargs: object
    ):
        cls = LineClient if plain else IrcClient
        client = cls(port or server.port, **kwargs)
        clients.append(client)
        if nick is not None and not plain:
            client.register(nick)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def run_server(tmp_path: Path):
    """Start ``servidor.py`` processes; their default data folder is this test's tmp_path."""
    processes: list[ServerProcess] = []

    def start(*args: str, **kwargs: Any) -> ServerProcess:
        process = ServerProcess(*args, data_home=tmp_path, **kwargs)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.close()


@pytest.fixture
def ngircd_port() -> Iterator[int]:
    """A real ngIRCd (Debian's ``ngircd``, installed by tests/run.sh) on a loopback port,
    started by the launcher the benchmarks use too."""
    with running_ngircd() as (port, _server):
        yield port


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An X display for real Tk windows: an Xvfb of this run's own (Debian's xvfb, from
    tests/run.sh), started by the helper the benchmarks and the screenshot use too."""
    with x_display(reuse=False) as screen:
        yield screen


@pytest.fixture
def no_gc_on_worker_threads() -> Iterator[None]:
    """Tk objects (fonts, variables) must be freed on the Tk thread: a cyclic garbage
    collection that happened to run on a network thread would make Tcl abort the process.
    So collection waits until the test is over, and then runs on the main thread."""
    import gc

    gc.disable()
    yield
    gc.enable()
    gc.collect()


@pytest.fixture
def tk_root(display: str, no_gc_on_worker_threads: None) -> Iterator[object]:
    """A real Tk root window, destroyed after the test."""
    import tkinter

    root = tkinter.Tk()
    root.geometry("700x400")
    yield root
    root.destroy()


@pytest.fixture
def view(tk_root):
    """One conversation view (light theme) in the test's Tk root, shown."""
    from tkinter import font as tkfont

    from gui.conversation import ConversationView
    from gui.theme import LIGHT

    conversation = ConversationView(tk_root, LIGHT, tkfont.Font(tk_root, size=11))
    conversation.pack(fill="both", expand=True)
    tk_root.update()
    return conversation


@pytest.fixture
def open_page() -> Iterator[Callable[..., Any]]:
    """Open real browser pages (Debian's headless Chromium, driven by Selenium) with
    ``open_page(size=…, language=…, dark=…)``; each is a browser of its own, all quit at
    teardown. Skips the test, saying why, only where Chromium or Selenium is missing."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with contextlib.ExitStack() as pages:

        def open_one(**options: Any) -> Any:
            return pages.enter_context(chromium_page(**options))

        yield open_one


@pytest.fixture
def open_window(display, server, no_gc_on_worker_threads):
    """``open_window(nick)``: a real Charla window joined to ``server``'s #general;
    every one opened is closed at teardown."""
    import queue
    import tkinter as tk

    from gui.app import ChatWindow
    from gui.settings import Settings
    from net.client import ChatClient

    windows: list[ChatWindow] = []

    def open_one(nick: str) -> ChatWindow:
        client = ChatClient(
            "127.0.0.1", server.port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
        )
        window = ChatWindow(tk.Tk(), client.start(), Settings(nick=nick))
        windows.append(window)
        return window

    yield open_one
    for window in windows:
        if not window.closed:
            window.close()


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """Two network namespaces, ``a`` and ``b``, on one veth link with link-local addresses
    only (``tests.support.NAMESPACE_ADDRESSES``); removed after. Skips without root or ip."""
    reason = namespaces_missing()
    if reason:
        pytest.skip(reason)
    with link_local_namespaces(uuid.uuid4().hex[:6]) as names:
        yield names


@pytest.fixture
def peers() -> Iterator[Callable[..., NamespacePeer]]:
    """``peers(namespace, *args, program=..., env=...)``: a program in a namespace
    (``tests/mdns_peer.py`` unless told); every one started is stopped after."""
    started: list[NamespacePeer] = []

    def start(
        namespace: str, *args: str, program: str = MDNS_PEER, env: dict[str, str] | None = None
    ) -> NamespacePeer:
        peer = NamespacePeer(namespace, program, *args, env=env)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()
