"""The web page (``net/webapp/``) in a real browser: Debian's headless Chromium, driven by
Selenium, against a real Charla server on 127.0.0.1.

Every wait is for a condition in the page's DOM (``WebDriverWait``), never a sleep; each
browser is quit at teardown by the ``open_page`` fixture.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from pathlib import Path

import pytest

from net.protocol import irc_lower, session_alias
from tests.support import ROOT, FreezableRelay, IrcClient, free_port

WEBAPP = ROOT / "net" / "webapp"
#: the longest wait for something to show in a page (a 2-core machine running the suite)
WAIT_SECONDS = 10.0


@pytest.fixture
def server(start_server):
    """The Charla server the pages talk to (``connect`` opens raw clients to it)."""
    return start_server()


def test_the_page_names_its_messages_as_the_server_does(open_page) -> None:
    """The page computes ``session_alias(token)`` itself (SHA-512 and Python's MT19937
    seeding, in JavaScript): how it knows its own messages when history replays them."""
    page = open_page()
    page.get((WEBAPP / "index.html").as_uri())
    tokens = ["0123456789abcdef", "a" * 64, "x1y2z3q4w5e6r7t8u", "Z9" * 20 + "q"]
    computed = page.execute_script(
        "return arguments[0].map((t) => window.charla.sessionAlias(t))", tokens
    )
    assert computed == [session_alias(token) for token in tokens]


def test_every_word_of_the_page_is_in_spanish_and_in_english(open_page) -> None:
    """The page's words are in its script (one file, no build step): each has both
    languages, of the same kind (a text, or a function of the same arguments), and none
    is left untranslated."""
    page = open_page()
    page.get((WEBAPP / "index.html").as_uri())
    words = page.execute_script(
        "const w = window.charla.words; const d = {};"
        "for (const lang of Object.keys(w)) { d[lang] = {};"
        " for (const [k, v] of Object.entries(w[lang]))"
        "  d[lang][k] = typeof v === 'function' ? 'function/' + v.length : v; }"
        "return d;"
    )
    assert set(words) == {"es", "en"}
    assert set(words["es"]) == set(words["en"])
    for key, english in words["en"].items():
        spanish = words["es"][key]
        assert str(spanish).startswith("function/") == str(english).startswith("function/"), key
        if str(english).startswith("function/"):
            assert spanish == english, key  # the same number of arguments
        elif len(english) > 3:
            assert spanish != english, key  # translated


def test_every_control_has_a_name_a_screen_reader_can_say(open_page) -> None:
    page = open_page(language="es")
    page.get((WEBAPP / "index.html").as_uri())
    unnamed = page.execute_script(
        "return [...document.querySelectorAll('input, textarea, button, [role=tablist]')]"
        ".filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map((e) => e.id || e.outerHTML)"
    )
    assert unnamed == []
    assert page.find_element("css selector", "label[for=nick]").get_attribute("textContent") == (
        "Tu nombre"
    )
    assert page.execute_script("return document.documentElement.lang") == "es"


def test_the_page_colours_names_as_the_window_does() -> None:
    """style.css carries gui/theme.py's twelve nick colours, light and then dark."""
    from gui.theme import DARK, LIGHT

    css = (WEBAPP / "style.css").read_text(encoding="utf-8")
    found = re.findall(r"--c(\d+): (#[0-9a-f]{6})", css)
    assert [int(n) for n, _ in found] == [*range(12), *range(12)]
    assert tuple(c for _, c in found) == LIGHT.nick_colors + DARK.nick_colors


def test_the_page_icon_is_the_windows() -> None:
    """The server program carries no gui/: the page has its own copy of the icon."""
    assert (WEBAPP / "icon.png").read_bytes() == (ROOT / "gui/icons/charla-128.png").read_bytes()


