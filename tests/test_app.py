"""Real Charla windows under Xvfb talking through a real server."""

from __future__ import annotations

import queue
import subprocess
import sys
import time
import tkinter as tk

import pytest

from gui.app import ChatWindow
from gui.settings import Settings
from net.client import ChatClient, ReconnectPolicy
from tests.support import ROOT, IrcClient

FAST_RETRY = ReconnectPolicy(first=0.05, base=0.1, most=0.5, max_attempts=200)


@pytest.fixture
def open_window(display, server, no_gc_on_worker_threads):
    windows: list[ChatWindow] = []

    def open_one(nick: str) -> ChatWindow:
        root = tk.Tk()
        client = ChatClient(
            "127.0.0.1", server.port, nick, ["#general"], queue.Queue(), policy=FAST_RETRY
        )
        window = ChatWindow(root, client.start(), Settings(nick=nick))
        windows.append(window)
        return window

    yield open_one
    for window in windows:
        if not window.closed:
            window.close()


def wait_until(windows: list[ChatWindow], condition, timeout: float = 10.0) -> None:
    """Let the windows run (their pumps, their redraws) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for window in windows:
            window.root.update()
        if condition():
            return
    texts = [w.views["#general"].plain_text()[-300:] for w in windows if "#general" in w.views]
    statuses = [w.status.cget("text") for w in windows]
    raise AssertionError(f"timed out waiting for the windows: {texts} {statuses}")


def conversation(window: ChatWindow) -> str:
    return window.views["#general"].plain_text()


def type_line(window: ChatWindow, text: str) -> None:
    """What a person does: click into the window, type, press Enter."""
    window.entry.focus_force()
    window.root.update()
    window.entry.insert(0, text)
    window.entry.event_generate("<Return>")


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
    assert ana.search("EXAMEN") == 1
    assert ana.search_result.cget("text") == "1 found"
    ana.toggle_theme()
    assert ana.views["#general"].text.cget("background") == ana.theme.background
    assert ana.settings.theme == "dark"
    bea.close()
    wait_until([ana], lambda: ana.nick_list.get(0, "end") == ("ana",))
    assert "bea left" in conversation(ana)


def test_commands_in_spanish_private_tabs_recall_completion_and_the_paste_guard(
    open_window, monkeypatch
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
    assert ana.nick_list.get(0, "end") == ("ana", "bea")  # who is in this conversation

    ana.tabs.select(ana.views["#general"])
    wait_until(both, lambda: ana.current_name() == "#general")
    type_line(bea, "/apodo beatriz")
    wait_until(both, lambda: "beatriz" in ana.nick_list.get(0, "end"))
    assert "bea is now beatriz" in conversation(ana)
    type_line(ana, "/tema Examen el lunes")
    wait_until(both, lambda: bea.topic.cget("text") == "Examen el lunes")

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
        wait_until(windows, lambda: "Reconnecting" in str(ana.status.cget("text")))
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


def test_cliente_py_joins_from_the_command_line(server, display, tmp_path):
    watcher = IrcClient(server.port)
    env_home = {"XDG_CONFIG_HOME": str(tmp_path), "DISPLAY": display}
    process = subprocess.Popen(
        [
            sys.executable,
            "cliente.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--nick",
            "ventana",
            "--lang",
            "en",
        ],
        cwd=ROOT,
        env={**__import__("os").environ, **env_home},
    )
    try:
        watcher.register("watcher")
        watcher.join("#general")
        watcher.expect(r"^:ventana!\S+ JOIN :?#general$", timeout=20)
    finally:
        process.terminate()
        process.wait(10)
        watcher.close()


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
