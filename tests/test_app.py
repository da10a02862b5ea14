"""Real Charla windows under Xvfb talking through a real server."""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import tkinter as tk
from datetime import datetime
from tkinter import font as tkfont
from tkinter import ttk

import pytest

from gui import received
from gui.app import ChatWindow
from gui.attention import urgency_hint
from gui.conversation import ConversationView
from gui.settings import Settings
from net import events as ev
from net.client import ChatClient
from net.i18n import set_language
from tests import support
from tests.support import FAST_RETRY, ROOT, IrcClient, type_line
from tests.support import wait_for_windows as wait_until


def conversation(window: ChatWindow) -> str:
    return window.views["#general"].plain_text()


def test_two_windows_chat_and_see_each_other_come_and_go(open_window):
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    type_line(ana, "¿Habéis visto el examen? ñandú 😀")
    wait_until(both, lambda: "¿Habéis visto el examen? ñandú 😀" in conversation(bea))
    wait_until(both, lambda: "(sending…)" not in conversation(ana))
    assert conversation(ana).count("¿Habéis visto el examen?") == 1
    type_line(bea, "/yo se ríe")
    wait_until(both, lambda: "* bea se ríe" in conversation(ana))
    type_line(bea, "/usuraios")
    wait_until(both, lambda: "Did you mean /usuarios?" in conversation(bea))
    late = open_window("carla")  # joins after: the past comes first, then a line, then live
    both.append(late)
    wait_until(both, lambda: "¿Habéis visto el examen?" in conversation(late))
    type_line(ana, "en directo")
    wait_until(both, lambda: "en directo" in conversation(late))
    text = conversation(late)
    assert text.index("¿Habéis visto") < text.index("new messages") < text.index("en directo")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "¿Habéis visto" in t)
    assert "history" in late.views["#general"].text.tag_names(f"{line}.end-2c")
    late.close()
    both.remove(late)
    ana.show_search()
    assert ana.search("EXÁMEN") == 1  # accents and case do not count
    assert ana.search_bar.result.cget("text") == "1 result"
    ana.root.update()
    bar, status = ana.search_bar.winfo_rooty(), ana.status.winfo_rooty()
    assert ana.search_bar.winfo_ismapped() and bar < status  # above the status line
    ana.hide_search()
    ana.toggle_theme()
    assert ana.views["#general"].text.cget("background") == ana.theme.background
    assert str(ana.menubar.cget("background")) == ana.theme.panel_background  # the frame too
    assert ttk.Style(ana.root).lookup("TNotebook.Tab", "background") == ana.theme.panel_background
    menu_font = tkfont.nametofont("TkMenuFont", root=ana.root)
    size = abs(int(menu_font.cget("size")))
    ana._zoom(5)  # Ctrl+plus five times: the menus and tabs grow with the conversation
    assert abs(int(menu_font.cget("size"))) > size
    assert ana.settings.theme == "dark"
    bea.close()
    wait_until([ana], lambda: ana.nick_list.get(0, "end") == ("ana",))
    wait_until([ana], lambda: "bea left" in conversation(ana))  # after gui.comings' pause