@pytest.mark.parametrize("path", ["index.html", "app.js", "style.css"])
def test_nothing_is_inline_and_user_text_never_becomes_html(path: str) -> None:
    """The server's Content-Security-Policy allows no inline script or style, and user text
    is inserted as text: no ``innerHTML``, ``insertAdjacentHTML``, ``document.write``,
    ``eval``, inline handlers or style attributes anywhere in the page's files."""
    text = (WEBAPP / path).read_text(encoding="utf-8")
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        " onclick=",
        " onload=",
        " style=",
        "<script>",
        "<style",
        "javascript:",
    ):
        assert forbidden not in text, (path, forbidden)


# ---------------------------------------------------------------------------
# The page against a real server


def _wait(page, condition, timeout: float = WAIT_SECONDS):
    """Wait, bounded, for ``condition(page)`` to be true in the page's DOM."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(page, timeout, poll_frequency=0.05).until(condition)


def _enter(page, port: int, nick: str) -> None:
    """Open the page the server serves, type a name, and wait until it is in."""
    from selenium.webdriver.common.by import By

    page.get(f"http://127.0.0.1:{port}/")
    page.find_element(By.ID, "nick").send_keys(nick + "\n")
    _wait(page, lambda p: p.execute_script("return window.charla.state().registered"))


def _say(page, text: str) -> None:
    """Type ``text`` and press Enter (set whole: a browser types 100,000 keys slowly)."""
    page.execute_script(
        "const box = document.getElementById('text'); box.value = arguments[0];"
        "document.getElementById('send').click();",
        text,
    )


def _shown(page) -> str:
    """What the conversation on show says, as text."""
    return page.execute_script(
        "return document.querySelector('.log:not([hidden])')?.textContent ?? ''"
    )


def _said(page) -> list[str]:
    """What people said in the conversation on show, a line each (without ``[hh:mm]``)."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('.log:not([hidden]) > li.msg'),"
        " (li) => li.textContent.replace(/^\\[\\d\\d:\\d\\d\\] /, ''))"
    )


def _members(page) -> str:
    """The nick list of the conversation on show (hidden in a drawer on a phone)."""
    return page.execute_script("return document.getElementById('member-list').textContent")


def _pending(page) -> int:
    return page.execute_script("return document.querySelectorAll('.pending').length")


def _showing(text: str):
    return lambda page: text in _shown(page)


def _screenshot(page, name: str, folder: Path) -> Path:
    """A PNG of the page, in ``folder`` (and in ``$CHARLA_SCREENSHOTS``, for a person to
    look at)."""
    path = folder / name
    page.save_screenshot(str(path))
    extra = os.environ.get("CHARLA_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path


def test_two_pages_and_an_irc_client_chat(server, connect, open_page, tmp_path: Path) -> None:
    ana = open_page()
    beto = open_page(language="es")
    _enter(ana, server.port, "Ana")
    _enter(beto, server.port, "Beto")
    carla = connect("carla")
    carla.join("#general")

    _say(ana, "hola, beto 👋 https://example.org/tarea?x=1")
    carla.expect(r"^:Ana!\S+ PRIVMSG #general :hola, beto 👋 https://example.org/tarea\?x=1$")
    _wait(beto, _showing("Ana: hola, beto 👋"))
    _wait(ana, lambda page: _pending(page) == 0)  # confirmed by the server
    line = beto.execute_script(
        "const li = [...document.querySelectorAll('.msg')].pop();"
        "const a = li.querySelector('a');"
        "return [li.className, li.querySelector('time').textContent, a.href, a.rel];"
    )
    assert "mention" in line[0]  # "beto" names Beto, whatever the case
    assert re.fullmatch(r"\[\d\d:\d\d\]", line[1])
    assert line[2:] == ["https://example.org/tarea?x=1", "noopener noreferrer nofollow"]

    carla.send("PRIVMSG #general :¿qué tal? 😀")
    for page in (ana, beto):
        _wait(page, _showing("carla: ¿qué tal? 😀"))
    _say(beto, "bien")
    carla.expect("PRIVMSG #general :bien$")
    _wait(ana, _showing("Beto: bien"))
    # each line once, in the order said, on both pages
    for page in (ana, beto):
        said = _said(page)
        assert said == [
            "Ana: hola, beto 👋 https://example.org/tarea?x=1",
            "carla: ¿qué tal? 😀",
            "Beto: bien",
        ]
    assert ana.execute_script("return document.getElementById('members-count').textContent") == (
        "3 people"
    )
    colours = ana.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.msg .nick')]"
        ".map((n) => [n.textContent, n.className.replace('nick ', '')]))"
    )
    assert colours == {  # the window's colour for each name (gui.theme.nick_color)
        nick: f"nick-c{zlib.crc32(irc_lower(nick).encode()) % 12}"
        for nick in ("Ana", "carla", "Beto")
    }
    assert beto.execute_script("return document.getElementById('send').textContent") == "Enviar"

    # a private conversation gets its own tab, and nobody else sees it
    carla.send("PRIVMSG Ana :solo para ti")
    _wait(ana, lambda page: len(page.find_elements("css selector", ".tab")) == 2)
    ana.find_elements("css selector", ".tab")[1].click()
    _wait(ana, _showing("carla: solo para ti"))
    _say(ana, "vale")
    carla.expect(r"^:Ana!\S+ PRIVMSG carla :vale$")
    carla.sync()
    assert "solo para ti" not in _shown(beto)
    ana.find_element("css selector", ".tab-close").click()  # closed; #general on show
    _wait(ana, lambda page: len(page.find_elements("css selector", ".tab")) == 1)
    _say(beto, "/apodo Bruno")
    carla.expect(r"^:Beto!\S+ NICK :?Bruno$")
    _wait(ana, _showing("Beto is now Bruno"))
    for page in (ana, beto):  # no error, no Content-Security-Policy refusal, no 404
        problems = [e["message"] for e in page.get_log("browser") if e["level"] != "INFO"]
        assert problems == []
    _screenshot(beto, "two-pages-beto.png", tmp_path)


