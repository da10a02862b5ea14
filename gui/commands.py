"""What the user typed: a message, or a command in Spanish or English.

``parse_input`` turns a line into a ``Command`` (with its canonical English name) or a
plain ``Say``; an unknown command comes back with the closest known one as a hint.

Threading: pure functions; used on the Tk main thread.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

#: every spelling a user may type -> the command's canonical name
ALIASES = {
    "/nick": "nick",
    "/apodo": "nick",
    "/me": "me",
    "/yo": "me",
    "/msg": "msg",
    "/privado": "msg",
    "/join": "join",
    "/unirse": "join",
    "/part": "part",
    "/dejar": "part",
    "/topic": "topic",
    "/tema": "topic",
    "/users": "users",
    "/usuarios": "users",
    "/clear": "clear",
    "/limpiar": "clear",
    "/help": "help",
    "/ayuda": "help",
    "/quit": "quit",
    "/salir": "quit",
}


@dataclass(frozen=True)
class Say:
    """Text to send to the current conversation."""

    text: str


@dataclass(frozen=True)
class Command:
    name: str  # canonical: "nick", "me", "msg", …
    args: str


@dataclass(frozen=True)
class Unknown:
    typed: str
    suggestion: str  # the closest command, or ""


def parse_input(line: str) -> Say | Command | Unknown | None:
    """Classify one line from the entry; None for an empty one.

    >>> parse_input("/apodo Bego"), parse_input("close"), parse_input("//no es comando")
    (Command(name='nick', args='Bego'), Command(name='quit', args=''), Say(text='/no es comando'))
    >>> parse_input("/usuraios")
    Unknown(typed='/usuraios', suggestion='/usuarios')
    """
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.lower() == "close":  # as in the programs Charla grew from
        return Command("quit", "")
    if stripped.startswith("//"):
        return Say(stripped[1:])
    if not stripped.startswith("/"):
        return Say(line.rstrip("\r\n"))
    word, _, rest = stripped.partition(" ")
    name = ALIASES.get(word.lower())
    if name is None:
        close = difflib.get_close_matches(word.lower(), ALIASES, n=1, cutoff=0.6)
        return Unknown(word, close[0] if close else "")
    return Command(name, rest.strip())