def test_commands_in_spanish_private_tabs_recall_completion_and_the_paste_guard(
    open_window, monkeypatch, server
):
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})

    type_line(ana, "/privado bea ¿me pasas los apuntes?")
    wait_until(both, lambda: "ana" in bea.views)  # her private tab opened by itself
    wait_until(both, lambda: "¿me pasas los apuntes?" in bea.views["ana"].plain_text())
    assert "¿me pasas los apuntes?" not in conversation(bea)
    private = bea.views["ana"]
    assert "highlight" in private.text.tag_names("1.0 lineend -2c")
    assert ana.current_name() == "bea"  # /privado took ana to the conversation with bea
    type_line(ana, "/tema Examen")  # a private conversation has no topic: said so, here
    assert ana.views["bea"].plain_text().rstrip().endswith("That works in a channel, not here.")
    assert ana.nick_list.get(0, "end") == ("ana", "bea")  # who is in this conversation

    ana.tabs.select(ana.views["#general"])
    wait_until(both, lambda: ana.current_name() == "#general")
    type_line(bea, "/apodo beatriz")
    wait_until(both, lambda: "beatriz" in ana.nick_list.get(0, "end"))
    assert "bea is now beatriz" in conversation(ana)
    server.rooms.make_teacher(server.find_session("ana"))  # #general's topic is theirs (+t)
    type_line(ana, "/tema Examen el lunes")
    wait_until(both, lambda: bea.topic.cget("text") == "Examen el lunes")
    assert bea.topic.winfo_manager() == "grid"
    bea.tabs.select(bea.views["ana"])  # a private conversation has no topic: no empty band
    wait_until(both, lambda: bea.topic.winfo_manager() == "")
    bea.tabs.select(bea.views["#general"])
    wait_until(both, lambda: bea.topic.cget("text") == "Examen el lunes")
    assert bea.topic.winfo_manager() == "grid"

    ana.entry.insert(0, "be")  # Tab completes a nick at the start of the line with ": "
    ana.entry.event_generate("<Tab>")
    assert ana.entry.get() == "beatriz: "
    ana.entry.delete(0, "end")
    ana.entry.event_generate("<Up>")  # Up brings back what was sent last
    assert ana.entry.get() == "/tema Examen el lunes"
    ana.entry.delete(0, "end")

    questions = []
    monkeypatch.setattr(
        "gui.entry.messagebox.askyesno", lambda title, text, **_: questions.append(text) or True
    )
    ana.root.clipboard_clear()
    ana.root.clipboard_append("primera línea\nsegunda línea\n\ntercera línea")
    ana.entry.event_generate("<<Paste>>")
    assert questions == ["Send these 3 lines?"]
    wait_until(both, lambda: "tercera línea" in conversation(bea))
    text = conversation(bea)
    assert text.index("primera") < text.index("segunda") < text.index("tercera")
    assert ana.entry.get() == ""  # the lines were sent, not pasted into the entry

    type_line(ana, "/unirse #tutoria")
    wait_until(
        both,
        lambda: (
            ana.current_name() == "#tutoria"
            and "You joined" in (ana.views["#tutoria"].plain_text())
        ),
    )
    type_line(ana, "/limpiar")
    ana.root.update()
    assert ana.views["#tutoria"].plain_text().strip() == ""
    type_line(ana, "/usuarios")
    wait_until(both, lambda: "In #tutoria (1): ana" in ana.views["#tutoria"].plain_text())

    type_line(ana, "close")  # the word the original programs used
    assert ana.closed
    wait_until([bea], lambda: bea.nick_list.get(0, "end") == ("beatriz",))


def test_status_line_shows_reconnecting_and_messages_typed_meanwhile_arrive(
    start_server, display, no_gc_on_worker_threads
):
    server = start_server()
    port = server.port
    windows = []
    try:
        for nick in ("ana", "bea"):
            client = ChatClient(
                "127.0.0.1", port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
            )
            windows.append(ChatWindow(tk.Tk(), client.start(), Settings(nick=nick)))
        ana, bea = windows
        wait_until(windows, lambda: len(bea.nick_list.get(0, "end")) == 2)
        server.shutdown()
        wait_until(windows, lambda: "Not connected (" in str(ana.status.cget("text")))
        type_line(ana, "escrito sin servidor")
        wait_until(windows, lambda: "1 message waiting to go out" in str(ana.status.cget("text")))
        type_line(ana, "y otro más")
        wait_until(windows, lambda: "2 messages waiting to go out" in str(ana.status.cget("text")))
        start_server(port=port)
        wait_until(windows, lambda: "escrito sin servidor" in conversation(bea), timeout=15)
        wait_until(windows, lambda: "(sending…)" not in conversation(ana))
        assert conversation(bea).count("escrito sin servidor") == 1
        wait_until(windows, lambda: "y otro más" in conversation(bea))
        assert conversation(bea).index("escrito sin servidor") < conversation(bea).index("y otro")
    finally:
        for window in windows:
            window.close()


def cliente_joins(port: int, env: dict[str, str], *arguments: str) -> None:
    """``python cliente.py ARGUMENTS`` comes into #general of the server on ``port`` as
    "ventana" (seen by a watcher there); stopped after."""
    watcher = IrcClient(port)
    process = subprocess.Popen(
        [sys.executable, "cliente.py", "--nick", "ventana", "--lang", "en", *arguments],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
    )
    try:
        watcher.register("watcher")
        watcher.join("#general")
        watcher.expect(r"^:ventana!\S+ JOIN :?#general$", timeout=20)
    finally:
        process.terminate()
        process.wait(10)
        watcher.close()


def test_cliente_py_joins_from_the_command_line(server, display, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "DISPLAY": display}
    cliente_joins(server.port, env, "--host", "127.0.0.1", "--port", str(server.port))


