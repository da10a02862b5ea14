"""The layers of Charla point one way: every import in the product is read and checked.

``net/`` is flat, in layers (README, "Files"): a module may import only modules of a lower
layer, never one of its own layer or above. The client's modules know nothing of the
server's; ``gui/`` builds on ``net/`` and loads the server only when a room is hosted;
nothing in the product imports the entry scripts, ``bench/`` or ``tests/``; ``tests/``
never imports ``bench/``. Every import counts: at module level, under ``TYPE_CHECKING``
and inside functions.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

#: net module -> its layer; a module imports only from lower layers
NET_LAYERS = {
    "net.protocol": 0,
    "net.i18n": 0,
    "net.events": 0,
    "net.lan": 0,
    "net.text_cuts": 0,
    "net.dns_message": 0,
    "net.network": 1,
    "net.tls": 1,
    "net.connection": 1,
    "net.websocket": 1,
    "net.mdns": 1,
    "net.guard": 1,
    "net.modes": 1,
    "net.outgoing": 1,
    "net.room_words": 1,
    "net.client_protocol": 1,
    "net.history": 2,
    "net.chathistory": 2,
    "net.web_session": 2,
    "net.accounts": 2,
    "net.client": 2,
    "net.state": 3,
    "net.render": 3,
    "net.irc_session": 4,
    "net.plain_session": 4,
    "net.uploads": 4,
    "net.server": 5,
}
#: what the client side (and so the window) may use of net/
CLIENT_SIDE = {"net.client", "net.client_protocol", "net.network", "net.tls"}
SHARED = {"net.protocol", "net.i18n", "net.events", "net.lan", "net.room_words", "net.text_cuts"}
ENTRY_SCRIPTS = {"servidor", "cliente"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file that imports
    imported: str  # dotted module name it imports
    line: int
    where: str  # "module", "TYPE_CHECKING" or "function"

    def __str__(self) -> str:
        path = self.importer.replace(".", "/") + ".py"
        return f"{path}:{self.line} imports {self.imported} ({self.where})"


def imports_in(source: str, importer: str, known_modules: set[str]) -> list[Import]:
    """Every import statement in ``source``, with where it sits.

    ``from net import events`` counts as importing ``net.events`` when that is a module.
    """
    found: list[Import] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "TYPE_CHECKING" if where == "module" else where
            if isinstance(child, ast.Import):
                found.extend(Import(importer, a.name, child.lineno, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # from . import x, from .x import y: relative to the package
                    package = importer.split(".")[: -child.level] or [importer]
                    base = ".".join([*package, base] if base else package)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    name = candidate if candidate in known_modules else base
                    found.append(Import(importer, name, child.lineno, inner))
            visit(child, inner)

    visit(ast.parse(source), "module")
    return found


def product_files() -> dict[str, Path]:
    """Dotted module name -> file, for everything that ships."""
    files = {
        f"{p.parent.name}.{p.stem}": p for d in ("net", "gui") for p in (ROOT / d).glob("*.py")
    }
    files = {name.removesuffix(".__init__"): path for name, path in files.items()}
    files.update({name: ROOT / f"{name}.py" for name in ENTRY_SCRIPTS})
    return files


def all_imports(files: dict[str, Path]) -> list[Import]:
    known = set(files)
    return [
        found
        for name, path in sorted(files.items())
        for found in imports_in(path.read_text(encoding="utf-8"), name, known)
    ]


def top(module: str) -> str:
    return module.split(".")[0]


def forbidden(found: Import) -> str | None:
    """Why an import breaks the layering, or None when it is allowed."""
    importer, imported = found.importer, found.imported
    if top(imported) in ("bench", "tests") or imported in ENTRY_SCRIPTS:
        return "the product never imports the entry scripts, bench/ or tests/"
    if top(imported) == "tkinter" and top(importer) == "net":
        return "net/ never uses Tk"
    if top(importer) == "net" and top(imported) == "gui":
        return "net/ never imports gui/"
    if top(importer) == "net" and top(imported) == "net" and importer != imported:
        if importer in CLIENT_SIDE and imported not in CLIENT_SIDE | SHARED:
            return "the client knows nothing of the server's modules"
        if NET_LAYERS[imported] >= NET_LAYERS[importer]:
            return (
                f"{importer} (layer {NET_LAYERS[importer]}) may import only lower layers, "
                f"not {imported} (layer {NET_LAYERS[imported]})"
            )
    if (top(importer) == "gui" or importer == "cliente") and top(imported) == "net":
        if imported == "net.server" and found.where != "function":
            return "a window loads the server only when it hosts a room (import it there)"
        if imported == "net.mdns" and found.where != "function":
            return "a window loads the room finder only when its dialog lists rooms"
        if imported not in CLIENT_SIDE | SHARED | {"net.server", "net.mdns"}:
            return "gui/ talks to net/ through the client, the events and the shared bottom"
    return None


def test_every_net_module_has_a_layer():
    in_net = {name for name in product_files() if top(name) == "net" and name != "net"}
    assert in_net == set(NET_LAYERS), "give each new net/ module a layer in NET_LAYERS"


def test_every_import_in_the_product_points_down():
    broken = [
        f"{found}: {why}" for found in all_imports(product_files()) if (why := forbidden(found))
    ]
    assert not broken, "\n".join(broken)


def test_tests_never_import_bench():
    files = {f"tests.{p.stem}": p for p in (ROOT / "tests").glob("*.py")}
    broken = [str(found) for found in all_imports(files) if top(found.imported) == "bench"]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("from net.server import ChatServer\n", "module"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import net.server\n",
            "TYPE_CHECKING",
        ),
        ("def host():\n    from net import server\n", "function"),
        ("class A:\n    def m(self):\n        import net.server as s\n", "function"),
        ("from . import server\n", "module"),
        ("def f():\n    from .server import ChatServer\n", "function"),
    ],
)
def test_the_check_sees_every_kind_of_import(source, where):
    [found] = [
        i for i in imports_in(source, "net.connection", {"net.server"}) if i.imported != "typing"
    ]
    assert (found.imported, found.where) == ("net.server", where)
    assert forbidden(found) is not None
