"""The teacher's window and the student's (issue 14), in real Tk windows under Xvfb.

The server's side of the roles contract (``/work/briefs/roles-contract.md``: ``PREFIX``,
``MODE`` changes, ``404`` with a reason, ``REDACT``, ``TBAN``/``TQUIET``, SASL) is played
by ``tests.support.FakeServer``, a scripted IRC server: each test says what the real server
will say, and checks what the window shows and which lines it sends.
"""

from __future__ import annotations

import base64
import contextlib
import queue
import tkinter as tk
from collections.abc import Iterator

import pytest

from gui import classroom
from gui.app import ChatWindow
from gui.settings import Settings
from net.client import ChatClient
from net.i18n import set_language
from net.room_words import teacher_help
from tests import support
from tests.support import FAST_RETRY, FakeServer, LineClient

CAPS = "batch server-time message-tags draft/message-redaction"


class Room:
    """A window connected to a FakeServer, and the server's end of that connection."""

    def __init__(self, fake: FakeServer, nick: str, *, names: str, modes: str = "+nt") -> None:
        self.fake = fake
        self.nick = nick
        client = ChatClient(
            "127.0.0.1", fake.port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
        )
        self.window = ChatWindow(tk.Tk(), client.start(), Settings(nick=nick))
        self.peer = self.accept(names=names, modes=modes)

    def accept(self, *, names: str, modes: str = "+nt") -> LineClient:
        """Registration as Charla's server will do it, then the join and the NAMES."""
        peer = self.fake.accept()
        peer.expect(r"^USER ")
        peer.send(f":srv CAP * LS :{CAPS}")
        peer.expect(r"^CAP REQ ")
        peer.send(f":srv CAP {self.nick} ACK :{CAPS}")
        peer.expect(r"^CAP END$")
        peer.send(f":srv 001 {self.nick} :Welcome")
        peer.send(f":srv 005 {self.nick} PREFIX=(ov)@+ CHANMODES=bq,k,lS,imnst :are supported")
        peer.expect(r"^JOIN #general$")
        peer.send(f":{self.nick}!u@h JOIN #general")
        peer.send(f":srv 353 {self.nick} = #general :{names}")
        peer.send(f":srv 366 {self.nick} #general :End of /NAMES list")
        peer.expect(r"^MODE #general$")
        peer.send(f":srv 324 {self.nick} #general {modes}")
        return peer

    def wait(self, condition, timeout: float = 10.0) -> None:
        support.wait_until(
            condition,
            timeout=timeout,
            describe=lambda: repr(self.text()[-400:]),
            tick=self.window.root.update,
        )

    def text(self, name: str = "#general") -> str:
        return self.window.views[name].plain_text()

    def type(self, line: str) -> None:
        """What a person does: click into the entry, type, press Enter."""
        self.window.entry.focus_force()
        self.window.root.update()
        self.window.entry.delete(0, "end")
        self.window.entry.insert(0, line)
        self.window.entry.event_generate("<Return>")
        self.window.root.update()

    def menu_labels(self, menu: tk.Menu) -> list[str]:
        last = menu.index("end")
        return [
            menu.entrycget(i, "label")
            for i in range(0 if last is None else last + 1)
            if menu.type(i) not in ("separator", "tearoff")
        ]

    def close(self) -> None:
        if not self.window.closed:
            self.window.close()


@pytest.fixture
def rooms(display, no_gc_on_worker_threads) -> Iterator:
    fake = FakeServer()
    opened: list[Room] = []

    def open_room(nick: str, **kwargs) -> Room:
        room = Room(fake, nick, **kwargs)
        opened.append(room)
        return room

    yield open_room
    for room in opened:
        room.close()
    fake.close()


def _delete_offered(window, target: str, msgid: str, author: str) -> bool:
    """Whether a message's right-click menu offers to delete it."""
    import tkinter as tk

    menu = tk.Menu(window.root, tearoff=False)
    try:
        classroom.add_delete_item(window, menu, target, msgid, author)
        return menu.index("end") is not None
    finally:
        menu.destroy()