def test_cliente_py_takes_a_networks_servers_and_goes_to_one_that_answers(
    server, display, tmp_path
):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "DISPLAY": display}
    wrong = subprocess.run(
        [sys.executable, "cliente.py", "--server", "aula:0", "--nick", "ventana"],
        cwd=ROOT,
        env={**__import__("os").environ, **env, "LANGUAGE": "es"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert wrong.returncode == 2 and "No es la dirección de un servidor: aula:0" in wrong.stderr
    down = support.free_port()  # the network's first server is down
    servers = ("--server", f"127.0.0.1:{down}", "--server", f"127.0.0.1:{server.port}")
    cliente_joins(server.port, env, *servers)


def test_cliente_py_without_a_display_says_why_and_logs_it(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "cliente.py", "--host", "127.0.0.1", "--port", "1", "--nick", "ana"],
        cwd=ROOT,
        env={**env, "XDG_CONFIG_HOME": str(tmp_path), "LANGUAGE": "es"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Charla no puede abrir su ventana" in result.stderr
    assert "Traceback" not in result.stderr
    assert "no puede abrir su ventana" in (tmp_path / "charla" / "charla.log").read_text("utf-8")


def registered(window: ChatWindow) -> bool:
    """The window is in #general: its own nick is in the nick list."""
    return window.client.nick in window.nick_list.get(0, "end")


def chat_message(text: str, sender: str = "bea") -> ev.ChatMessage:
    return ev.ChatMessage(sender, "#general", text, datetime.now().astimezone())


def test_a_long_backlog_is_shown_a_slice_at_a_time_with_tk_running_in_between(open_window):
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    events = ana.client.events
    backlog = 200_000  # far more than any computer shows in one BATCH_SECONDS tick
    for number in range(backlog):
        events.put(ev.Delivered(-1 - number))  # confirmations of messages it never sent
    events.put(chat_message("lo último de la cola"))
    waiting_seen = []  # the queue's length each time Tk ran this between pump ticks

    def look() -> None:
        waiting_seen.append(events.qsize())
        if events.qsize():
            ana.root.after(1, look)

    ana.root.after(1, look)
    wait_until([ana], lambda: "lo último de la cola" in conversation(ana), timeout=60)
    assert any(0 < waiting < backlog for waiting in waiting_seen), waiting_seen[:5]


def test_an_event_that_fails_is_logged_said_once_and_the_next_ones_still_show(
    open_window, monkeypatch, caplog
):
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))

    def broken(_window, event):
        raise RuntimeError(f"roto: {event.topic}")

    monkeypatch.setitem(received.EVENT_HANDLERS, ev.Topic, broken)
    for event in (
        ev.Topic("#general", "primero", "bea", True),
        chat_message("sigo aquí"),
        ev.Topic("#general", "segundo", "bea", True),
        chat_message("y aquí también"),
    ):
        ana.client.events.put(event)
    wait_until([ana], lambda: "y aquí también" in conversation(ana))
    text = conversation(ana)
    assert "sigo aquí" in text
    assert text.count("Something went wrong; details are in") == 1
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [(r.getMessage(), str(r.exc_info[1])) for r in failures] == [
        ("the window failed showing a Topic event", "roto: primero"),
        ("the window failed showing a Topic event", "roto: segundo"),
    ]
    caplog.clear()  # those two were expected
    monkeypatch.undo()  # the pump still runs: what comes later is shown too
    ana.client.events.put(ev.Topic("#general", "Examen el lunes", "bea", True))
    wait_until([ana], lambda: ana.topic.cget("text") == "Examen el lunes")


def test_a_conversation_that_fails_to_take_its_lines_does_not_stop_the_pump(
    open_window, monkeypatch, caplog
):
    """A private conversation that always fails to take its lines: the channel's lines
    still show, the user is told once, and the log says it once, not every tick."""
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    ana.open_conversation("bea")
    broken = ana.views["bea"]
    ana.tabs.select(ana.views["#general"])  # what ana is looking at
    real_flush = ConversationView.flush

    def flush_unless_broken(view: ConversationView) -> None:
        if view is broken:
            raise tk.TclError("roto")
        real_flush(view)

    monkeypatch.setattr(ConversationView, "flush", flush_unless_broken)
    ana.client.events.put(chat_message("antes del fallo"))
    wait_until([ana], lambda: "antes del fallo" in conversation(ana))
    for tick in range(5):  # more ticks of the pump, each meeting the broken view again
        ana.client.events.put(chat_message(f"después del fallo {tick}"))
        wait_until([ana], lambda tick=tick: f"después del fallo {tick}" in conversation(ana))
    assert conversation(ana).count("Something went wrong; details are in") == 1
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "the window failed showing the lines of bea"
    ]
    caplog.clear()  # that one was expected


