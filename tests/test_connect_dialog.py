"""The connect dialog in a real Tk window: plain-words validation, reachability, hosting;
and the rooms on the network, with the real multicast DNS browser, in a network namespace
(the ``netns`` fixture) where a real server announces its room."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from gui import connect_dialog
from gui.connect_dialog import HOST_PORT_TRIES, ConnectDialog, parse_address
from gui.settings import Settings
from net.i18n import set_language
from tests import support
from tests.support import IrcClient


@pytest.fixture(autouse=True)
def no_announcing(monkeypatch):
    """Rooms hosted here are not announced: these tests run in the machine's own network,
    where nothing may be multicast (tests/test_mdns.py announces inside namespaces)."""
    monkeypatch.setattr(ConnectDialog, "announce_rooms", False)


@pytest.fixture
def dialog(tk_root, tmp_path, monkeypatch):
    # a hosted room keeps its history in the per-user data folder: this test's, not the user's
    for variable in ("XDG_DATA_HOME", "LOCALAPPDATA", "HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    chosen = []
    view = ConnectDialog(tk_root, Settings(nick="ana"), chosen.append)
    view.pack()
    view.chosen = chosen
    yield view
    for choice in chosen:
        if choice.hosted is not None:
            choice.hosted.shutdown()


def run_until(root, condition, timeout: float = 10.0) -> None:
    support.wait_until(condition, timeout=timeout, tick=root.update)


def test_addresses_are_read_as_people_write_them():
    assert parse_address("[::1]:6667") == ("::1", 6667)
    assert parse_address("  localhost ") == ("localhost", 12345)
    assert parse_address("aula:doce") is None
    assert parse_address(":12345") is None


def test_bad_input_is_explained_in_plain_words(dialog, tk_root):
    dialog.nick.set("")
    dialog.submit()
    assert "Write a nickname" in dialog.error.cget("text")
    dialog.nick.set("9 lives")
    dialog.submit()
    assert "does not start with a digit" in dialog.error.cget("text")
    dialog.nick.set("ana")
    dialog.address.set("aula:70000")
    dialog.submit()
    assert "1 to 65535" in dialog.error.cget("text")
    assert dialog.chosen == []


def test_unreachable_server_is_said_without_freezing(dialog, tk_root):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dialog.address.set(f"127.0.0.1:{port}")
    dialog.submit()
    run_until(tk_root, lambda: "Cannot reach" in str(dialog.error.cget("text")))
    assert dialog.chosen == []


def test_reachable_server_is_chosen(dialog, tk_root, server):
    dialog.address.set(f"127.0.0.1:{server.port}")
    dialog.submit()
    run_until(tk_root, lambda: dialog.chosen)
    assert (dialog.chosen[0].port, dialog.chosen[0].nick) == (server.port, "ana")
    assert dialog.chosen[0].password is None  # no password typed: none sent


def test_a_networks_servers_are_written_separated_by_commas(dialog, tk_root, server):
    """A class on an IRC network gives all its servers; one that answers is enough to go
    in (here the first is down), and the wrong piece of a list is named."""
    with socket.socket() as probe:  # a server of the network that is down
        probe.bind(("127.0.0.1", 0))
        down = probe.getsockname()[1]
    dialog.address.set(f"127.0.0.1:{down}, aula:0")
    dialog.submit()
    assert "“aula:0” is not an address." in dialog.error.cget("text")
    dialog.address.set(f"127.0.0.1:{down}, ircs://127.0.0.1:{server.port}")
    dialog.submit()
    run_until(tk_root, lambda: dialog.chosen)
    choice = dialog.chosen[0]
    assert (choice.host, choice.port, choice.tls) == ("127.0.0.1", down, False)
    assert [str(other) for other in choice.alternates] == [f"ircs://127.0.0.1:{server.port}"]


def test_the_rooms_password_is_typed_in_the_dialog_unseen(dialog, tk_root, server):
    assert dialog.password_entry.cget("show") == "•"
    dialog.address.set(f"127.0.0.1:{server.port}")
    dialog.password.set("secreto")
    dialog.submit()
    run_until(tk_root, lambda: dialog.chosen)
    assert dialog.chosen[0].password == "secreto"
    dialog.mode.set("host")
    dialog._on_mode()  # hosting: the room has no password to type
    assert str(dialog.password_entry.cget("state")) == "disabled"


def test_host_a_room_starts_a_server_others_can_join(dialog, tk_root):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host_room(dialog, port)
    room = dialog.chosen[0].hosted
    assert room is not None and room.port == port
    assert dialog.chosen[0].asked_port is None  # where it was asked for: nothing to say
    name, password = dialog.chosen[0].oper  # the window's OPER, to be the room's teacher
    assert name and len(password) >= 24
    guest = IrcClient(port)
    try:
        guest.register("invitada")
    finally:
        guest.close()


def test_the_button_says_open_the_room_when_hosting(dialog, tk_root):
    set_language("es")
    view = ConnectDialog(tk_root, Settings(nick="ana"), lambda _choice: None)
    try:
        assert view.button.cget("text") == "Entrar"
        view.mode.set("host")
        view._on_mode()  # what a click on "Abrir una sala en este ordenador" runs
        assert view.button.cget("text") == "Abrir sala"
        view.mode.set("join")
        view._on_mode()
        assert view.button.cget("text") == "Entrar"
    finally:
        view.destroy()


def host_room(dialog: ConnectDialog, port: int) -> None:
    """Choose "host a room on this computer" on ``port`` and press the button."""
    dialog.address.set(f"localhost:{port}")
    dialog.mode.set("host")
    dialog.submit()


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port another program is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_room_whose_port_is_taken_opens_on_the_next_free_one(dialog, tk_root):
    with taken_port() as port:
        host_room(dialog, port)
        room = dialog.chosen[0].hosted
        assert room is not None and port < room.port <= port + HOST_PORT_TRIES
        assert dialog.chosen[0].asked_port == port  # for the window to say it moved
        guest = IrcClient(room.port)
        try:
            guest.register("invitada")
        finally:
            guest.close()


def test_when_every_port_it_tries_is_taken_the_dialog_says_what_to_do(dialog, tk_root, monkeypatch):
    monkeypatch.setattr(connect_dialog, "HOST_PORT_TRIES", 1)
    with taken_port() as port:
        host_room(dialog, port)
    assert dialog.chosen == []
    assert "is a room already open here" in dialog.error.cget("text")


def test_an_unreachable_server_is_said_all_in_spanish_under_lang_es(dialog, tk_root):
    set_language("es")
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dialog.address.set(f"127.0.0.1:{port}")
    dialog.submit()
    run_until(tk_root, lambda: "No se puede conectar" in str(dialog.error.cget("text")))
    text = str(dialog.error.cget("text"))
    assert (
        f"con 127.0.0.1:{port} (nadie responde en ese puerto)" in text
    )  # not "(Connection refused)"


def test_a_room_opened_again_brings_its_history_back(dialog, tk_root, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host_room(dialog, port)
    room = dialog.chosen.pop().hosted
    said = IrcClient(room.port)
    try:
        said.register("lucia")
        said.send("JOIN #general")
        said.send("PRIVMSG #general :los deberes son para el lunes")
        said.sync()
    finally:
        said.close()
    room.shutdown()
    assert (tmp_path / "charla" / "historial.sqlite3").exists()  # where servidor.py keeps it
    dialog.submit()  # "host a room" again: a new server in this process
    run_until(tk_root, lambda: dialog.chosen)
    reader = IrcClient(dialog.chosen[0].hosted.port)
    try:
        reader.register("marta")
        reader.send("JOIN #general")
        reader.expect(r"los deberes son para el lunes")
    finally:
        reader.close()


def test_a_hosted_room_is_announced_by_the_hosts_nick(dialog, monkeypatch):
    assert dialog._room_name("ana") is None  # turned off in these tests
    monkeypatch.setattr(ConnectDialog, "announce_rooms", True)
    assert dialog._room_name("ana") == "Room of ana"
    set_language("es")
    assert dialog._room_name("ana") == "Sala de ana"


class _HeardRooms:
    """A stand-in for ``net.mdns.Browser`` (tests/test_mdns.py runs the real one inside
    network namespaces): it hands the dialog the rooms the test says it heard."""

    made: ClassVar[list[_HeardRooms]] = []

    def __init__(self, on_change) -> None:
        self.on_change = on_change
        self.closed = False
        _HeardRooms.made.append(self)

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_the_rooms_heard_on_the_network_are_listed_and_a_double_click_joins(
    tk_root, monkeypatch
) -> None:
    from net.mdns import Room

    set_language("es")
    monkeypatch.delenv("CHARLA_NO_DISCOVERY")
    monkeypatch.setattr(ConnectDialog, "make_browser", _HeardRooms)
    monkeypatch.setattr(connect_dialog, "NOTHING_FOUND_AFTER", 0.3)
    chosen = []
    with support.running_charla() as (port, _server):
        view = ConnectDialog(tk_root, Settings(nick="ana"), chosen.append)
        view.pack()
        browser = _HeardRooms.made[-1]
        support.wait_until(
            lambda: "misma red" in view.rooms_hint.cget("text"), tick=tk_root.update
        )  # nothing heard: what to check, in plain words
        room = Room("Sala de Marta", "aula.local", port, ("127.0.0.1",), "#general", True, "1")
        browser.on_change((room,))
        support.wait_until(lambda: view.room_list.size() == 1, tick=tk_root.update)
        assert view.room_list.get(0) == (
            f"Sala de Marta — #general — 127.0.0.1:{port} — con contraseña"
        )
        tk_root.update()
        x, y, _w, h = view.room_list.bbox(0)
        for _ in range(2):  # a double-click on it
            view.room_list.event_generate("<ButtonPress-1>", x=x + 5, y=y + h // 2)
            view.room_list.event_generate("<ButtonRelease-1>", x=x + 5, y=y + h // 2)
        support.wait_until(
            lambda: chosen,
            tick=tk_root.update,
            describe=lambda: (view.address.get(), view.error.cget("text")),
        )
        assert (chosen[0].host, chosen[0].port, chosen[0].nick) == ("127.0.0.1", port, "ana")
        view.destroy()
        assert browser.closed
    set_language("en")


DIALOG_PEER = str(Path(__file__).with_name("dialog_peer.py"))


def test_the_real_dialog_in_a_namespace_lists_a_servers_room_joins_it_and_drops_it(
    netns, peers, display, tmp_path
):
    """servidor.py announces its room in namespace a; the real dialog (tests/dialog_peer.py:
    its own multicast DNS browser, a Tk window on this run's Xvfb) runs in namespace b."""
    side_a, side_b = netns
    server_env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    server = peers(
        side_a, "--port", "0", "--room-name", "Sala de Marta", program="servidor.py",
        env=server_env,
    )  # fmt: skip
    port = int(server.expect(lambda line: "port" in line).split("port ")[1].rstrip("."))
    # in the namespace the dialog may look for rooms: nothing it sends leaves it
    dialog_env = {k: v for k, v in os.environ.items() if k != "CHARLA_NO_DISCOVERY"}
    dialog_env |= {"DISPLAY": display, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    dialog = peers(side_b, "ana", program=DIALOG_PEER, env=dialog_env)
    dialog.expect(lambda line: line == "started", timeout=10, what="the dialog shown")
    shown = time.monotonic()

    def listed(line: str) -> list[str]:
        return json.loads(line.split(" ", 1)[1]) if line.startswith("rooms ") else []

    line = dialog.expect(listed, timeout=2, what="the room listed")
    assert time.monotonic() - shown < 2
    assert listed(line) == [f"Sala de Marta — #general — 169.254.10.1:{port}"]
    dialog.say("double-click 0")
    chosen = dialog.expect(lambda line: line.startswith("chosen "), what="the room joined")
    assert chosen == f"chosen 169.254.10.1 {port} ana"
    server.stop()  # its goodbye (TTL 0) takes the room off the list within a second
    stopped = time.monotonic()
    dialog.expect(lambda line: line == "rooms []", timeout=2, what="the room gone")
    assert time.monotonic() - stopped < 2
    dialog.stop()
    assert "Traceback" not in dialog.errors, dialog.errors
