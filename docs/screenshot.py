"""Render the README's pictures of the window: a real server, real clients, real windows.

Run from the repository root: ``python docs/screenshot.py`` writes ``docs/charla.png`` (a
small group) and ``docs/class-*.png``: a class of 30 with its teacher, in the light and dark
looks, in an 800×600 window at the usual 96 dpi and in a window of the same physical size
at 144 dpi (Tk's scaling 2.0, as on a laptop with a high-density screen).
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

#: the class of 30 (with the window's own Lucía); Marta is their teacher
CLASS_NAMES = """Marta Álvaro Zoe Íñigo Nerea Óscar Bea Carlos Ana Eva Sol Mar Leo Pablo Daniel
Elena Hugo Irene Jorge Laura Mario Nacho Olga Paula Raúl Sara Tomás Úrsula Víctor Ximena Ñeca"""
CLASS = CLASS_NAMES.split()
CLASS_CONVERSATION = [
    ("Marta", "Buenos días. Hoy: fracciones equivalentes. Abrid el libro por la página 42."),
    ("Álvaro", "¿El ejercicio 5 también entra en el examen?"),
    ("Marta", "Sí, Álvaro: todo el tema 3."),
    ("Zoe", "Lucía, ¿me pasas lo que copiaste ayer de la pizarra?"),
    ("Íñigo", "2/4 = 1/2 = 4/8 😀"),
    ("Nerea", "¿Y 3/9 es lo mismo que 1/3?"),
    ("Marta", "Exacto, Nerea. Simplificad siempre dividiendo arriba y abajo por el mismo número."),
]
#: (file name, look, window size in pixels, Tk scaling: 1.333 is 96 dpi, 2.0 is 144 dpi)
CLASS_PICTURES = [
    ("class-light-800x600.png", "light", "800x600", 96 / 72),
    ("class-dark-800x600.png", "dark", "800x600", 96 / 72),
    ("class-light-144dpi.png", "light", "1200x900", 144 / 72),
    ("class-dark-144dpi.png", "dark", "1200x900", 144 / 72),
]

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


def take_picture(root: tk.Tk, out: Path) -> None:
    """The window at 0,0 with its menu bar (which is above root's own area), as ``out``."""
    root.update_idletasks()
    size = f"{root.winfo_rootx() + root.winfo_width()}x{root.winfo_rooty() + root.winfo_height()}"
    subprocess.run(["import", "-window", "root", "-crop", f"{size}+0+0", str(out)], check=True)
    print(f"wrote {out}")


def class_picture(name: str, look: str, geometry: str, scaling: float) -> None:
    """A class of 30 and its teacher in a lesson, seen from Lucía's window, as ``name``."""
    server = ChatServer(
        ServerConfig(host="127.0.0.1", port=0, server_name="aula-3b", history_size=0)
    )
    server.start()
    pupils = {nick: ChatClient("127.0.0.1", server.port, nick).start() for nick in CLASS}
    try:
        rooms = server.rooms
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(rooms.find_session(n) is None for n in CLASS):
            time.sleep(0.05)
        rooms.make_teacher(rooms.find_session("Marta"))
        rooms.set_topic(
            rooms.find_session("Marta"), rooms.default_channel, "Matemáticas 3ºB · tema 3"
        )
        root = tk.Tk(className="charla")
        root.tk.call("tk", "scaling", scaling)
        set_window_icon(root)
        client = ChatClient("127.0.0.1", server.port, "Lucía", ["#general"], queue.Queue())
        settings = Settings(nick="Lucía", theme=look, geometry=f"{geometry}+0+0")
        window = ChatWindow(root, client.start(), settings)
        run(window, 1.5)
        for nick, text in CLASS_CONVERSATION:
            pupils[nick].say("#general", text)
            run(window, 0.2)
        window.submit("Sí, ahora te lo paso 😊")
        run(window, 1.0)
        take_picture(root, ROOT / "docs" / name)
        window.close()
    finally:
        for pupil in pupils.values():
            pupil.quit()
        server.shutdown()


def main() -> int:
    screen = contextlib.ExitStack()
    screen.enter_context(x_display("1300x1000x24"))
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
        take_picture(root, ROOT / "docs" / "charla.png")
        window.close()
    finally:
        for other in others.values():
            other.quit()
        server.shutdown()
    try:
        for picture in CLASS_PICTURES:
            class_picture(*picture)
    finally:
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