def test_a_page_survives_a_server_restart_without_loss_or_repetition(
    run_server, open_page, tmp_path: Path
) -> None:
    port = free_port()
    args = ("--host", "127.0.0.1", "--port", str(port), "--history-db", str(tmp_path / "h.db"))
    first = run_server(*args)
    first.expect("listening on port")
    page = open_page()
    _enter(page, port, "ana")
    beto = IrcClient(port)
    try:
        beto.register("beto")
        beto.join("#general")
        beto.send("PRIVMSG #general :hola ana")
        _wait(page, _showing("beto: hola ana"))
        _say(page, "antes")
        beto.expect("PRIVMSG #general :antes$")
        _wait(page, lambda p: _pending(p) == 0)
    finally:
        beto.close()

    first.process.kill()  # no goodbye: as if the computer lost power
    first.wait()
    _wait(page, lambda p: "offline" in p.find_element("tag name", "body").get_attribute("class"))
    _say(page, "durante uno")
    _say(page, "durante dos")
    assert _pending(page) == 2  # on screen, waiting

    second = run_server(*args)
    second.expect("listening on port")
    beto = IrcClient(port)
    try:
        beto.register("beto")
        beto.join("#general")
        _wait(page, lambda p: _pending(p) == 0, timeout=20)  # sent again, and confirmed
        beto.send("PRIVMSG #general :fin")
        _wait(page, _showing("beto: fin"))
        heard = "\n".join(beto.sync())
        # live or in the replayed history (as the server's notices), each exactly once
        for text in ("durante uno", "durante dos"):
            assert len(re.findall(rf"ana: {text}$|PRIVMSG #general :{text}$", heard, re.M)) == 1
        said = _said(page)
        assert said == [
            "beto: hola ana",
            "ana: antes",
            "ana: durante uno",
            "ana: durante dos",
            "beto: fin",
        ]

        # a reload (a phone that dropped the tab) comes back as the same person
        page.refresh()
        _wait(page, _showing("beto: fin"))
        said = _said(page)
        assert said == [
            "beto: hola ana",
            "ana: antes",
            "ana: durante uno",
            "ana: durante dos",
            "beto: fin",
        ]
        beto.sync()
        assert not re.search(r"(PRIVMSG #general :|ana: )durante", "\n".join(beto.sync()))
    finally:
        beto.close()


