"""Every string a person reads has its Spanish translation, and the language is chosen right."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from net import i18n

ROOT = Path(__file__).resolve().parent.parent


def translatable_strings() -> set[str]:
    """The literal argument of every ``tr(...)`` call in the program's code."""
    found: set[str] = set()
    for path in [
        ROOT / "servidor.py",
        ROOT / "cliente.py",
        *ROOT.glob("net/*.py"),
        *ROOT.glob("gui/*.py"),
    ]:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
            if (  # ntr(one, many, count): both forms are read
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ntr"
            ):
                found.update(a.value for a in node.args[:2] if isinstance(a, ast.Constant))
    return found


def test_every_translatable_string_has_a_spanish_translation():
    catalog = i18n.read_po(i18n.CATALOG_DIR / "es.po")
    strings = translatable_strings()
    assert len(strings) > 30
    missing = sorted(strings - catalog.keys())
    assert missing == []


def test_translations_keep_their_placeholders():
    catalog = i18n.read_po(i18n.CATALOG_DIR / "es.po")
    for english, spanish in catalog.items():
        fields = lambda text: sorted(part.split("}")[0] for part in text.split("{")[1:])  # noqa: E731
        assert fields(english) == fields(spanish), english


def test_no_stale_entries_in_the_catalog():
    catalog = i18n.read_po(i18n.CATALOG_DIR / "es.po")
    assert sorted(catalog.keys() - translatable_strings()) == []


@pytest.mark.parametrize(
    ("environment", "language"),
    [
        ({"LANG": "es_ES.UTF-8"}, "es"),
        ({"LANG": "es_MX.UTF-8"}, "es"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "es_ES.UTF-8"}, "en"),
        ({"LANGUAGE": "es:en", "LANG": "C"}, "es"),
        ({"LANG": "C.UTF-8"}, "en"),
    ],
)
def test_language_follows_the_system_locale(monkeypatch, environment, language):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert i18n.system_language() == language
    assert i18n.set_language(None) == language


def test_forced_language_wins_and_tr_translates():
    assert i18n.set_language("es") == "es"
    assert i18n.tr("What is your name?") == "¿Cómo te llamas?"
    assert i18n.set_language("en") == "en"
    assert i18n.tr("What is your name?") == "What is your name?"
    assert i18n.tr("not in the catalog") == "not in the catalog"
