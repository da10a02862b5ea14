"""Render the README's pictures of the web chat: a real server, real clients, a real browser.

Run from the repository root: ``python docs/web_screenshot.py`` writes
``docs/web-light.png`` and ``docs/web-dark.png``: the page as a phone 360 pixels wide shows
it, in Spanish, light and dark. It drives Debian's headless ``chromium`` through
``chromium-driver`` with Selenium (the dev extra), as tests/test_webapp.py does. Everything
talks to 127.0.0.1 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from net.server import ChatServer, ServerConfig  # noqa: E402
from tests.support import IrcClient, chromium_page  # noqa: E402

CONVERSATION = [
    ("Begoña", "¡Buenos días! ¿Alguien ha terminado el ejercicio 3?"),
    ("Tomás", "Yo sí, está en https://example.org/ejercicio-3"),
    ("Begoña", "\x01ACTION lo mira ahora mismo\x01"),
    ("Tomás", "Lucía, ¿nos ayudas con el último apartado? ❤"),
]


def render(dark: bool) -> None:
    """One picture, from a server of its own (so the other picture's talk is not history)."""
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, history_db=None))
    server.start()
    people: list[IrcClient] = []
    try:
        for nick in ("Marta", "Begoña", "Tomás"):
            person = IrcClient(server.port)
            person.register(nick)
            person.join("#clase")  # Marta opens it: the room's teacher
            people.append(person)
        marta, begona, tomas = people
        with chromium_page(language="es", dark=dark) as page:
            wait = WebDriverWait(page, 10)
            page.get(f"http://127.0.0.1:{server.port}/")
            page.find_element("id", "nick").send_keys("Nora\n" if dark else "Lucía\n")
            wait.until(lambda p: p.execute_script("return window.charla.state().registered"))
            type_line(page, "/unirse #clase")
            wait.until(lambda p: "Marta" in p.execute_script(MEMBERS))
            marta.send("NOTICE #clase :Examen de la unidad 4 el lunes 📚")
            marta.sync()
            for nick, text in CONVERSATION:
                speaker = begona if nick == "Begoña" else tomas
                speaker.send(f"PRIVMSG #clase :{text}")
                speaker.sync()  # relayed before the next person speaks
            type_line(page, "Yo también 👍" if dark else "¡Voy! 🙋 Un momento")
            wait.until(lambda p: "último apartado" in p.execute_script(SHOWN))
            wait.until(lambda p: not p.find_elements("css selector", ".pending"))
            name = "web-dark.png" if dark else "web-light.png"
            page.save_screenshot(str(ROOT / "docs" / name))
            print(f"wrote docs/{name}")
    finally:
        for person in people:
            person.close()
        server.shutdown()


MEMBERS = "return document.getElementById('member-list').textContent"
SHOWN = "return document.querySelector('.log:not([hidden])').textContent"


def type_line(page: object, text: str) -> None:
    page.execute_script(
        "const box = document.getElementById('text'); box.value = arguments[0];"
        "document.getElementById('send').click();",
        text,
    )


def main() -> None:
    render(dark=False)
    render(dark=True)


if __name__ == "__main__":
    main()