HOSTILE = [
    '<img src=x onerror="window.pwned=1">',
    "<script>window.pwned=2</script><b>negrita</b>",
    "javascript:window.pwned=3 y [pulsa](javascript:window.pwned=4)",
    "\u202etxt.exe mira",
    "x" * 400,
]


def test_hostile_messages_render_as_text(start_server, open_page, tmp_path: Path) -> None:
    # the 100,000 characters below, at once
    server = start_server(flood_control=False)
    page = open_page()
    _enter(page, server.port, "ana")
    beto = IrcClient(server.port)
    try:
        beto.register("beto")
        beto.join("#general")
        for text in HOSTILE:
            beto.send(f"PRIVMSG #general :{text}")
        # IRC's formatting codes left out, a terminal's escape shown as what it is
        beto.send("PRIVMSG #general :\x02negrita\x02 \x0304,12rojo\x03 \x1b[2J\x07")
        # a user's notice, dressed as an announcement, is still a user's line
        beto.send("NOTICE #general :📢 Announcement from the server: no exam")
        _wait(page, _showing("no exam"))
        texts = page.execute_script(
            "return Array.from(document.querySelectorAll('.msg .text'), (t) => t.textContent)"
        )
        assert texts == [*HOSTILE, "negrita rojo ␛[2J␇", "📢 Announcement from the server: no exam"]
        found = page.execute_script(
            "const log = document.querySelector('.log');"
            "return [log.querySelectorAll('img, script, b').length,"
            " [...document.querySelectorAll('a')].map((a) => a.href),"
            " window.pwned, document.getElementById('banners').childElementCount,"
            " document.documentElement.scrollWidth, window.innerWidth];"
        )
        assert found[:4] == [0, [], None, 0]
        diag = page.execute_script(
            "const li = document.querySelector('.msg');"
            "return [document.styleSheets.length, getComputedStyle(li).overflowWrap,"
            " [...document.styleSheets].map((s) => { try { return s.cssRules.length }"
            " catch (e) { return String(e) } }), document.readyState]"
        )
        logs = page.get_log("browser")
        assert found[4] <= found[5], (diag, logs)  # nothing made the page wider than the phone

        # 100,000 characters from the page: cut into lines, each sent once, in order
        long_text = ("ñandú 👋 <i>" * 12_500)[:100_000]
        _say(page, long_text)
        _wait(page, lambda p: _pending(p) == 0, timeout=30)
        heard = [
            line.split(" :", 1)[1]
            for line in beto.sync()
            if re.match(r":ana!\S+ PRIVMSG #general :", line)
        ]
        assert "".join(heard) == long_text
        assert all(len(f":ana!~web@127.0.0.1 PRIVMSG #general :{p}".encode()) < 512 for p in heard)
        assert page.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        )
        _screenshot(page, "hostile.png", tmp_path)

        # what the page keeps waiting is bounded: too much at once is refused, not lost
        _say(page, "y" * 1_000_000)
        _wait(page, _showing("Too much is waiting"))
        assert _pending(page) == 0
        assert page.execute_script("return document.getElementById('text').value.length") == (
            1_000_000
        )
    finally:
        beto.close()


