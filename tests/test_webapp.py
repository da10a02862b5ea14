"""The web page (``net/webapp/``) in a real browser: Debian's headless Chromium, driven by
Selenium, against a real Charla server on 127.0.0.1.

Every wait is for a condition in the page's DOM (``WebDriverWait``), never a sleep; each
browser is quit at teardown by the ``open_page`` fixture.
"""

from __future__ import annotations

import pytest

from net.protocol import session_alias
from tests.support import ROOT

WEBAPP = ROOT / "net" / "webapp"


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
