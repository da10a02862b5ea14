"""Every string a person reads has its Spanish translation, and the language is chosen right."""

from __future__ import annotations

import ast
import re
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


def counted_messages() -> tuple[set[str], set[tuple[str, str]]]:
    """Every ``tr(...)`` literal holding ``{count}``, and every ``ntr(one, many, ...)`` pair."""
    plain, pairs = set(), set()
    for path in [ROOT / "servidor.py", ROOT / "cliente.py", *ROOT.glob("net/*.py")]:
        plain.update(s for s in translatable_strings_in(path) if "{count}" in s)
    for path in [ROOT / "servidor.py", *ROOT.glob("net/*.py"), *ROOT.glob("gui/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ntr":
                pairs.add((node.args[0].value, node.args[1].value))
    for path in ROOT.glob("gui/*.py"):
        plain.update(s for s in translatable_strings_in(path) if "{count}" in s)
    return plain, pairs


def translatable_strings_in(path: Path) -> set[str]:
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "tr"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


#: counted messages that go through tr(), not ntr(), and why they never read "1 ...s"
NEVER_ONE = {
    "{count} hours": "gui/classroom.py says '1 hour' apart",
    "{count} minutes": "gui/classroom.py says '1 minute' apart",
    "{count} messages waiting to go out": "gui/app.py says '1 message ...' apart",
    "{index} of {count} results": "gui/search.py says '1 result' apart",
    "History of {channel}: the last {count} messages": "net/render.py: '... the last message'",
    "The last {count} messages:": "net/render.py says 'The last message:' apart",
    "Send these {count} lines?": "asked for two lines or more only",
    "That message is too long to send ({count} characters; at most {most}).": "count > most",
    "The list is full ({count} entries): remove one first": "MAX_LIST_ENTRIES, a constant",
    "a key has 1 to {count} characters, without spaces or commas": "KEYLEN, a constant",
    " ({count} such lines about this address in {seconds} s; the others not logged)": (
        "net/connection.py: a power of ten, 10 or more"
    ),
}


def render(text: str, count: int) -> str:
    fields = {part.split("}")[0] for part in text.split("{")[1:]}
    return text.format(**{f: count if f == "count" else "X" for f in fields})


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_counted_message_reads_right_at_one_and_at_two(language):
    """No "1 personas", "1 conectados", "Anunciado a 1 personas": a counted message says
    its singular through ntr(), or the caller says the singular apart (NEVER_ONE)."""
    i18n.set_language(language)
    plain, pairs = counted_messages()
    assert len(pairs) >= 5
    plural_at_one = re.compile(r"\b1 \w*s\b")
    wrong = [
        render(i18n.tr(one), 1)
        for one, _many in pairs
        if plural_at_one.search(render(i18n.tr(one), 1))
    ]
    wrong += [
        render(i18n.tr(text), 1)
        for text in plain - NEVER_ONE.keys()
        if plural_at_one.search(render(i18n.tr(text), 1))
    ]
    assert wrong == []
    for _one, many in pairs:
        assert "2" in render(i18n.tr(many), 2)
    assert NEVER_ONE.keys() <= plain  # the list names only messages that exist


#: where a string is put before someone's eyes: widget texts, dialogs, the conversation,
#: the status line, the server's console
SHOWN_BY_KEYWORD = {"text", "label", "title", "message", "detail"}
SHOWN_BY_CALL = {
    "add_system", "showerror", "showinfo", "showwarning", "askyesno", "askokcancel",
    "write", "title", "show_error",
}  # fmt: skip
NOT_WORDS = {"Charla"}  # the program's name is the same in every language


def untranslated_shown_strings() -> list[str]:
    """Every literal with letters that reaches one of those places outside tr()/ntr()."""

    def bare(node: ast.AST):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("tr", "ntr"):
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value.strip(" ()·:")
            if any(c.isalpha() for c in words) and words not in NOT_WORDS:
                yield node
            return
        for child in ast.iter_child_nodes(node):
            yield from bare(child)

    found = []
    for path in [ROOT / "servidor.py", ROOT / "cliente.py", *ROOT.glob("gui/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            shown = [k.value for k in node.keywords if k.arg in SHOWN_BY_KEYWORD]
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in SHOWN_BY_CALL:
                shown += node.args
            found += [
                f"{path.name}:{s.lineno} {s.value!r}"
                for value in shown
                for s in bare(value)
                if not s.value.startswith("#")  # a colour
            ]
    return found


def test_no_string_reaches_the_screen_without_going_through_the_catalog():
    """A label, menu entry, dialog or conversation line written as a bare English literal
    would stay English under --lang es: every one goes through tr() (and the test above
    checks that tr()'s strings have their Spanish)."""
    assert untranslated_shown_strings() == []