def test_teacher_controls_and_announcements(server, connect, open_page, tmp_path: Path) -> None:
    """Whoever opens a channel runs it: from the page, announce, delete, mute, remove; the
    students' pages show the announcement as a banner that a student's notice never is."""
    from selenium.webdriver.common.action_chains import ActionChains

    profe = open_page(size=(1024, 700))  # a desktop: the nick list beside the talk
    lucia = open_page(language="es")
    noche = open_page(dark=True)
    _enter(profe, server.port, "Marta")
    _say(profe, "/join #clase")
    _wait(profe, lambda page: page.find_element("id", "class-button").is_displayed())
    for page, nick in ((lucia, "Lucía"), (noche, "Nora")):
        _enter(page, server.port, nick)
        _say(page, "/unirse #clase")
        _wait(page, lambda p: "Marta" in _members(p))
    beto = connect("beto")
    beto.join("#clase")
    _wait(profe, _showing("3 people joined: Lucía, Nora, beto"))  # one line, not three
    assert not lucia.find_element("id", "class-button").is_displayed()

    beto.send("NOTICE #clase :Aviso: examen cancelado")  # a student's notice: no banner
    _wait(lucia, _showing("examen cancelado"))
    profe.find_element("id", "class-button").click()
    profe.find_element("id", "announce-text").send_keys("Examen el lunes 📚")
    profe.find_element("css selector", "#announce-form button").click()
    beto.expect(r"^:Marta!\S+ NOTICE #clase :Examen el lunes 📚$")
    for page in (lucia, noche):
        _wait(page, lambda p: p.find_elements("css selector", ".banner"))
        banners = page.execute_script(
            "return Array.from(document.querySelectorAll('.banner'), (b) => b.textContent)"
        )
        assert len(banners) == 1
        assert "Examen el lunes 📚" in banners[0]
        assert "Marta" in banners[0]

    beto.send("PRIVMSG #clase :borra esto, lucía")
    _say(lucia, "¡hola a todos! 🙂 mirad https://es.wikipedia.org/wiki/Ñandú")
    _wait(noche, _showing("Lucía: ¡hola"))
    shots = (
        _screenshot(lucia, "phone-light.png", tmp_path),
        _screenshot(noche, "phone-dark.png", tmp_path),
    )
    assert all(shot.stat().st_size > 10_000 for shot in shots)

    _wait(profe, _showing("beto: borra esto"))
    message = next(m for m in profe.find_elements("css selector", ".msg") if "borra esto" in m.text)
    ActionChains(profe).context_click(message).perform()
    profe.find_element("css selector", "#menu .menu-item").click()
    for page in (lucia, noche):
        _wait(
            page,
            _showing("beto: (mensaje borrado)")
            if page is lucia
            else _showing("beto: (message deleted)"),
        )

    def nick_menu(nick: str, choice: str) -> None:
        # found and clicked in one step: the list is drawn again as the room changes
        profe.execute_script(
            "[...document.querySelectorAll('.member-button')]"
            ".find((b) => b.textContent.endsWith(arguments[0])).click()",
            nick,
        )
        item = next(
            i for i in profe.find_elements("css selector", ".menu-item") if i.text == choice
        )
        item.click()

    nick_menu("beto", "Mute until I unmute")
    beto.expect(r"^:Marta!\S+ MODE #clase \+q :?beto!\*@\*$")
    nick_menu("beto", "Unmute")
    beto.expect(r"^:Marta!\S+ MODE #clase -q :?beto!\*@\*$")
    nick_menu("beto", "Mute for 5 minutes")  # TQUIET: the server lifts it
    beto.expect(r"^:Marta!\S+ MODE #clase \+q :?beto!\*@\*$")
    beto.send("PRIVMSG #clase :¿me oís?")
    beto.expect(r" 404 beto #clase ")
    nick_menu("beto", "Remove from the room")
    beto.expect(r"^:Marta!\S+ KICK #clase beto")
    _wait(lucia, lambda page: "beto" not in _members(page))
    beto.join("#clase")
    _wait(profe, lambda page: "beto" in _members(page))
    nick_menu("beto", "Ban for 1 hour")
    beto.expect(r"^:Marta!\S+ MODE #clase \+b :?beto!\*@\*$")
    beto.expect(r"^:Marta!\S+ KICK #clase beto :banned$")
    beto.send("JOIN #clase")
    beto.expect(r" 474 beto #clase ")


