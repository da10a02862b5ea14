"""Translation of every string a person reads: English source strings, Spanish catalog.

``tr("text")`` returns the text in the current language; ``ntr(one, many, count)`` picks
the singular or plural form of a counted message first. The Spanish catalog is the
gettext file ``net/locale/es.po`` (edit it with any PO editor); it is read once, by the
small reader below, because the runtime has only the standard library and no ``msgfmt``.

The language follows the system locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
``LANG``, then the OS default), and ``set_language("es" | "en")`` forces one.

Threading: ``set_language`` is called once at start-up, before other threads exist;
after that the catalog is only read, which is safe from any thread.
"""

from __future__ import annotations

import ast
import locale
import os
from pathlib import Path

LANGUAGES = ("es", "en")
CATALOG_DIR = Path(__file__).with_name("locale")

_catalog: dict[str, str] = {}  # English msgid -> translation in the current language


def read_po(path: Path) -> dict[str, str]:
    """The msgid -> msgstr pairs of a PO file; untranslated and fuzzy entries are left out."""
    entries: dict[str, str] = {}
    msgid: list[str] = []
    msgstr: list[str] = []
    current: list[str] | None = None
    fuzzy = False

    def finish() -> None:
        key, value = "".join(msgid), "".join(msgstr)
        if key and value and not fuzzy:
            entries[key] = value

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("msgid "):
            finish()
            msgid, msgstr, current = [], [], None
            current = msgid
            current.append(ast.literal_eval(line[6:]))
        elif line.startswith("msgstr "):
            current = msgstr
            current.append(ast.literal_eval(line[7:]))
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif not line:
            finish()
            msgid, msgstr, current, fuzzy = [], [], None, False
    finish()
    return entries


def system_language() -> str:
    """'es' when the user's locale is Spanish, else 'en'."""
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return "es" if value.lower().startswith("es") else "en"
    try:
        code = locale.getlocale()[0] or ""
    except ValueError:
        code = ""
    return "es" if code.lower().startswith(("es", "spanish")) else "en"


def set_language(language: str | None = None) -> str:
    """Use ``language`` ('es' or 'en'), or the system's when None; returns the one in use."""
    global _catalog
    chosen = language if language in LANGUAGES else system_language()
    po_file = CATALOG_DIR / f"{chosen}.po"
    _catalog = read_po(po_file) if po_file.exists() else {}
    return chosen


def tr(message: str) -> str:
    """``message`` in the current language (the English text itself when not translated)."""
    return _catalog.get(message, message)


def ntr(one: str, many: str, count: int) -> str:
    """``one`` when ``count`` is 1, else ``many``, in the current language: both forms are
    in the catalog, so "1 persona" never reads "1 personas" (Spanish and English share the
    rule: singular for exactly one)."""
    return tr(one if count == 1 else many)
