"""The room's state in words, and the one table of the teacher's commands."""

from __future__ import annotations

import doctest

from gui import commands
from net import plain_session, room_words
from net.i18n import set_language
from net.room_words import TEACHER_COMMANDS, closest_command, teacher_help, teacher_usage


def test_doctests():
    assert doctest.testmod(room_words).failed == 0


def test_the_window_and_nc_read_one_table_of_teacher_commands():
    for one in TEACHER_COMMANDS:
        for name in (one.spanish, one.english):
            assert commands.ALIASES[name] == one.action
            assert one.action in commands.COMMANDS
            assert plain_session.TEACHER_COMMANDS.get(name) == (one.action if one.at_nc else None)
    names_at_nc = {name for name in plain_session.TEACHER_COMMANDS}
    assert names_at_nc <= set(commands.ALIASES)


def test_help_and_usage_in_both_languages():
    set_language("es")
    try:
        assert teacher_usage("mute") == "/silenciar NOMBRE [minutos]"
        assert "/lento (/slow) SEGUNDOS|off — un mensaje cada SEGUNDOS" in teacher_help()
    finally:
        set_language("en")
    assert teacher_usage("delete") == "/borrar"
    assert len(teacher_help()) == len(TEACHER_COMMANDS)
    assert len(teacher_help(at_nc=True)) < len(TEACHER_COMMANDS)


def test_a_mistyped_command_gets_the_closest_one():
    assert closest_command("/VETARR", ["/vetar", "/voz"]) == "/vetar"
    assert closest_command("/zzz", ["/vetar"]) == ""