def test_a_page_that_slept_loses_and_repeats_nothing(server, connect, open_page) -> None:
    """A phone asleep: its connection goes silent both ways without closing (a relay that
    freezes), a message is written into it, and the room talks on. On waking the page asks
    the server at once, gives up on the dead connection within seconds, comes back as the
    same person, sends its message once and shows what it missed once."""
    relay = FreezableRelay(server.port)
    try:
        page = open_page()
        _enter(page, relay.port, "ana")
        beto = connect("beto")
        beto.join("#general")
        beto.send("PRIVMSG #general :antes de dormir")
        _wait(page, _showing("beto: antes de dormir"))

        relay.freeze()
        _say(page, "escrito al dormirse")
        beto.send("PRIVMSG #general :mientras dormía")
        beto.sync()
        assert _pending(page) == 1
        page.execute_script("document.dispatchEvent(new Event('visibilitychange'))")  # awake
        _wait(page, lambda p: _pending(p) == 0)
        _wait(page, _showing("beto: mientras dormía"))
        beto.send("PRIVMSG #general :fin")
        _wait(page, _showing("beto: fin"))
        heard = "\n".join(beto.sync())
        assert len(re.findall(r"PRIVMSG #general :escrito al dormirse$", heard, re.M)) == 1
        said = _said(page)
        assert said == [
            "beto: antes de dormir",
            "beto: mientras dormía",  # the history replayed goes before what still waits
            "ana: escrito al dormirse",
            "beto: fin",
        ]
    finally:
        relay.close()


def test_the_page_asks_the_room_password_and_the_account_password(start_server, open_page) -> None:
    server = start_server(password="clase123")
    owner = IrcClient(server.port)
    try:  # lola's nick is an account
        owner.register("lola", password="clase123")
        owner.send("REGISTER * * secreto123")
        owner.expect("REGISTER SUCCESS")
    finally:
        owner.close()
    page = open_page()
    page.get(f"http://127.0.0.1:{server.port}/")
    page.find_element("id", "nick").send_keys("lola\n")
    _wait(page, lambda p: p.find_element("id", "room-password").is_displayed())
    assert page.find_element("id", "login-error").text == "This room has a password."
    page.find_element("id", "room-password").send_keys("clase123\n")
    # (if the server makes the address wait after the try without it, the page tries
    # again by itself when the wait is over) then it hears the name is an account's
    _wait(page, lambda p: p.find_element("id", "account-password").is_displayed())
    assert "registered" in page.find_element("id", "login-error").text
    page.find_element("id", "account-password").send_keys("secreto123\n")
    _wait(page, lambda p: p.execute_script("return window.charla.state().registered"))
    assert page.find_element("id", "status").text == "Connected as lola"


def test_a_mention_or_a_private_message_notifies_when_the_page_is_hidden(
    server, connect, open_page
) -> None:
    """Notifications the user allowed (here a stand-in for the browser's, which a headless
    one cannot show): for a mention or a private message while the page is not on screen,
    and the title counts them; nothing for other lines, nor while the page is looked at."""
    page = open_page()
    _enter(page, server.port, "Lucía")
    page.execute_script(
        "window.shown = [];"
        "window.Notification = class { constructor(title, options) {"
        " window.shown.push([title, options.body]); } };"
        "window.Notification.permission = 'granted';"
    )
    beto = connect("beto")
    beto.join("#general")
    beto.send("PRIVMSG #general :lucia, ¿estás?")  # seen: no notification
    _wait(page, _showing("¿estás?"))
    page.execute_script("Object.defineProperty(document, 'hidden', {get: () => true})")
    beto.send("PRIVMSG #general :una línea cualquiera")
    beto.send("PRIVMSG #general :LUCÍA, mira esto")
    beto.send("PRIVMSG Lucía :en privado")
    _wait(page, lambda p: len(p.execute_script("return window.shown")) == 2)
    assert page.execute_script("return window.shown") == [
        ["beto mentions you", "LUCÍA, mira esto"],
        ["Private message from beto", "en privado"],
    ]
    assert page.title == "(2) Charla"


def test_a_duplicated_tab_is_another_person(server, open_page, caplog) -> None:
    """A tab opened from the page starts with a copy of its storage, token included; it
    must not take the nick from the first tab (which would take it back, for ever)."""
    page = open_page()
    _enter(page, server.port, "ana")
    first = page.current_window_handle
    page.execute_script("window.open(location.href)")
    _wait(page, lambda p: len(p.window_handles) == 2)
    page.switch_to.window(next(h for h in page.window_handles if h != first))
    _wait(
        page,
        lambda p: "Someone else is using that name" in p.find_element("id", "login-error").text,
    )
    page.switch_to.window(first)
    assert page.execute_script("return window.charla.state().registered")
    joins = [r.getMessage() for r in caplog.records if "joined as" in r.getMessage()]
    assert joins == ["127.0.0.1 joined as ana"]  # once: never taken over


