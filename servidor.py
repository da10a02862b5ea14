"""Charla server: ``python servidor.py`` starts the class chat and shows the address to share.

This entry script reads the command line, starts ``net.server.ChatServer`` and, when
standard input is a terminal, runs the operator console: a line typed there goes to
everyone as an announcement from the server, and ``/usuarios``, ``/expulsar``,
``/profesor``, ``/salir`` (``/users``, ``/kick``, ``/teacher``, ``/quit``) manage the room.
Ctrl+C or SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from net.history import default_database_path
from net.i18n import ntr, set_language, tr
from net.lan import shareable_endpoints
from net.protocol import DEFAULT_PORT, is_valid_channel, is_valid_nick, normal_nick, printable
from net.server import ChatServer, ServerConfig, TeacherNamed

#: what ``--web-allow-origin`` takes: a browser's ``Origin`` (RFC 6454), no path
WEB_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?"
)

#: where the password may come from without showing in the process list
PASSWORD_VARIABLE = "CHARLA_PASSWORD"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(
        description="Charla: an IRC-compatible group chat server for a classroom or office LAN."
    )
    parser.add_argument("--host", help="address to listen on (default: every interface)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (default: %(default)s)"
    )
    parser.add_argument(
        "--server-name",
        default=defaults.server_name,
        help="the server's own name in IRC replies (default: %(default)s)",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--password",
        help=f"password clients must give to join (others can see it in the process list: "
        f"prefer --password-file or the {PASSWORD_VARIABLE} environment variable)",
    )
    secret.add_argument(
        "--password-file", metavar="FILE", help="read the password from the first line of FILE"
    )
    parser.add_argument(
        "--channel", default=defaults.channel, help="default channel (default: %(default)s)"
    )
    parser.add_argument("--motd", help="message of the day: the text, or @FILE to read it from")
    parser.add_argument(
        "--max-clients",
        type=int,
        default=defaults.max_clients,
        help="connections accepted at once (default: %(default)s)",
    )
    parser.add_argument(
        "--max-per-ip",
        type=int,
        default=defaults.max_per_ip,
        help="connections from one address, 0 for no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--max-unregistered-per-ip",
        type=int,
        default=defaults.max_unregistered_per_ip,
        help="connections from one address still signing in, 0 for no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--flood-burst",
        type=int,
        default=defaults.flood_burst,
        help="lines a client may send at once (default: %(default)s)",
    )
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=defaults.flood_rate,
        help="lines per second after that burst (default: %(default)s)",
    )
    parser.add_argument(
        "--flood-max-queued",
        type=int,
        default=defaults.flood_max_queued,
        help="lines held back before a flooder is disconnected (default: %(default)s)",
    )
    parser.add_argument(
        "--no-flood-control", action="store_true", help="process every line at once (benchmarks)"
    )
    parser.add_argument(
        "--history-db",
        default=str(default_database_path()),
        help="SQLite file that keeps the chat across restarts (default: %(default)s)",
    )
    parser.add_argument(
        "--history-size",
        type=int,
        default=defaults.history_size,
        help="messages kept per channel (default: %(default)s)",
    )
    parser.add_argument(
        "--history-replay",
        type=int,
        default=defaults.history_replay,
        help="messages shown to whoever joins a channel (default: %(default)s)",
    )
    parser.add_argument(
        "--history-memory",
        type=float,
        default=defaults.history_memory / 2**20,
        metavar="MiB",
        help="memory all kept messages may take; past it the biggest channels forget their "
        "oldest (default: %(default)g)",
    )
    parser.add_argument(
        "--history-expiry",
        type=float,
        default=defaults.history_expiry / 60,
        metavar="MINUTES",
        help="forget the history of a channel (not the default one) empty for this long, "
        "0 to keep it (default: %(default)g)",
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="keep no messages at all (accounts, then, only until the server stops)",
    )
    parser.add_argument(
        "--oper",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="who may become a teacher (an IRC operator) with OPER NAME PASSWORD; repeatable",
    )
    parser.add_argument(
        "--teacher",
        action="append",
        default=[],
        metavar="ACCOUNT",
        help="this account is a teacher (repeatable); /profesor NICK at the console names "
        "more, kept in the history database",
    )
    parser.add_argument(
        "--room-name",
        metavar="NAME",
        help='the name the room is announced by on the local network (default: "Sala de" '
        "and this computer's name)",
    )
    parser.add_argument(
        "--no-announce",
        action="store_true",
        help="do not announce the room on the local network (multicast DNS, which the "
        "windows use to list the rooms; never done when --host is a loopback address)",
    )
    parser.add_argument(
        "--no-web",
        action="store_true",
        help="no web chat on the port: it speaks IRC and plain text only (a browser gets a "
        "short 404)",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        metavar="N",
        help="also serve the web chat on port N, which takes browsers only (with --no-web: "
        "only there)",
    )
    parser.add_argument(
        "--web-allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page elsewhere (scheme://host[:port], a web IRC client such as gamja or "
        "Kiwi IRC) whose pages may connect over WebSocket; repeatable",
    )
    parser.add_argument(
        "--max-upload",
        type=float,
        default=defaults.max_upload / 2**20,
        metavar="MB",
        help="the largest picture or PDF one may send (default: %(default)g)",
    )
    parser.add_argument(
        "--no-uploads",
        action="store_true",
        help="no pictures or PDFs (POST /upload is refused, GET /f/… is 404)",
    )
    parser.add_argument("--lang", choices=("es", "en"), help="language (default: the system's)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="(default: %(default)s)",
    )
    parser.add_argument("--log-file", help="also write the log to this file")
    args = parser.parse_args(argv)
    set_language(args.lang)  # first, so that the complaints below are in that language
    if not 0 <= args.port <= 65535:
        parser.error(tr("the port must be between 0 and 65535"))
    if args.web_port is not None and (
        not 0 <= args.web_port <= 65535 or (args.web_port == args.port and args.port != 0)
    ):
        parser.error(tr("--web-port must be between 0 and 65535, and not --port"))
    for origin in args.web_allow_origin:
        if not WEB_ORIGIN.fullmatch(origin):
            parser.error(
                tr("--web-allow-origin {origin}: give scheme://host[:port]").format(origin=origin)
            )
    if not is_valid_channel(args.channel):
        parser.error(tr("the channel must start with # and have no spaces or commas"))
    if not 1 <= args.history_memory <= 2**20:  # also refuses nan and inf
        parser.error(tr("--history-memory must be between 1 and 1048576 (MiB)"))
    if not 0.001 <= args.max_upload <= 1024:  # also refuses nan and inf
        parser.error(tr("--max-upload must be between 0.001 and 1024 (MB)"))
    if not 0 <= args.history_expiry <= 10**6:
        parser.error(tr("--history-expiry must be between 0 and 1000000 (minutes)"))
    for oper in args.oper:
        name, _, secret = oper.partition(":")
        if not name or not secret or " " in name:
            parser.error(tr("--oper takes NAME:PASSWORD (a name without spaces, a password)"))
    args.teacher = [normal_nick(name) for name in args.teacher]
    for name in args.teacher:
        if not is_valid_nick(name):
            parser.error(
                tr("--teacher {name}: an account's name is a valid nick").format(name=name)
            )
    return args


def password_from(args: argparse.Namespace) -> str | None:
    """The password: ``--password``, else the first line of ``--password-file``, else the
    environment variable; None for none. Raises OSError if the file cannot be read."""
    if args.password_file:
        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        return lines[0] if lines and lines[0] else None
    return args.password or os.environ.get(PASSWORD_VARIABLE) or None


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    motd = args.motd
    if motd and motd.startswith("@"):
        motd = Path(motd[1:]).read_text(encoding="utf-8")
    return ServerConfig(
        host=args.host,
        port=args.port,
        server_name=args.server_name,
        password=password_from(args),
        channel=args.channel,
        motd=motd,
        max_clients=args.max_clients,
        max_per_ip=args.max_per_ip,
        max_unregistered_per_ip=args.max_unregistered_per_ip,
        flood_control=not args.no_flood_control,
        flood_burst=args.flood_burst,
        flood_rate=args.flood_rate,
        flood_max_queued=args.flood_max_queued,
        history_size=0 if args.no_history else args.history_size,
        history_replay=args.history_replay,
        history_db=None if args.no_history else args.history_db,
        history_memory=int(args.history_memory * 2**20),
        history_expiry=args.history_expiry * 60,
        opers=dict(oper.partition(":")[::2] for oper in args.oper),
        teachers=tuple(args.teacher),
        web=not args.no_web,
        web_port=args.web_port,
        announce=not args.no_announce,
        room_name=args.room_name,
        web_allowed_origins=tuple(args.web_allow_origin),
        uploads=not args.no_uploads,
        max_upload=int(args.max_upload * 2**20),
    )


class PrintableFormatter(logging.Formatter):
    """Log lines in which nothing a client sent (a QUIT reason, a name) can act on the
    operator's terminal or forge a line: controls are made visible. A traceback after the
    line keeps its own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def configure_logging(level: str, log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers[0].setFormatter(PrintableFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            PrintableFormatter("%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s")
        )
        handlers.append(file_handler)
    logging.basicConfig(level=level.upper(), handlers=handlers)


class OperatorConsole:
    """What the person at the server's terminal types: announcements and a few commands."""

    def __init__(self, server: ChatServer, write: Callable[[str], None]) -> None:
        self.server = server
        self.write = write

    def handle(self, line: str) -> bool:
        """Carry out one typed line; False when the operator asked to stop the server."""
        line = line.strip()
        word, _, rest = line.partition(" ")
        command = word.lower()
        if not line:
            return True
        if command in ("/salir", "/quit"):
            return False
        if command in ("/usuarios", "/users"):
            people = self.server.user_list()
            self.write(
                ntr(
                    "{count} person connected: {people}",
                    "{count} people connected: {people}",
                    len(people),
                ).format(
                    count=len(people), people=", ".join(f"{nick} ({ip})" for nick, ip in people)
                )
            )
            for line in web_lines(self.server.web_addresses()):
                self.write(line)
        elif command in ("/expulsar", "/kick"):
            nick, _, reason = rest.strip().partition(" ")
            if not nick:
                self.write(tr("Usage: /expulsar NICK [reason]"))
            elif self.server.kick(nick, reason.strip() or tr("no reason given")):
                self.write(tr("{nick} was removed.").format(nick=nick))
            else:
                self.write(tr("Nobody called {nick} is connected.").format(nick=nick))
        elif command in ("/profesor", "/teacher"):
            self._teacher(rest.strip())
        elif command in ("/ayuda", "/help"):
            self.write(
                tr(
                    "Type a line to announce it to everyone. Commands:\n"
                    "  /usuarios (/users)             who is connected\n"
                    "  /expulsar NICK [reason] (/kick) remove someone\n"
                    "  /profesor [NICK] (/teacher)    make someone a teacher, or list them\n"
                    "  /salir (/quit)                 stop the server"
                )
            )
        elif line.startswith("/") and not line.startswith("//"):
            self.write(tr("Unknown command {command}. Type /ayuda (/help).").format(command=word))
        else:
            count = self.server.announce(line[1:] if line.startswith("//") else line)
            self.write(
                ntr("Announced to {count} person.", "Announced to {count} people.", count).format(
                    count=count
                )
            )
        return True

    def _teacher(self, nick: str) -> None:
        """``/profesor NICK``: the account NICK is logged in to becomes a teacher's, for
        good; ``/profesor`` alone lists the teachers."""
        if not nick:
            teachers = self.server.teachers()
            if teachers:
                self.write(tr("Teachers: {names}").format(names=", ".join(teachers)))
            else:
                self.write(tr("No teachers yet. Usage: /profesor NICK"))
            return
        done, account = self.server.name_teacher(nick)
        if done is TeacherNamed.DONE:
            self.write(
                tr("{nick} (account {account}) is a teacher.").format(nick=nick, account=account)
            )
        elif done is TeacherNamed.NOBODY:
            self.write(tr("Nobody called {nick} is connected.").format(nick=nick))
        elif done is TeacherNamed.NO_ACCOUNT:
            self.write(
                tr(
                    "{nick} is not logged in to an account: they must register their name "
                    "first (in the Charla window, or REGISTER from an IRC client)."
                ).format(nick=nick)
            )
        else:
            self.write(tr("{nick} could not be made a teacher (see the log).").format(nick=nick))


def run_console(console: OperatorConsole, stop: threading.Event) -> None:
    for line in sys.stdin:
        if not console.handle(line):
            break
    stop.set()


def address_lines(host: str | None, port: int) -> list[str]:
    """What to tell the operator about where people can connect (answers "which IP?")."""
    if host and ipaddress_is_loopback(host):
        return [tr("Only this computer can connect: {address}").format(address=f"{host}:{port}")]
    endpoints = shareable_endpoints(host, port)
    lines = []
    if endpoints:
        lines.append(
            tr("Tell the others to connect to: {addresses}").format(addresses="  ".join(endpoints))
        )
    else:
        lines.append(tr("No network found: only this computer can connect."))
    if host in (None, "", "0.0.0.0", "::"):
        lines.append(tr("On this computer: localhost:{port}").format(port=port))
    return lines


def web_lines(addresses: list[str]) -> list[str]:
    """What to tell the operator about the web chat: the address to open on a phone."""
    if not addresses:
        return []
    return [tr("On a phone: {addresses}").format(addresses="  ".join(addresses))]


def ipaddress_is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_file)
    try:
        config = config_from_args(args)
    except OSError as exc:
        print(
            tr("Cannot read {file}: {error}").format(file=exc.filename, error=exc.strerror or exc),
            file=sys.stderr,
        )
        return 1
    # before the "listening" line: whoever reads it may stop us at once, and cleanly
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = ChatServer(config)
    try:
        server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = tr(
                "Port {port} is already in use (is another server running?). "
                "Choose another with --port."
            ).format(port=config.port)
        else:
            message = tr("Cannot listen on {host} port {port}: {error}").format(
                host=config.host or "*", port=config.port, error=exc.strerror or exc
            )
        print(message, file=sys.stderr)
        return 1
    print(tr("Charla is listening on port {port}.").format(port=server.port), flush=True)
    for line in address_lines(config.host, server.port) + web_lines(server.web_addresses()):
        print(line, flush=True)

    if sys.stdin is not None and sys.stdin.isatty():
        print(tr("Type a line to announce it to everyone; /ayuda lists the commands."), flush=True)
        console = OperatorConsole(server, lambda text: print(text, flush=True))
        threading.Thread(
            target=run_console, args=(console, stop), name="console", daemon=True
        ).start()
    while not stop.wait(1.0):
        pass
    server.shutdown(tr("The server is shutting down. Goodbye!"))
    print(tr("Charla stopped."), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
