"""Charla window: ``python cliente.py`` asks where to connect (or opens a room here);
``python cliente.py --host H --port P --nick N`` joins a chat at once, and
``python cliente.py --server H1:P1 --server H2:P2 --nick N`` joins a network of several
servers (``ircs://H:P`` or ``H:+P`` for TLS), moving to the next when one is lost.

This entry script reads the command line, sets the language and the log file (the
packaged window has no console), starts the client connection and opens the window.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import tkinter as tk
from tkinter import messagebox

from gui import settings as settings_file
from gui.app import ChatWindow
from gui.connect_dialog import Choice, ConnectDialog
from gui.desktop import enable_sharp_text, localize_dialogs, show_fatal
from gui.icon import set_window_icon
from net.client import ChatClient
from net.i18n import set_language, tr
from net.network import parse_servers
from net.protocol import DEFAULT_CHANNEL, is_valid_channel, is_valid_nick


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Charla: the chat window.")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a server of the network (repeat it for each; ircs://HOST:PORT for TLS)",
    )
    parser.add_argument("--host", help="server address (default: the last one used)")
    parser.add_argument("--port", type=int, help="server port (default: the last one used)")
    parser.add_argument("--nick", help="nickname (default: the last one used)")
    parser.add_argument(
        "--channel", default=DEFAULT_CHANNEL, help="channel to join (default: %(default)s)"
    )
    parser.add_argument("--password", help="the server's password, if it has one")
    parser.add_argument("--lang", choices=("es", "en"), help="language (default: the system's)")
    return parser.parse_args(argv)


def configure_logging() -> None:
    path = settings_file.log_file()
    handlers: list[logging.Handler] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    except OSError:
        handlers.append(logging.StreamHandler())
    handlers[0].setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=handlers)

    def log_thread_error(args: threading.ExceptHookArgs) -> None:
        logging.getLogger("charla").error(
            "unexpected error in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
        )

    threading.excepthook = log_thread_error


def log_path() -> str:
    return str(settings_file.log_file())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    language = set_language(args.lang)
    configure_logging()
    path = settings_file.config_dir() / "settings.json"
    settings = settings_file.load(path)
    servers, wrong = parse_servers(args.server)
    if wrong:
        print(tr("Not a server address: {address}").format(address=wrong[0]), file=sys.stderr)
        return 2
    if servers:  # --server: the network given, --host/--port only when they add to it
        settings.host, settings.port, settings.tls = (
            servers[0].host,
            servers[0].port,
            servers[0].tls,
        )
        settings.other_servers = ", ".join(str(server) for server in servers[1:])
    elif args.host or args.port:  # one server: no network remembered from another time
        settings.tls, settings.other_servers = False, ""
    settings.host = args.host or settings.host
    settings.port = args.port or settings.port
    settings.nick = args.nick or settings.nick
    direct = bool(args.host or args.server)  # straight into the chat, no dialog
    enable_sharp_text()
    try:
        root = tk.Tk(className="charla")  # WM_CLASS Charla: desktops group our windows
    except tk.TclError as error:  # no display: there is no window to show a dialog in
        show_fatal(
            tr("Charla cannot open its window ({error}); details are in {path}.").format(
                error=error, path=log_path()
            ),
            dialog=False,
        )
        return 1
    root.title("Charla")
    set_window_icon(root)
    localize_dialogs(root, language)

    def on_unexpected_error(*exc_info: object) -> None:
        logging.getLogger("charla").error("unexpected error", exc_info=exc_info)  # type: ignore[arg-type]
        messagebox.showerror(
            "Charla",
            tr("Something went wrong; details are in {path}.").format(path=log_path()),
            parent=root,
        )

    root.report_callback_exception = on_unexpected_error

    def open_window(choice: Choice) -> None:
        settings.host, settings.port, settings.nick = choice.host, choice.port, choice.nick
        if not choice.hosted:
            settings.tls = choice.tls
            settings.other_servers = ", ".join(str(server) for server in choice.alternates)
        client = ChatClient(
            choice.host,
            choice.port,
            choice.nick,
            [args.channel],
            queue.Queue(),
            tls=choice.tls,
            alternates=choice.alternates,
            trusted=settings.trusted_certificates,
            password=choice.password or args.password,
            oper=choice.oper,
        )
        window = ChatWindow(
            root,
            client.start(),
            settings,
            args.channel,
            hosted=choice.hosted,
            asked_port=choice.asked_port,
        )
        if not direct:  # opened from the dialog: a wrong password goes back to it
            window.back_to_dialog = show_dialog

    def show_dialog(problem: str = "") -> None:
        dialog = ConnectDialog(
            root, settings, lambda choice: (dialog.destroy(), open_window(choice))
        )
        dialog.pack(fill="both", expand=True)
        if problem:
            dialog.show_error(problem)

    if not direct:
        show_dialog()
    else:
        problem = None
        if not is_valid_nick(settings.nick):
            problem = tr("“{nick}” cannot be a nickname: use letters, digits and - _, up to 30.")
        elif not is_valid_channel(args.channel):
            problem = tr("The channel must start with # and have no spaces.")
        elif not 0 < settings.port < 65536:
            problem = tr("The port must be a number between 1 and 65535.")
        if problem:
            root.withdraw()
            messagebox.showerror("Charla", problem.format(nick=settings.nick), parent=root)
            root.destroy()
            return 2
        others, _wrong = parse_servers([settings.other_servers])
        open_window(
            Choice(
                settings.host,
                settings.port,
                settings.nick,
                tls=settings.tls,
                alternates=tuple(others),
            )
        )
    root.mainloop()
    settings_file.save(settings, path)
    return 0


def run() -> int:
    """``main``, with any error it did not expect shown and logged: the packaged window
    has no console, so a traceback on standard error would reach nobody."""
    try:
        return main()
    except Exception:
        logging.getLogger("charla").exception("Charla stopped at start-up")
        show_fatal(tr("Something went wrong; details are in {path}.").format(path=log_path()))
        return 1


if __name__ == "__main__":
    sys.exit(run())