def test_an_error_from_the_server_is_shown_in_the_windows_own_words(open_window):
    set_language("es")
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    type_line(ana, "/privado nadie ¿hay alguien?")  # 401 No such nick, after registration
    wait_until(
        [ana], lambda: "No hay nadie conectado con ese nombre." in ana.views["nadie"].plain_text()
    )
    # Names that cannot even be sent get the same words, from the window itself
    type_line(ana, "/privado :nadie ¿y ahora?")
    assert "No hay nadie conectado con ese nombre." in ana.views[":nadie"].plain_text()
    type_line(ana, "/apodo :ana")
    assert "Ese apodo no es válido." in ana.views[":nadie"].plain_text()


def test_removed_from_the_channel_the_window_says_so_and_stays_out(open_window, server):
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    assert server.kick("ana", "Fuera por hoy")  # KICK, then the server drops her connection
    wait_until(both, lambda: "removed you from #general: Fuera por hoy" in conversation(ana))
    wait_until(both, lambda: "removed ana: Fuera por hoy" in conversation(bea))
    assert ana.nick_list.get(0, "end") == ()  # she is out: nobody is listed to her
    wait_until(both, lambda: "ana" in dict(server.user_list()))  # back, reconnected
    type_line(ana, "¿sigo en #general?")  # the channel was left: it is not joined again
    assert "¿sigo en #general? (not sent: you are not in #general; type /unirse #general" in (
        conversation(ana)
    )
    type_line(bea, "sync")
    wait_until(both, lambda: "sync" in conversation(ana) or "(sending" not in conversation(bea))
    assert "¿sigo en #general?" not in conversation(bea)


def test_closing_the_window_leaves_no_timer_behind(open_window, monkeypatch):
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    root = ana.root
    root.after(60_000, lambda: None)  # any timer on the window, Tk's own auto-scroll say
    monkeypatch.setattr("gui.entry.messagebox.askyesno", lambda *_a, **_k: True)
    root.clipboard_clear()
    root.clipboard_append("uno\n/salir\ntres")  # the window closes halfway through the paste
    ana.entry.event_generate("<<Paste>>")
    wait_until([ana], lambda: ana.closed)
    assert root.tk.splitlist(root.tk.call("after", "info")) == ()  # "tres" is never sent


