"""Render the README's picture of the window: a real server, real clients, a real window.

Run from the repository root: ``python docs/screenshot.py`` writes ``docs/charla.png``.
It starts its own Xvfb (Debian's ``xvfb``) unless ``DISPLAY`` is set, and uses
ImageMagick's ``import`` (Debian's ``imagemagick``) to take the picture. Everything
talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import time
import tkinter as tk
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gui.app import ChatWindow  # noqa: E402
from gui.icon import set_window_icon  # noqa: E402
from gui.settings import Settings  # noqa: E402
from net.client import ChatClient  # noqa: E402
from net.i18n import set_language  # noqa: E402
from net.server import ChatServer, ServerConfig  # noqa: E402
from tests.support import x_display  # noqa: E402  (an X display of our own)

CONVERSATION = [
    ("Begoña", "¡Buenos días! ¿Alguien ha terminado el ejercicio 3?"),
    ("Tomás", "Yo sí, está en https://example.org/ejercicio-3"),
    ("Begoña", "/me lo mira ahora mismo"),
    ("Tomás", "Lucía, ¿nos ayudas con el último apartado? ❤"),
]


def run(window: ChatWindow, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        window.root.update()


def main() -> int:
    screen = contextlib.ExitStack()
    screen.enter_context(x_display("1100x800x24"))
    set_language("es")
    server = ChatServer(
        ServerConfig(host="127.0.0.1", port=0, server_name="aula-3b", history_size=0)
    )
    server.start()
    others = {
        nick: ChatClient("127.0.0.1", server.port, nick).start() for nick in ("Begoña", "Tomás")
    }
    try:
        root = tk.Tk(className="charla")
        set_window_icon(root)
        client = ChatClient("127.0.0.1", server.port, "Lucía", ["#general"], queue.Queue()).start()
        window = ChatWindow(root, client, Settings(nick="Lucía", geometry="1000x620+0+0"))
        run(window, 1.5)
        server.rooms.set_topic(
            server.rooms.find_session("Tomás"),
            server.rooms.default_channel,
            "Matemáticas 3ºB · examen el lunes",
        )
        for nick, text in CONVERSATION:
            if text.startswith("/me "):
                others[nick].action("#general", text[4:])
            else:
                others[nick].say("#general", text)
            run(window, 0.4)
        window.submit("¡Claro! Ahora os lo explico 😊")
        run(window, 0.5)
        server.announce("Recreo de 10 minutos. ¡Volved a las 11:00!")
        run(window, 1.0)
        out = ROOT / "docs" / "charla.png"
        root.update_idletasks()  # the window sits at 0,0; its menu bar is above root's area
        size = (
            f"{root.winfo_rootx() + root.winfo_width()}x{root.winfo_rooty() + root.winfo_height()}"
        )
        subprocess.run(["import", "-window", "root", "-crop", f"{size}+0+0", str(out)], check=True)
        print(f"wrote {out}")
        window.close()
    finally:
        for other in others.values():
            other.quit()
        server.shutdown()
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