def test_a_teacher_sees_badges_gets_the_class_menu_and_moderates_with_commands(rooms, monkeypatch):
    set_language("es")
    room = rooms("profe", names="profe +ana bea")
    window, peer = room.window, room.peer
    room.wait(lambda: window.nick_list.get(0, "end") == ("✎ ana", "bea", "profe"))
    assert not window.class_menu.shown  # not an operator here (yet)
    assert room.menu_labels(classroom.nick_menu(window, "bea")) == ["Mensaje privado"]

    peer.send(":srv MODE #general +o profe")  # the contract: the teacher gets +o
    room.wait(lambda: window.nick_list.get(0, "end") == ("★ profe", "✎ ana", "bea"))
    assert window.class_menu.shown
    assert "El servidor te ha hecho ayudante de esta sala." in room.text()
    assert "Clase" in room.menu_labels(window.menubar)
    assert room.menu_labels(classroom.nick_menu(window, "bea")) == [
        "Mensaje privado",
        "Silenciar",
        "Quitar el silencio",
        "Expulsar de la sala…",
        "Vetar",
        "Levantar el veto",
        "Dar voz",
        "Hacer ayudante",
    ]
    voiced = room.menu_labels(classroom.nick_menu(window, "ana"))
    assert "Quitar la voz" in voiced
    popped: list[list[str]] = []  # a right-click on the list opens the menu of that nick
    monkeypatch.setattr(
        tk.Menu, "tk_popup", lambda menu, *_a: popped.append(room.menu_labels(menu))
    )
    x, y, _w, h = window.nick_list.bbox(2)  # "bea", after ★ profe and ✎ ana
    window.nick_list.event_generate("<Button-3>", x=x + 2, y=y + h // 2)
    assert popped and popped[-1][1:3] == ["Silenciar", "Quitar el silencio"]
    assert "Dar voz" in popped[-1]  # bea's menu: she has no voice (ana's says "Quitar")
    assert window.nick_list.curselection() == (2,)

    for typed, sent in [
        ("/silenciar bea 5", r"^TQUIET #general 300 :?bea!\*@\*$"),
        ("/mute bea", r"^MODE #general \+q :?bea!\*@\*$"),
        ("/desilenciar bea", r"^MODE #general -q :?bea!\*@\*$"),
        ("/expulsar bea Fuera por hoy", r"^KICK #general bea :Fuera por hoy$"),
        ("/kick bea", r"^KICK #general :?bea$"),
        ("/vetar bea 60", r"^TBAN #general 3600 :?bea!\*@\*$"),
        ("/ban ana", r"^MODE #general \+b :?ana!\*@\*$"),
        ("/desvetar ana", r"^MODE #general -b :?ana!\*@\*$"),
        ("/lento 10", r"^MODE #general \+S :?10$"),
        ("/slow off", r"^MODE #general :?-S$"),
        ("/moderar", r"^MODE #general :?\+m$"),
        ("/moderate off", r"^MODE #general :?-m$"),
        ("/invitar carla", r"^INVITE carla :?#general$"),
        ("/voz bea", r"^MODE #general \+v :?bea$"),
        ("/ayudante bea", r"^MODE #general \+o :?bea$"),
        ("/helper bea off", r"^MODE #general -o :?bea$"),
        ("/aviso Mañana no hay clase", r"^NOTICE #general :Mañana no hay clase$"),
    ]:
        room.type(typed)
        peer.expect(sent)
    peer.send(":srv 341 profe carla #general")
    room.wait(lambda: "Has invitado a carla a #general." in room.text())
    assert "KICK #general bea :vetado" in peer.lines  # a ban removes whoever is in
    assert "KICK #general ana :vetado" in peer.lines
    room.type("/silenciarr bea")
    assert "¿Querías decir /silenciar?" in room.text()
    room.type("/lento rápido")  # not a number: what the command needs
    assert room.text().rstrip().endswith("— Escribe /ayuda para ver la lista.")

    menu = window.class_menu.menu  # the Clase menu does what the commands do
    menu.invoke(menu.index("Silenciar la clase (solo habla el profesor)"))
    peer.expect(r"^MODE #general :?\+m$")
    peer.send(":profe!u@h MODE #general +m")
    room.wait(lambda: window.class_menu.muted.get())  # its tick follows the room's modes

    peer.send(":srv MODE #general -o profe")
    room.wait(lambda: not window.class_menu.shown)


def test_a_student_reads_the_rooms_state_and_a_refused_line_stays_visible(rooms):
    set_language("es")
    room = rooms("ana", names="@profe ana", modes="+ntS 10")
    window, peer = room.window, room.peer
    room.wait(lambda: "La sala está en modo lento: un mensaje cada 10 s." in room.text())
    assert window.nick_list.get(0, "end") == ("★ profe", "ana")
    assert not window.class_menu.shown

    peer.send(":profe!p@h MODE #general +m")
    peer.send(":profe!p@h MODE #general +q ana!*@*")
    room.wait(lambda: "profe te ha silenciado: tus mensajes no llegan a la sala." in room.text())
    assert "profe ha silenciado la clase: solo hablan el profesor y quien tiene voz." in (
        room.text()
    )

    room.type("¿puedo hablar?")
    peer.expect(r"^PRIVMSG #general :¿puedo hablar\?$")
    token = peer.expect(r"^PING :?(charla-ack-\d+)$").group(1)
    peer.send(":srv 404 ana #general :You are muted in #general")
    peer.send(f":srv PONG srv :{token}")
    room.wait(lambda: "(no enviado: te han silenciado en esta sala)" in room.text())
    assert "enviando" not in room.text()
    line = next(n for n, t in enumerate(room.text().splitlines(), 1) if "¿puedo hablar?" in t)
    assert "refused" in window.views["#general"].text.tag_names(f"{line}.10")

    room.type("y ahora")  # slow mode: the reason says how long to wait
    peer.expect(r"^PRIVMSG #general :y ahora$")
    peer.send(":srv 404 ana #general :Slow mode: wait 7 more seconds")
    room.wait(lambda: "modo lento: espera 7 s antes de volver a escribir" in room.text())

    peer.send(":profe!p@h NOTICE #general :Mañana no hay clase")  # the teacher's /aviso
    room.wait(lambda: "Aviso de profe · " in room.text())
    assert "Mañana no hay clase" in room.text()
    window.open_conversation("bea")  # a private chat in front: the server's announcement
    peer.send(":srv NOTICE #general :Mañana, excursión al museo")  # still goes to #general
    room.wait(lambda: "Mañana, excursión al museo" in room.text())
    assert "excursión" not in room.text("bea")
    window.tabs.select(window.views["#general"])
    peer.send(":srv MODE #general -q ana!*@*")  # a timed mute ends: the server lifts it
    room.wait(lambda: "Ya puedes volver a escribir: se acabó tu silencio." in room.text())

    peer.send("@msgid=m1 :bea!b@h PRIVMSG #general :un insulto")
    room.wait(lambda: "un insulto" in room.text())
    view = window.views["#general"]
    assert view.authors["m1"] == "bea"
    assert not _delete_offered(window, "#general", "m1", "bea")  # not hers
    peer.send(":profe!p@h REDACT #general m1 :")
    room.wait(lambda: "mensaje eliminado por profe" in room.text())
    assert "un insulto" not in room.text()

    peer.send(":profe!p@h KICK #general ana :Fuera por hoy")
    room.wait(lambda: "profe te ha expulsado de #general: Fuera por hoy" in room.text())
    assert window.nick_list.get(0, "end") == ()
    room.type("¿sigo aquí?")  # nothing is sent into a channel we are out of
    assert "¿sigo aquí? (no enviado: no estás en #general; escribe /unirse #general" in room.text()
    room.type("/unirse #general")
    peer.expect(r"^JOIN #general$")
    peer.send(":srv 474 ana #general :Cannot join channel (+b)")
    room.wait(lambda: "Te han vetado en esta sala: no puedes volver a entrar." in room.text())
    assert not any("¿sigo aquí?" in line for line in peer.lines)


def test_an_own_message_can_be_deleted_by_its_author(rooms, monkeypatch):
    room = rooms("ana", names="ana bea")
    window, peer = room.window, room.peer
    peer.send(":srv CAP ana NEW :charla.chat/session")  # ignored: ids come from the server
    room.type("me equivoqué")
    room.wait(lambda: "me equivoqué" in room.text())
    peer.expect(r"^PRIVMSG #general :me equivoqué$")
    token = peer.expect(r"^PING :?(charla-ack-\d+)$").group(1)
    peer.send(f":srv PONG srv :{token}")
    room.wait(lambda: "(sending…)" not in room.text())
    assert window.views["#general"].authors == {}  # no session id: nothing to delete by
    room.type("/borrar")
    assert "Nothing of yours to delete here" in room.text()
    peer.send("@msgid=x9 :ana!u@h PRIVMSG #general :repetido")  # our own, replayed
    room.wait(lambda: "repetido" in room.text())
    popped: list[tk.Menu] = []  # right-clicking the message offers to delete it
    monkeypatch.setattr(tk.Menu, "tk_popup", lambda menu, *_a: popped.append(menu))
    text = window.views["#general"].text
    line = next(n for n, t in enumerate(room.text().split("\n"), 1) if "repetido" in t)
    text.see(f"{line}.0")
    window.root.update()
    x, y, _w, h = text.bbox(f"{line}.10")
    text.event_generate("<Button-3>", x=x + 1, y=y + h // 2)
    labels = room.menu_labels(popped[-1]) if popped else []
    assert labels[0] == "Reply" and labels[-1] == "Delete this message"  # and 5 reactions
    popped[-1].invoke(popped[-1].index("end"))
    peer.expect(r"^REDACT #general :?x9$")
    room.type("/delete")
    peer.expect(r"^REDACT #general :?x9$")


def test_a_registered_nick_asks_for_its_password_and_a_wrong_one_is_said(
    display, no_gc_on_worker_threads, monkeypatch
):
    set_language("es")
    asked: list[str] = []
    monkeypatch.setattr(
        "gui.app.ask_line", lambda _root, _t, prompt, **_k: asked.append(prompt) or "mala"
    )
    fake = FakeServer()
    client = ChatClient(
        "127.0.0.1", fake.port, "profe", ["#general"], queue.Queue(), policy=FAST_RETRY
    )
    window = ChatWindow(tk.Tk(), client.start(), Settings(nick="profe"))
    back: list[str] = []
    window.back_to_dialog = back.append
    root = window.root
    try:
        peer = fake.accept()
        peer.expect(r"^USER ")
        peer.send(":srv CAP * LS :sasl=PLAIN batch")
        peer.send(":srv 433 * profe :Nick registrado: entra con su contraseña")

        def tick() -> None:
            root.update()

        support.wait_until(lambda: asked, tick=tick)
        assert asked == ["El apodo profe está registrado. Escribe su contraseña para entrar:"]
        again = fake.accept()  # the client comes back to log in
        again.expect(r"^USER ")
        again.send(":srv CAP * LS :sasl=PLAIN batch")
        again.expect(r"^CAP REQ :batch sasl$")
        again.send(":srv CAP profe ACK :batch sasl")
        again.expect(r"^AUTHENTICATE :?PLAIN$")
        again.send("AUTHENTICATE +")
        payload = base64.b64encode(b"profe\0profe\0mala").decode()
        again.expect(rf"^AUTHENTICATE :?{payload}$")
        again.send(":srv 904 profe :SASL authentication failed")
        support.wait_until(lambda: back, tick=tick)  # back to the dialog, with the reason
        assert back == ["La contraseña de la cuenta no es correcta."]
        assert window.closed and root.winfo_exists() and root.winfo_children() == []
        again.expect_closed()  # and that connection is over, with no retry
    finally:
        window.close()
        if root.winfo_exists():
            root.destroy()
        fake.close()


class FakeRoom:
    """What a window that hosts a room uses of its server."""

    port = 1

    def __init__(self) -> None:
        self.closed_with: list[str] = []

    def web_addresses(self) -> list[str]:
        return []

    def shutdown(self, reason: str = "") -> None:
        self.closed_with.append(reason)


def test_closing_the_window_that_hosts_the_room_asks_first(
    display, no_gc_on_worker_threads, monkeypatch
):
    set_language("es")
    answers: list[bool] = [False, True]
    questions: list[str] = []

    def ask(_title: str, text: str, **_kwargs: object) -> bool:
        questions.append(text)
        return answers.pop(0)

    monkeypatch.setattr("gui.app.messagebox.askokcancel", ask)
    fake = FakeServer()
    room = FakeRoom()
    client = ChatClient("127.0.0.1", fake.port, "profe", ["#general"], queue.Queue())
    window = ChatWindow(tk.Tk(), client.start(), Settings(nick="profe"), hosted=room)
    try:
        window.request_close()  # "Cancel": the class goes on
        assert not window.closed and room.closed_with == []
        window.entry.focus_force()
        window.root.update()
        window.entry.insert(0, "/salir")
        window.entry.event_generate("<Return>")  # "OK": the room closes for everyone
        assert window.closed and len(room.closed_with) == 1
        assert questions == ["Se cerrará la sala para todos. ¿La cierras?"] * 2
    finally:
        window.close()
        fake.close()


def test_a_wrong_room_password_goes_back_to_the_dialog(
    start_server, display, no_gc_on_worker_threads
):
    server = start_server(password="secreto")
    client = ChatClient(
        "127.0.0.1", server.port, "ana", ["#general"], queue.Queue(), password="mal"
    )
    window = ChatWindow(tk.Tk(), client.start(), Settings(nick="ana"))
    root = window.root
    back: list[str] = []
    window.back_to_dialog = back.append
    try:
        support.wait_until(lambda: back, tick=root.update)
        assert back == ["Wrong password."]
        assert root.winfo_exists() and root.winfo_children() == []
    finally:
        window.close()
        root.destroy()


@contextlib.contextmanager
def _real_windows(server, nicks):
    """Real windows for ``nicks`` in #general of the real server, and a ``wait`` that keeps
    every window's Tk loop turning until a condition holds."""
    windows = []
    try:
        for nick in nicks:
            client = ChatClient(
                "127.0.0.1", server.port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
            )
            windows.append(ChatWindow(tk.Tk(), client.start(), Settings(nick=nick)))

        def wait(condition) -> None:
            def tick() -> None:
                for window in windows:
                    window.root.update()

            support.wait_until(condition, tick=tick)

        wait(lambda: len(windows[-1].nick_list.get(0, "end")) == len(nicks))
        yield (*windows, wait)
    finally:
        for window in windows:
            window.close()


@pytest.fixture
def ana_and_bea(server, display, no_gc_on_worker_threads):
    with _real_windows(server, ("ana", "bea")) as windows:
        yield windows


@pytest.fixture
def profe_and_ana(server, display, no_gc_on_worker_threads):
    with _real_windows(server, ("tere", "ana")) as windows:  # "profe" is reserved
        yield windows


def _typed(window, line: str) -> None:
    window.entry.focus_force()
    window.root.update()
    window.entry.delete(0, "end")
    window.entry.insert(0, line)
    window.entry.event_generate("<Return>")


def test_with_the_real_server_the_teacher_mutes_slows_removes_and_bans_a_student(
    server, profe_and_ana
):
    """Two real windows, a teacher's and a student's, on the real server: every control
    is seen by the student in words, and a refused line stays visible as refused."""
    set_language("es")
    profe, ana, wait = profe_and_ana
    server.rooms.make_teacher(server.find_session("tere"))  # as /profesor at the console
    wait(lambda: profe.class_menu.shown)
    wait(lambda: "★ tere" in ana.nick_list.get(0, "end"))
    said = ana.views["#general"].plain_text

    _typed(profe, "/silenciar ana 5")
    wait(lambda: "tere te ha silenciado" in said())
    _typed(ana, "¿puedo hablar?")
    wait(lambda: "(no enviado: te han silenciado en esta sala" in said())
    assert "¿puedo hablar?" not in profe.views["#general"].plain_text()
    _typed(profe, "/desilenciar ana")
    wait(lambda: "Ya puedes volver a escribir" in said())

    _typed(profe, "/lento 600")
    wait(lambda: "un mensaje cada 600 s" in said())
    _typed(ana, "uno")
    wait(lambda: "uno" in profe.views["#general"].plain_text())
    _typed(ana, "dos")
    wait(lambda: "modo lento: espera" in said())
    _typed(profe, "/lento off")
    wait(lambda: "tere ha quitado el modo lento." in said())

    _typed(profe, "/expulsar ana Fuera por hoy")
    wait(lambda: "tere te ha expulsado de #general: Fuera por hoy" in said())
    assert ana.nick_list.get(0, "end") == ()
    _typed(profe, "/vetar ana")
    wait(lambda: "tere ha vetado a ana." in profe.views["#general"].plain_text())
    _typed(ana, "/unirse #general")
    wait(lambda: "Te han vetado en esta sala: no puedes volver a entrar." in said())


def test_an_own_message_knows_the_id_the_real_server_relayed_it_with(ana_and_bea):
    ana, bea, wait = ana_and_bea
    ana.entry.focus_force()
    ana.root.update()
    ana.entry.insert(0, "lo borraré")
    ana.entry.event_generate("<Return>")
    wait(lambda: ana.views["#general"].authors and bea.views["#general"].authors)
    assert ana.views["#general"].authors == bea.views["#general"].authors  # same msgid
    assert list(ana.views["#general"].authors.values()) == ["ana"]
    own = next(iter(ana.views["#general"].authors.items()))
    assert _delete_offered(ana, "#general", *own)  # her own: she may delete it
    msgid, author = next(iter(bea.views["#general"].authors.items()))
    assert not _delete_offered(bea, "#general", msgid, author)  # not bea's


def test_with_the_real_server_a_deleted_message_vanishes_and_announcements_land_in_general(
    server, ana_and_bea
):
    set_language("es")
    ana, bea, wait = ana_and_bea
    ana.entry.focus_force()
    ana.root.update()
    ana.entry.insert(0, "la respuesta del examen es 42")
    ana.entry.event_generate("<Return>")
    wait(lambda: "examen es 42" in bea.views["#general"].plain_text())
    wait(lambda: ana.views["#general"].authors)  # confirmed: she knows its id
    ana.entry.insert(0, "/borrar")
    ana.entry.event_generate("<Return>")
    wait(lambda: "mensaje eliminado por ana" in bea.views["#general"].plain_text())
    assert "examen es 42" not in bea.views["#general"].plain_text()
    msgid = next(iter(bea.views["#general"].authors), "")
    bea.open_conversation("ana")  # a private chat in front
    assert server.announce("Mañana no hay clase")
    wait(lambda: "Mañana no hay clase" in bea.views["#general"].plain_text())
    assert "Mañana no hay clase" not in bea.views["ana"].plain_text()
    assert msgid == ""  # the deleted message is forgotten by her window too


def test_the_teachers_help_in_the_window_is_the_shared_table(server, profe_and_ana):
    """``/ayuda`` in a teacher's window lists every command of
    ``net.room_words.TEACHER_COMMANDS``, each with its hint and what it does."""
    set_language("es")
    profe, ana, wait = profe_and_ana
    server.rooms.make_teacher(server.find_session("tere"))
    wait(lambda: profe.class_menu.shown)
    _typed(profe, "/ayuda")
    shown = profe.views["#general"].plain_text
    wait(lambda: "/borrar (/delete) — borra tu último mensaje" in shown())
    for line in teacher_help():
        assert line in shown()
    _typed(ana, "/ayuda")  # a student is not shown the teacher's commands
    wait(lambda: "/salir (/quit)" in ana.views["#general"].plain_text())
    assert "/vetar" not in ana.views["#general"].plain_text()
    _typed(profe, "/vetarr ana")
    wait(lambda: "¿Querías decir /vetar?" in shown())


def test_the_teacher_claims_a_room_from_the_class_menu_and_by_typing(server, profe_and_ana):
    """ "Reclamar la sala" (and ``/reclamar``) sends ``CLAIM``: the student who made the
    room loses its operator role and reads who claimed it; a student typing it is refused."""
    set_language("es")
    profe, ana, wait = profe_and_ana
    server.rooms.make_teacher(server.find_session("tere"))
    wait(lambda: profe.class_menu.shown)
    _typed(ana, "/unirse #grupo3")  # she made it: its operator
    wait(lambda: "#grupo3" in ana.views and ana.is_operator("#grupo3"))
    _typed(ana, "/reclamar")
    wait(lambda: "Solo un profesor puede hacer eso." in ana.views["#grupo3"].plain_text())
    _typed(profe, "/unirse #grupo3")
    wait(lambda: profe.current_name() == "#grupo3" and profe.class_menu.shown)
    menu = profe.class_menu.menu
    menu.invoke(menu.index("Claim the room"))  # the window was made before set_language
    said = ana.views["#grupo3"].plain_text
    wait(lambda: "tere ha reclamado #grupo3: ahora es de los profesores" in said())
    wait(lambda: not ana.is_operator("#grupo3"))
    _typed(profe, "/reclamar off")
    wait(lambda: "tere ha devuelto #grupo3" in said())


def _banners(window, channel: str) -> str:
    """The text of a conversation's banners (announcements), as the eye sees them."""
    text = window.views[channel].text
    ranges = text.tag_ranges("banner")
    return "".join(
        text.get(start, end) for start, end in zip(ranges[::2], ranges[1::2], strict=True)
    )


def test_the_teachers_own_announcement_is_the_banner_the_students_see(server, profe_and_ana):
    set_language("es")
    profe, ana, wait = profe_and_ana
    server.rooms.make_teacher(server.find_session("tere"))
    wait(lambda: profe.class_menu.shown)
    _typed(profe, "/aviso Examen el lunes")
    wait(lambda: "Examen el lunes" in _banners(ana, "#general"))
    wait(lambda: "Aviso de tere" in _banners(profe, "#general"))
    assert "Examen el lunes" in _banners(profe, "#general")
    assert profe.views["#general"].plain_text().count("Examen el lunes") == 1
    _typed(ana, "/aviso yo también")  # not an operator: a line of hers, not a banner
    wait(lambda: "yo también" in profe.views["#general"].plain_text())
    assert "yo también" in ana.views["#general"].plain_text()
    assert "yo también" not in _banners(ana, "#general") + _banners(profe, "#general")


def test_the_teacher_deletes_all_of_a_long_message_not_only_its_first_line(server, profe_and_ana):
    """A long message travels as several lines (``net.text_cuts``), shown as one: the
    teacher's "delete" removes every line of it, so a late joiner's history has none."""
    profe, ana, wait = profe_and_ana
    server.rooms.make_teacher(server.find_session("tere"))
    wait(lambda: profe.class_menu.shown)
    text = " ".join(f"insulto{n}" for n in range(200))  # 1,789 characters: several lines
    _typed(ana, text)
    view = profe.views["#general"]
    wait(lambda: any(len(view.pieces_of(msgid)) > 1 for msgid in view.authors))
    [msgid] = [msgid for msgid in view.authors if len(view.pieces_of(msgid)) > 1]
    classroom.delete_message(profe, "#general", msgid)
    wait(lambda: "insulto0" not in view.plain_text())
    late = support.IrcClient(server.port)
    try:
        late.send("CAP REQ :server-time batch message-tags")
        late.send("CAP END")
        late.register("leo")
        late.join("#general")
        late.sync()
        assert not [line for line in late.lines if "insulto" in line]
    finally:
        late.close()


def test_its_author_deletes_all_of_a_long_message_with_borrar(server, profe_and_ana):
    """``/borrar`` after a long message of one's own removes every line it was sent as, and
    the message vanishes from the other window too, even said right after its author came
    in (her "joined" line was held back to fold a run of arrivals: the message's line was
    remembered one too high, and the delete blanked the "joined" line instead)."""
    profe, ana, wait = profe_and_ana
    text = " ".join(f"error{n}" for n in range(200))  # several lines, under 2,000 characters
    _typed(ana, text)
    wait(lambda: "error199" in profe.views["#general"].plain_text())
    wait(lambda: ana.views["#general"].authors)  # confirmed: she knows its id
    wait(lambda: "sending" not in ana.views["#general"].plain_text())
    _typed(ana, "/borrar")
    wait(lambda: "error0 " not in profe.views["#general"].plain_text())
    late = support.IrcClient(server.port)
    try:
        late.register("leo")
        late.join("#general")
        late.sync()
        assert not [line for line in late.lines if "error1" in line]
    finally:
        late.close()