def test_a_window_that_only_joins_rooms_never_loads_the_server(tmp_path):
    program = (
        "import sys\n"
        "import cliente  # and with it every module the window program imports\n"
        "def loaded(): return [m for m in ('net.server', 'sqlite3') if m in sys.modules]\n"
        "print(loaded())\n"
        "from gui.connect_dialog import start_room\n"
        "room = start_room(0, host='127.0.0.1')\n"
        "print(loaded())\n"
        "room.shutdown()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={
            **__import__("os").environ,
            "XDG_CONFIG_HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path),  # the room's history file
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.splitlines() == ["[]", "['net.server', 'sqlite3']"], result.stderr


def test_a_line_the_client_cannot_send_is_said_so_and_the_next_one_goes(open_window):
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    type_line(ana, "pegado con un\rretorno")  # a lone CR from a paste: it would end the line
    type_line(ana, "/tema un tema\rpartido")
    wait_until(both, lambda: conversation(ana).count("cannot be sent as it is") == 2)
    type_line(ana, "esto sí llega")
    wait_until(both, lambda: "esto sí llega" in conversation(bea))
    assert "retorno" not in conversation(bea)
    assert "partido" not in conversation(bea)


def test_a_window_that_logs_in_under_another_nick_says_which(open_window, connect):
    set_language("es")
    connect("ana")  # someone already has the nick
    window = open_window("ana")
    wait_until(
        [window],
        lambda: "Ese apodo ya está en uso. En este servidor eres ana_." in conversation(window),
    )
    assert "ana_" in window.status.cget("text")


def test_a_message_too_long_for_a_chat_is_refused_before_it_is_queued(open_window):
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    type_line(ana, "x" * 480_000)  # a whole document pasted on one line
    wait_until(both, lambda: "That message is too long to send (480000" in conversation(ana))
    assert "waiting" not in ana.status.cget("text")
    type_line(ana, "y" * 3995 + " cabe")  # 4,000 characters: at the limit, and sent
    wait_until(both, lambda: "show all" in conversation(bea))  # one message, cut at 2,000
    view = bea.views["#general"]
    assert view.expand(view.text.index(view.text.tag_ranges("more")[0]))
    assert "y cabe" in conversation(bea)
    assert "x" * 100 not in conversation(bea)


def test_a_refused_nick_is_said_at_once_and_a_name_with_a_space_is_refused(open_window):
    set_language("es")
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    type_line(ana, "/apodo bea")
    wait_until(
        both,
        lambda: (
            "No puedes llamarte bea: ya lo está usando otra persona. Sigues siendo ana."
            in conversation(ana)
        ),
    )
    type_line(ana, "/apodo Lucía López")
    assert "Un apodo no puede llevar espacios: prueba con Lucía_López." in conversation(ana)
    type_line(ana, "/apodo Hu go!")  # no suggestion the server would refuse
    assert conversation(ana).rstrip().endswith("— Un apodo no puede llevar espacios.")
    type_line(ana, "/apodo Lucía")  # a free name still works, and is said
    wait_until(both, lambda: "ana ahora se llama Lucía" in conversation(bea))
    assert ana.client.nick == "Lucía"


def test_a_window_that_logs_in_under_another_nick_keeps_saying_so_at_the_bottom(
    open_window, connect
):
    set_language("es")
    connect("ana")  # someone already has the nick
    window = open_window("ana")
    wait_until([window], lambda: "como ana_" in window.status.cget("text"))
    assert "ana ya estaba en uso" in window.status.cget("text")


def test_losing_the_server_is_said_the_nick_list_greys_and_the_return_too(
    start_server, display, no_gc_on_worker_threads
):
    set_language("es")
    server = start_server()
    port = server.port
    client = ChatClient("127.0.0.1", port, "ana", ["#general"], queue.Queue(), policy=FAST_RETRY)
    window = ChatWindow(tk.Tk(), client.start(), Settings(nick="ana"))
    try:
        wait_until([window], lambda: window.nick_list.get(0, "end") == ("ana",))
        server.shutdown()
        wait_until(
            [window],
            lambda: (
                # and why: the server's own goodbye (its ERROR line)
                "Se ha perdido la conexión con el servidor (Closing Link:" in conversation(window)
            ),
        )
        assert window.nick_list.cget("foreground") == window.theme.muted
        assert window.nick_list.get(0, "end") == ("ana",)  # still there, greyed
        start_server(port=port)
        wait_until([window], lambda: "De vuelta en #general" in conversation(window), timeout=15)
        assert conversation(window).count("Has entrado en #general") == 1
        assert conversation(window).count("Se ha perdido la conexión") == 1
        assert window.nick_list.cget("foreground") == window.theme.text
    finally:
        window.close()


def test_the_nick_list_sorts_spanish_names_and_counts_the_people(open_window, connect):
    ana = open_window("Zoe")
    for nick in ("Álvaro", "ñu", "nube", "bea"):
        connect(nick).send("JOIN #general")
    wait_until([ana], lambda: len(ana.nick_list.get(0, "end")) == 5)
    assert ana.nick_list.get(0, "end") == ("Álvaro", "bea", "nube", "ñu", "Zoe")
    assert ana.members_panel.count.cget("text") == "5 people"


def test_who_joins_and_leaves_can_be_hidden_from_the_view_menu(open_window, connect):
    ana = open_window("ana")
    wait_until([ana], lambda: ana.nick_list.get(0, "end") == ("ana",))
    view_menu = ana.menubar.nametowidget(ana.menubar.entrycget("View", "menu"))
    entry = view_menu.index(received.tr("Show who joins and leaves"))
    view_menu.invoke(entry)  # a click on the tick: off
    assert ana.settings.comings is False  # kept with the other settings
    bea = connect("bea")
    bea.send("JOIN #general")
    wait_until([ana], lambda: "bea" in ana.nick_list.get(0, "end"))  # the list still follows
    bea.send("PART #general")
    carla = connect("carla")
    carla.send("JOIN #general")
    carla.send("PRIVMSG #general :hola")
    wait_until([ana], lambda: "hola" in conversation(ana))
    assert ana.nick_list.get(0, "end") == ("ana", "carla")
    assert "joined" not in conversation(ana).split("You joined")[1]
    assert " left" not in conversation(ana).split("You joined")[1]  # (the welcome has one)
    view_menu.invoke(entry)  # on again
    carla.send("PART #general")
    wait_until([ana], lambda: "carla left" in conversation(ana))


def test_mentions_and_privates_count_in_the_title_other_lines_mark_the_tab(open_window, connect):
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    bea = connect("bea")
    bea.join("#general")
    ana.root.event_generate("<FocusOut>")  # the window goes behind another
    assert not ana.focused
    # replayed from history (a reconnect): said before, not a new call
    ana.client.events.put(
        ev.ChatMessage("bea", "#general", "ana: ¿y tú?", datetime.now().astimezone(), history=True)
    )
    bea.send("PRIVMSG #general :Hasta mañana a todos")  # "ana" inside a word: nothing
    wait_until([ana], lambda: "Hasta mañana a todos" in conversation(ana))
    assert ana.root.title() == "Charla"
    assert urgency_hint(ana.root) is False
    bea.send("PRIVMSG #general :ANA, ¿vienes?")
    wait_until([ana], lambda: ana.root.title() == "(1) Charla")
    assert urgency_hint(ana.root) is True  # the taskbar points at the window
    bea.send("PRIVMSG ana :¿me pasas los deberes?")  # a private message calls her too
    wait_until([ana], lambda: ana.root.title() == "(2) Charla")
    assert ana.tabs.tab(ana.views["bea"], "text") == "bea (1)"
    bea.send("NICK beatriz")  # the private tab follows her, with what it had unread
    wait_until(
        [ana],
        lambda: (
            "beatriz" in ana.views and ana.tabs.tab(ana.views["beatriz"], "text") == "beatriz (1)"
        ),
    )
    ana.root.event_generate("<FocusIn>")  # back in front, on #general: that is read
    wait_until([ana], lambda: ana.root.title() == "(1) Charla")
    assert urgency_hint(ana.root) is False
    ana.tabs.select(ana.views["beatriz"])  # and now the private one
    wait_until([ana], lambda: ana.root.title() == "Charla")
    assert ana.tabs.tab(ana.views["beatriz"], "text") == "beatriz"
    bea.send("PRIVMSG #general :otra cosa")  # activity elsewhere: the tab, not the title
    wait_until([ana], lambda: ana.tabs.tab(ana.views["#general"], "text") == "#general •")
    assert ana.root.title() == "Charla"


def test_close_alone_asks_first_and_salir_leaves_at_once(open_window, monkeypatch):
    set_language("es")
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    questions: list[str] = []
    answer = [False]
    monkeypatch.setattr(
        "gui.app.messagebox.askyesno",
        lambda _title, text, **k: questions.append((text, k["default"])) or answer[0],
    )
    type_line(ana, "Close")  # an answer in English class, and "no" to the question
    assert questions == [("¿Salir de Charla?", "no")]  # "no" unless they mean it
    assert not ana.closed
    answer[0] = True
    type_line(ana, "close")
    assert ana.closed
    bea = open_window("bea")
    wait_until([bea], lambda: registered(bea))
    type_line(bea, "/salir")
    assert bea.closed and len(questions) == 2  # no question


def press(widget: tk.Misc, *keysyms: str) -> None:
    """Keys pressed while ``widget`` has the focus, as the X server delivers them."""
    widget.focus_force()
    widget.update()
    for keysym in keysyms:
        widget.event_generate("<KeyPress>", keysym=keysym, when="tail")
    widget.update()


def test_typing_after_clicking_a_tab_or_the_conversation_goes_to_the_entry(open_window):
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    press(ana.tabs)  # a click on a tab: Tk gives the tab strip the focus, then
    ana.tabs.event_generate("<ButtonRelease-1>", x=5, y=5)  # the release gives it back
    ana.root.update()
    assert ana.root.focus_get() is ana.entry
    press(ana.tabs, "h", "o", "l", "a", "x", "BackSpace")  # the tab strip has the focus
    assert ana.entry.get() == "hola"
    press(ana.views["#general"].text, "space", "t", "u", "Return")  # selecting text to copy
    wait_until(both, lambda: "hola tu" in conversation(bea))
    assert ana.entry.get() == ""
    ana.show_search()
    press(ana.search_entry, "t", "u")  # the search field keeps what is typed in it
    assert ana.search_entry.get() == "tu" and ana.entry.get() == ""


class _Room:
    """A room this window hosts, as the window sees it: a port, and a shutdown."""

    def __init__(self, port: int) -> None:
        self.port = port

    def web_addresses(self) -> list[str]:
        return [f"http://192.168.1.23:{self.port}", f"http://[fd00::2]:{self.port}"]

    def shutdown(self, reason: str = "") -> None:
        pass


def test_a_hosted_room_shares_its_ipv4_address_first_says_copied_and_that_it_moved(
    display, server, no_gc_on_worker_threads, monkeypatch
):
    set_language("es")
    port = server.port
    monkeypatch.setattr(
        "gui.app.shareable_endpoints", lambda _host, p: [f"192.168.1.23:{p}", f"[fd00::2]:{p}"]
    )
    monkeypatch.setattr("gui.app.COPIED_MS", 50)
    client = ChatClient("127.0.0.1", port, "profe", ["#general"], queue.Queue())
    window = ChatWindow(
        tk.Tk(), client.start(), Settings(nick="profe"), hosted=_Room(port), asked_port=12345
    )
    try:
        bar = window.share_label.master
        texts = [str(child.cget("text")) for child in bar.winfo_children()]
        assert f"El puerto 12345 está ocupado; la sala se abre en el {port}." in texts
        shown = str(window.share_label.cget("text"))
        assert shown == f"Tu sala está abierta. Los demás se conectan a: 192.168.1.23:{port}"
        phones = str(window.phone_label.cget("text"))
        assert phones == f"En el móvil: http://192.168.1.23:{port}"
        window.copy_button.invoke()
        assert window.root.clipboard_get() == f"192.168.1.23:{port}"
        assert window.copy_button.cget("text") == "Copiado ✓"
        support.wait_until(
            lambda: window.copy_button.cget("text") == "Copiar dirección", tick=window.root.update
        )
        window.more_addresses.invoke()  # IPv6 on demand, after the IPv4 one
        shown = str(window.share_label.cget("text"))
        assert shown.endswith(f"192.168.1.23:{port}  [fd00::2]:{port}")
        phones = str(window.phone_label.cget("text"))
        assert phones.endswith(f"http://192.168.1.23:{port}  http://[fd00::2]:{port}")
        assert not window.more_addresses.winfo_ismapped()
    finally:
        window.close()


def test_leave_and_quit_reasons_reach_the_conversation(open_window, connect):
    ana = open_window("ana")
    wait_until([ana], lambda: registered(ana))
    bea, carla = connect("bea"), connect("carla")
    for who in (bea, carla):
        who.send("JOIN #general")
    wait_until([ana], lambda: len(ana.nick_list.get(0, "end")) == 3)
    bea.send("PART #general :vuelvo luego")
    carla.send("QUIT :me voy a comer")
    wait_until([ana], lambda: "(me voy a comer)" in conversation(ana))
    # four comings and goings at once: one folded line, each with its reason
    left = conversation(ana).split("2 people left: ")[1]  # in the order the server relayed
    assert sorted(left.strip().split(", ")) == ["bea (vuelvo luego)", "carla (me voy a comer)"]


def test_the_servers_welcome_is_folded_once_and_again_only_when_it_changed(
    start_server, display, no_gc_on_worker_threads
):
    set_language("es")
    server = start_server(motd="Sé amable en #general.")
    port = server.port
    client = ChatClient("127.0.0.1", port, "ana", ["#general"], queue.Queue(), policy=FAST_RETRY)
    window = ChatWindow(tk.Tk(), client.start(), Settings(nick="ana"))
    title = "Mensaje de bienvenida del servidor ▸"
    try:
        wait_until([window], lambda: "Has entrado en #general" in conversation(window))
        assert conversation(window).count(title) == 1
        view = window.views["#general"]
        assert view.toggle_fold(1)  # unfolds
        assert "Sé amable en #general." in conversation(window)
        server.shutdown()
        again = start_server(port=port, motd="Sé amable en #general.")  # the same: not again
        wait_until([window], lambda: "De vuelta en #general" in conversation(window), timeout=15)
        assert conversation(window).count("Mensaje de bienvenida del servidor") == 1
        again.shutdown()
        start_server(port=port, motd="Hoy hay examen.")  # changed: shown, folded
        wait_until([window], lambda: conversation(window).count(title) == 1, timeout=15)
        assert conversation(window).count("Mensaje de bienvenida del servidor") == 2
    finally:
        window.close()


def test_the_replay_comes_above_you_joined_so_the_times_read_in_order(open_window, connect):
    bea = connect("bea")
    bea.send("JOIN #general")
    bea.send("PRIVMSG #general :lo de ayer, antes de que entraras")
    bea.sync()
    ana = open_window("ana")
    wait_until([ana], lambda: "You joined #general" in conversation(ana))
    wait_until([ana], lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    bea.send("PRIVMSG #general :en directo")
    wait_until([ana], lambda: "en directo" in conversation(ana))
    text = conversation(ana)
    assert text.index("lo de ayer") < text.index("You joined #general") < text.index("en directo")
    assert text.count("You joined #general") == 1


@pytest.fixture
def ngircd_window(display, no_gc_on_worker_threads):
    """A real ngIRCd, and ``open_one(nick)``: a window in its #general."""
    with support.running_ngircd() as (port, ngircd):
        windows: list[ChatWindow] = []

        def open_one(nick: str) -> ChatWindow:
            client = ChatClient(
                "127.0.0.1", port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
            )
            windows.append(ChatWindow(tk.Tk(), client.start(), Settings(nick=nick)))
            return windows[-1]

        open_one.port, open_one.ngircd = port, ngircd
        yield open_one
        for window in windows:
            window.close()


def test_on_ngircd_the_operator_marks_of_every_kind_stay_in_the_nick_list(ngircd_window):
    """ngIRCd's first joiner gets @, and its PREFIX=(qaohv)~&@%+ has % (half) too."""
    first = IrcClient(ngircd_window.port)
    other = IrcClient(ngircd_window.port)
    try:
        first.register("profe")
        first.join("#general")  # the first one in: @
        other.register("carla")
        other.join("#general")
        first.send("MODE #general +hv carla carla")  # multi-prefix: NAMES says %+carla
        first.sync()
        ana = ngircd_window("ana")
        wait_until([ana], lambda: len(ana.nick_list.get(0, "end")) == 3)
        assert ana.nick_list.get(0, "end") == ("★ profe", "☆ carla", "ana")
        assert ana.member_status("#general", "carla") == "hv"
        first.send("MODE #general +v ana")
        wait_until([ana], lambda: "✎ ana" in ana.nick_list.get(0, "end"))
        assert "You joined #general" in conversation(ana)
        first.send("MODE #general +h ana")
        wait_until([ana], lambda: "☆ ana" in ana.nick_list.get(0, "end"))
        said = conversation(ana).rstrip()
        assert said.endswith("profe gave you half-operator rights (☆) in this room.")
    finally:
        first.close()
        other.close()


def test_ngircds_connection_statistics_notice_is_an_ordinary_line_not_a_banner(ngircd_window):
    ana = ngircd_window("ana")
    wait_until([ana], lambda: ana.registered and "You joined #general" in conversation(ana))
    ngircd_window.ngircd.close()  # at shutdown it tells each client its traffic
    wait_until([ana], lambda: "Connection statistics" in conversation(ana))
    view = ana.views["#general"]
    line = next(
        n for n, t in enumerate(view.plain_text().splitlines(), 1) if "Connection statistics" in t
    )
    assert "system" in view.text.tag_names(f"{line}.end-2c")
    assert "banner" not in view.text.tag_names(f"{line}.end-2c")
    assert "Announcement from the server" not in conversation(ana)


def test_a_long_message_from_another_window_is_one_message_cut_with_show_all(open_window):
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    text = " ".join(f"palabra{n} 👋🏽" for n in range(250))  # 3,389 characters, 9 lines
    bea.send_text("#general", text, action=False)
    wait_until(both, lambda: "show all" in conversation(ana))
    [line] = [t for t in conversation(ana).splitlines() if "palabra0 " in t]
    assert line.endswith("more characters] show all") and "palabra249" not in line
    view = ana.views["#general"]
    assert view.expand(view.text.index(view.text.tag_ranges("more")[0]))
    [line] = [t for t in conversation(ana).splitlines() if "palabra0 " in t]
    assert line.split("bea: ", 1)[1] == text  # one message, every character


def test_someone_away_is_shown_in_the_list_and_a_private_message_to_them_is_answered_once(
    open_window,
):
    ana = open_window("ana")
    bea = open_window("bea")
    carla = open_window("carla")
    every = [ana, bea, carla]
    wait_until(every, lambda: len(carla.nick_list.get(0, "end")) == 3)
    type_line(bea, "/ausente en el recreo")
    wait_until(every, lambda: "You are marked as away." in conversation(bea))
    wait_until(every, lambda: "bea (away)" in ana.nick_list.get(0, "end"))
    ana.open_conversation("bea")
    for text in ("¿vienes?", "¿hola?"):
        ana.send_text("bea", text, action=False)
    wait_until(every, lambda: "bea is away: en el recreo" in ana.views["bea"].plain_text())
    wait_until(every, lambda: "¿hola?" in bea.views["ana"].plain_text())
    wait_until(every, lambda: "(sending…)" not in ana.views["bea"].plain_text())
    assert ana.views["bea"].plain_text().count("is away") == 1  # once, not per message
    late = open_window("dani")  # joins while bea is away: told by a WHO of the channel
    every.append(late)
    wait_until(every, lambda: "bea (away)" in late.nick_list.get(0, "end"))
    index = carla.nick_list.get(0, "end").index("bea (away)")
    assert carla.nick_list.itemcget(index, "foreground") == carla.theme.muted
    type_line(bea, "/ausente")
    wait_until(every, lambda: "You are back." in conversation(bea))
    wait_until(every, lambda: "bea" in late.nick_list.get(0, "end"))
    wait_until(every, lambda: "bea" in ana.nick_list.get(0, "end"))