def test_a_long_message_is_one_message_both_ways(server, connect, open_page) -> None:
    """A long message travels as several lines (net/text_cuts.py: cut before a space, all
    but the last tagged +charla.chat/continues): the page shows a window's pieces as one
    message, and cuts its own the same way, so a window puts them back together."""
    ana = open_page()
    _enter(ana, server.port, "Ana")
    carla = connect()
    carla.register("carla", caps="message-tags")
    carla.join("#general")
    carla.send("@+charla.chat/continues PRIVMSG #general :primera parte de un mensaje")
    carla.send("PRIVMSG #general : largo, y su final")
    _wait(ana, _showing("carla: primera parte de un mensaje largo, y su final"))
    assert len(_said(ana)) == 1

    words = " ".join(f"palabra{n}" for n in range(120))  # about 1,100 characters: 3 lines
    _say(ana, words)
    pieces = []
    while not pieces or "+charla.chat/continues" in pieces[-1][0]:
        match = carla.expect(r"^(@\S+ )?:Ana!\S+ PRIVMSG #general :(.*)$")
        pieces.append((match.group(1) or "", match.group(2)))
    assert len(pieces) > 1 and "".join(text for _tags, text in pieces) == words
    assert all(text.startswith(" palabra") for _tags, text in pieces[1:])  # between words
    _wait(ana, lambda page: _pending(page) == 0)
    assert _said(ana) == ["carla: primera parte de un mensaje largo, y su final", "Ana: " + words]


