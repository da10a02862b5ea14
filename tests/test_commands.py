"""What the user types in the window: commands in Spanish and English, hints for typos."""

from __future__ import annotations

import pytest

from gui.commands import ALIASES, COMMANDS, CloseWord, Command, Say, Unknown, parse_input


@pytest.mark.parametrize(
    ("spanish", "english"),
    [
        ("/apodo", "/nick"),
        ("/yo", "/me"),
        ("/privado", "/msg"),
        ("/unirse", "/join"),
        ("/tema", "/topic"),
        ("/usuarios", "/users"),
        ("/limpiar", "/clear"),
        ("/ayuda", "/help"),
        ("/salir", "/quit"),
        ("/dejar", "/part"),
        ("/expulsar", "/kick"),
        ("/vetar", "/ban"),
        ("/desvetar", "/unban"),
        ("/silenciar", "/mute"),
        ("/desilenciar", "/unmute"),
        ("/lento", "/slow"),
        ("/moderar", "/moderate"),
        ("/invitar", "/invite"),
        ("/voz", "/voice"),
        ("/ayudante", "/helper"),
        ("/aviso", "/announce"),
        ("/borrar", "/delete"),
    ],
)
def test_spanish_and_english_spellings_mean_the_same(spanish, english):
    assert parse_input(f"{spanish} algo") == parse_input(f"{english} algo")
    assert ALIASES[spanish] == ALIASES[english]


def test_plain_text_close_and_escaped_slash():
    assert parse_input("hola, ¿qué tal?") == Say("hola, ¿qué tal?")
    assert parse_input("  CLOSE ") == CloseWord()  # the window asks first
    assert parse_input("//etc/passwd no es un comando") == Say("/etc/passwd no es un comando")
    assert parse_input("   ") is None
    assert parse_input("/MSG ana  hola") == Command("msg", "ana  hola")


def test_unknown_command_gets_the_closest_one_as_a_hint():
    assert parse_input("/ayudaa") == Unknown("/ayudaa", "/ayuda")
    assert parse_input("/zzzz") == Unknown("/zzzz", "")
    assert parse_input("/expulsa ana") == Unknown("/expulsa", "/expulsar")
    assert parse_input("/kik ana") == Unknown("/kik", "/kick")


def test_every_command_a_user_can_type_is_carried_out():
    assert set(ALIASES.values()) == COMMANDS.keys()