def _png(path: Path, side: int = 300) -> Path:
    """A real PNG of ``side`` × ``side`` pixels (grey), written with zlib alone."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x80" * side for _ in range(side))
    head = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def test_a_picture_from_the_page_is_a_thumbnail_and_a_refusal_is_said(
    server, connect, open_page, tmp_path: Path
) -> None:
    marta = open_page(size=(1024, 700))
    lucia = open_page(language="es")
    _enter(marta, server.port, "Marta")  # first in #general: its teacher
    _enter(lucia, server.port, "Lucía")
    carla = connect("carla")
    carla.join("#general")
    for number in range(40):  # more than a phone's screen: the page scrolls
        carla.send(f"PRIVMSG #general :línea {number}")
    _wait(lucia, _showing("línea 39"))
    lucia.find_element("id", "attach-input").send_keys(str(_png(tmp_path / "pizarra.png")))
    carla.expect(r"^:Lucía!\S+ PRIVMSG #general :📎 pizarra\.png http://\S+/f/[A-Za-z0-9_-]{22}$")
    for page in (marta, lucia):
        _wait(
            page,
            lambda p: p.execute_script(
                "const i = document.querySelector('.msg img.thumbnail');"
                "return !!i && i.complete && i.naturalWidth === 300"
            ),
        )
    src, rel = marta.execute_script(
        "const i = document.querySelector('.msg img.thumbnail');"
        "return [i.getAttribute('src'), i.parentElement.rel]"
    )
    assert re.fullmatch(r"/f/[A-Za-z0-9_-]{22}", src) and rel == "noopener"
    _wait(lucia, _showing("pizarra"))
    # the sender sees its picture whole, at the end, once it has loaded
    _wait(
        lucia,
        lambda p: p.execute_script(
            "const log = document.querySelector('.log:not([hidden])');"
            "return log.scrollHeight - log.scrollTop - log.clientHeight < 2"
        ),
    )
    _screenshot(lucia, "phone-picture.png", tmp_path)

    (tmp_path / "nota.txt").write_text("no soy una foto")
    lucia.find_element("id", "attach-input").send_keys(str(tmp_path / "nota.txt"))
    _wait(
        lucia,
        lambda p: "No se ha podido enviar nota.txt" in p.find_element("id", "upload-status").text,
    )
    assert "solo se pueden enviar fotos" in lucia.find_element("id", "upload-status").text


def test_a_picture_too_large_is_refused_in_the_pages_language(
    start_server, connect, open_page, tmp_path: Path
) -> None:
    server = start_server(max_upload=100 * 1024)  # the server speaks English, the page Spanish
    lucia = open_page(language="es")
    _enter(lucia, server.port, "Lucía")
    carla = connect()
    carla.register("carla")
    carla.join("#general")
    big = tmp_path / "foto-enorme.png"
    big.write_bytes(_png(tmp_path / "small.png").read_bytes() + os.urandom(200 * 1024))
    lucia.find_element("id", "attach-input").send_keys(str(big))
    _wait(lucia, lambda p: "No se ha podido" in p.find_element("id", "upload-status").text)
    assert lucia.find_element("id", "upload-status").text == (
        "No se ha podido enviar foto-enorme.png: es demasiado grande (máximo 0.1 MB)"
    )
    carla.send("PING :nada")
    carla.expect("PONG .* :nada")  # and nothing was said in the channel before it
    assert not any("foto-enorme" in line for line in carla.lines)


def test_a_picture_from_the_page_reaches_the_window_and_a_teachers_delete_takes_it_away(
    server, open_page, open_window, tmp_path: Path
) -> None:
    """A phone sends a picture: the other phone and a Tk window show it as a thumbnail.
    The teacher, in the window, deletes the message: the picture goes from both pages,
    from the window, and from the server."""
    from gui.classroom import delete_message
    from tests.support import wait_for_windows

    def pictures_in(window) -> list[tuple[int, int]]:
        text = window.views["#clase"].text
        return [
            (int(text.tk.call("image", "width", n)), int(text.tk.call("image", "height", n)))
            for _key, n, _index in text.dump("1.0", "end", image=True)
        ]

    marta = open_window("Marta")
    marta.client.send_command("JOIN", "#clase")  # opens it: its teacher
    wait_for_windows([marta], lambda: "#clase" in marta.views)
    lucia, nora = open_page(language="es"), open_page()
    for page, nick in ((lucia, "Lucía"), (nora, "Nora")):
        _enter(page, server.port, nick)
        _say(page, "/join #clase")
        _wait(page, lambda p: "Marta" in _members(p))
    wait_for_windows([marta], lambda: {"Lucía", "Nora"} <= set(marta.nick_list.get(0, "end")))
    lucia.find_element("id", "attach-input").send_keys(str(_png(tmp_path / "mapa.png")))
    thumbnail_loaded = (
        "const i = document.querySelector('.msg img.thumbnail');"
        "return !!i && i.complete && i.naturalWidth === 300"
    )
    _wait(nora, lambda p: p.execute_script(thumbnail_loaded))
    wait_for_windows([marta], lambda: len(pictures_in(marta)) == 1)
    assert max(pictures_in(marta)[0]) <= 240
    link = nora.execute_script("return document.querySelector('.msg img.thumbnail').src")

    view = marta.views["#clase"]
    marta.tabs.select(view)  # the conversation on show, as a click on its tab does
    [(_key, _name, index)] = view.text.dump("1.0", "end", image=True)
    view.text.see(index)
    marta.root.update()
    x, y, _width, _height = view.text.bbox(index)
    msgid, author = view.message_at(x, y)  # what a right-click on the picture finds
    assert author == "Lucía"
    delete_message(marta, "#clase", msgid)

    gone = (
        "return !document.querySelector('.msg img.thumbnail')"
        " && !!document.querySelector('.msg .picture-gone')"
    )
    wait_for_windows([marta], lambda: pictures_in(marta) == [])
    for page in (lucia, nora):
        _wait(page, lambda p: p.execute_script(gone))
    assert "(foto borrada)" in _shown(lucia)
    assert "(picture deleted)" in view.plain_text()
    status = nora.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {cache: 'no-store'}).then((r) => done(r.status))",
        link,
    )
    assert status == 404
