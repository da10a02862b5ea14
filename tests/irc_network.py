"""Real IRC networks for the tests, and to try Charla on one: linked servers on loopback.

A class that outgrows one Charla server moves to an IRC network (docs/network.md). This
module starts one on this computer: ``servers`` (2 or more) Debian ``ngircd`` or
``inspircd`` servers, each linked to the first, listening on 127.0.0.1 only, each in a
temporary folder of its own, built from the configuration files in ``docs/network/``
(the same files a school reads: what the documentation shows is what the tests run).
With ``tls`` each also has a TLS port, with a self-signed certificate made for the run
(a school's own server, as a client sees it). InspIRCd also keeps channel history
(``chanhistory``) and takes browsers (``websocket``).

``running_network(servers=2, kind="ngircd", tls=False)`` yields an ``IrcNetwork`` once
every server is linked to the first (the first server's own words say so: no fixed
wait), and stops them all on exit, whatever happened. ``NetworkServer.kill()`` ends one
at once (SIGKILL: the power cut a window must survive), ``restart()`` brings it back on
the same ports. As a command, ``python -m tests.irc_network [ngircd|inspircd] [--tls]``
starts a two-server network, prints how to join it, and runs until Ctrl+C.

Threading: each server's output is read on a thread of its own (``ServerProcess``);
everything else runs on the caller's thread. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository root, for tests.support
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import (
    LOOPBACK,
    ROOT,
    ServerProcess,
    certificate_fingerprint,
    free_port,
    make_certificate,
    nobody,
)

TEMPLATES = ROOT / "docs" / "network"
KINDS = ("ngircd", "inspircd")
#: the password each pair of linked servers shares (a school picks a long random one)
LINK_PASSWORD = "charla-link-demo"
#: the services' server name (Atheme: accounts, SASL), linked to the first InspIRCd
SERVICES_NAME = "services.charla.test"
#: how long a server may take to start and link, at most
START_TIMEOUT = 20.0


@dataclass
class NetworkServer:
    """One server of the network: its name, its ports, its process."""

    name: str
    port: int  # plain-text IRC
    tls_port: int | None  # IRC over TLS, when the network has TLS
    websocket_port: int | None  # IRC over WebSocket (InspIRCd)
    process: ServerProcess
    command: tuple[str, ...]  # how it is started, its configuration file named there
    workdir: Path

    @property
    def address(self) -> str:
        """How Charla is told to join it: ``127.0.0.1:6667`` or ``ircs://127.0.0.1:6697``."""
        if self.tls_port is not None:
            return f"ircs://{LOOPBACK}:{self.tls_port}"
        return f"{LOOPBACK}:{self.port}"

    def kill(self) -> None:
        """Gone at once, as in a power cut: no goodbye to anyone."""
        if self.process.process.poll() is None:
            os.kill(self.process.process.pid, signal.SIGKILL)
        self.process.close()

    def restart(self) -> None:
        """Start it again on the same ports (after ``kill`` or ``stop``); it links to the
        first server by itself (``IrcNetwork.wait_linked`` waits for that)."""
        self.process.close()
        self.process = _start(self.command, self.workdir, self.port)

    def stop(self) -> None:
        self.process.close()


@dataclass
class IrcNetwork:
    kind: str
    servers: list[NetworkServer]
    certificate: Path | None  # the servers' certificate (PEM), with tls
    fingerprint: str  # its SHA-256, as the window shows it ("" without tls)

    def wait_linked(self, index: int) -> None:
        """Until the first server says server ``index`` (started again) is linked."""
        name = self.servers[index].name
        said = (
            rf'Synchronization with "{re.escape(name)}" done'
            if self.kind == "ngircd"
            else rf"Finished bursting to \x02?{re.escape(name)}"
        )
        self.servers[0].process.expect(said, START_TIMEOUT)

    def client_arguments(self) -> list[str]:
        """``--server A --server B`` for ``cliente.py``."""
        return [word for server in self.servers for word in ("--server", server.address)]


@dataclass(frozen=True)
class _Plan:
    """What the configuration of one server of the network needs to know."""

    index: int
    names: list[str]
    ports: list[int]
    link_ports: list[int]  # InspIRCd links on a port of their own; ngIRCd on the client one
    workdir: Path
    tls: tuple[Path, Path, Path, int] | None  # certificate, key, DH parameters, TLS port
    websocket_port: int | None
    services: bool = False  # Atheme links to the first server

    @property
    def peers(self) -> list[int]:
        """The first server links to every other; the others to the first, and they make
        the connection (so one that restarts is linked at once)."""
        return list(range(1, len(self.names))) if self.index == 0 else [0]


def _fill(kind: str, template: str, **fields: object) -> str:
    return (TEMPLATES / kind / template).read_text(encoding="utf-8").format(**fields)


def ngircd_configuration(plan: _Plan) -> str:
    links = "\n".join(
        _fill(
            "ngircd",
            "link.conf",
            peer_name=plan.names[peer],
            peer_host=LOOPBACK,
            peer_port=plan.ports[peer],
            password=LINK_PASSWORD,
            passive="yes" if plan.index == 0 else "no",
        )
        for peer in plan.peers
    )
    run_as = ""
    if os.geteuid() == 0:  # ngIRCd will not keep uid 0: it becomes "nobody"
        run_as = f"\tServerUID = nobody\n\tServerGID = {nobody()[1]}"
    secure = ""
    if plan.tls is not None:
        certificate, key, dh_file, tls_port = plan.tls
        secure = _fill(
            "ngircd",
            "tls.conf",
            certificate=certificate,
            key=key,
            dh_file=dh_file,
            tls_port=tls_port,
        )
    name = plan.names[plan.index]
    return _fill(
        "ngircd",
        "ngircd.conf",
        name=name,
        listen=LOOPBACK,
        port=plan.ports[plan.index],
        motd=f"Charla network test, {name}",
        workdir=plan.workdir,
        run_as=run_as,
        tls=secure,
        links=links,
    )


def inspircd_configuration(plan: _Plan) -> str:
    links = "\n".join(
        _fill(
            "inspircd",
            "link.conf",
            peer_name=plan.names[peer],
            peer_host=LOOPBACK,
            peer_link_port=plan.link_ports[peer],
            password=LINK_PASSWORD,
            autoconnect=(
                "" if plan.index == 0 else f'<autoconnect period="1s" server="{plan.names[peer]}">'
            ),
        )
        for peer in plan.peers
    )
    if plan.services and plan.index == 0:  # Atheme dials in: it needs no autoconnect
        links += "\n" + _fill(
            "inspircd",
            "link.conf",
            peer_name=SERVICES_NAME,
            peer_host=LOOPBACK,
            peer_link_port=plan.link_ports[0],
            password=LINK_PASSWORD,
            autoconnect="",
        )
    secure = ""
    if plan.tls is not None:
        certificate, key, dh_file, tls_port = plan.tls
        secure = _fill(
            "inspircd",
            "tls.conf",
            listen=LOOPBACK,
            certificate=certificate,
            key=key,
            dh_file=dh_file,
            tls_port=tls_port,
        )
    name = plan.names[plan.index]
    (plan.workdir / "motd.txt").write_text(f"Charla network test, {name}\n", encoding="utf-8")
    return _fill(
        "inspircd",
        "inspircd.conf",
        name=name,
        sid=f"{plan.index + 1}CH",
        listen=LOOPBACK,
        port=plan.ports[plan.index],
        link_port=plan.link_ports[plan.index],
        websocket_port=plan.websocket_port,
        password=LINK_PASSWORD,
        workdir=plan.workdir,
        log="/dev/stdout",  # read by ServerProcess: how we know the links are up
        dns_server=LOOPBACK,  # nothing leaves this computer
        services_name=SERVICES_NAME,
        links=links,
        tls=secure,
    )


#: Debian's example configuration of Atheme, which the demo's is made from
ATHEME_EXAMPLE = Path("/usr/share/doc/atheme-services/examples/atheme.conf.example")


def atheme_configuration(hub: str, link_port: int) -> str:
    """Debian's example ``atheme.conf``, changed as docs/network.md says: InspIRCd's
    protocol, our names, its link to the first server."""
    text = ATHEME_EXAMPLE.read_text(encoding="utf-8")
    text = text.replace(
        '#loadmodule "modules/protocol/charybdis";', 'loadmodule "modules/protocol/inspircd";'
    )
    text = re.sub(r'uplink "irc6\.example\.net" \{.*?\n\};', "", text, flags=re.S)
    uplink = (
        f'uplink "{hub}" {{\n\thost = "{LOOPBACK}";\n\tpassword = "{LINK_PASSWORD}";\n'
        f"\tport = {link_port};\n}};"
    )
    text = re.sub(r'uplink "irc\.example\.net" \{.*?\n\};', lambda _m: uplink, text, flags=re.S)
    text = text.replace('name = "services.int";', f'name = "{SERVICES_NAME}";')
    text = text.replace('netname = "misconfigured network";', 'netname = "Charla";')
    return text.replace('numeric = "00A";', 'numeric = "9SV";')


def _start_atheme(network: IrcNetwork, workdir: Path, link_port: int) -> ServerProcess:
    """Atheme on the first server, once linked (its burst to it finished)."""
    binary = shutil.which("atheme-services")
    if binary is None:
        raise FileNotFoundError("atheme-services not found (apt-get install -y atheme-services)")
    workdir.mkdir()
    conf = workdir / "atheme.conf"
    conf.write_text(atheme_configuration(network.servers[0].name, link_port), encoding="utf-8")
    process = ServerProcess(
        *("-n", "-c", str(conf), "-D", str(workdir), "-l", str(workdir / "atheme.log")),
        *("-p", str(workdir / "atheme.pid")),
        data_home=workdir,
        program=(binary,),
    )
    hub = network.servers[0].process
    try:
        hub.expect(rf"Finished bursting to \x02?{re.escape(SERVICES_NAME)}", START_TIMEOUT)
    except AssertionError:
        process.close()
        raise
    return process


def _program(kind: str) -> str:
    binary = shutil.which(kind) or f"/usr/sbin/{kind}"
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"{kind} not found (apt-get install -y {kind})")
    return binary


def _command(kind: str, conf: Path) -> tuple[str, ...]:
    if kind == "ngircd":
        return (_program(kind), "-n", "-f", str(conf))
    return (_program(kind), "--nofork", "--nopid", "--runasroot", "--config", str(conf))


def _start(command: tuple[str, ...], workdir: Path, port: int) -> ServerProcess:
    """One server started, once it listens on ``port``. No core file: InspIRCd sometimes
    crashes as it stops, and raises its own soft limit to dump one into its working folder
    (the repository), so the hard limit goes to 0 (for this process and its children)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    process = ServerProcess(*command[1:], data_home=workdir, program=command[:1])
    listening = (
        rf"Now listening on \[{LOOPBACK}\]:{port} "
        if "ngircd" in command[0]
        else rf"(?i)listening on {LOOPBACK}:{port}|InspIRCd is now running"
    )
    try:
        process.expect(listening, START_TIMEOUT)
    except AssertionError:
        process.close()
        raise
    return process


def _check_ngircd(conf: Path) -> None:
    check = subprocess.run(
        [_program("ngircd"), "--configtest", "-f", str(conf)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if check.returncode or "Ok, dump of your server configuration" not in check.stdout:
        raise RuntimeError(f"ngircd --configtest failed:\n{check.stdout}{check.stderr}")


def _tls_files(top: Path) -> tuple[Path, Path, Path, str]:
    """A self-signed certificate for 127.0.0.1, its key, the standard DH group (RFC 7919,
    so no server spends seconds making one), readable by a server running as nobody."""
    folder = top / "certificate"
    certificate, key = make_certificate(folder, LOOPBACK)
    dh_file = folder / "dh.pem"
    subprocess.run(
        [
            *("openssl", "genpkey", "-genparam", "-algorithm", "DH"),
            *("-pkeyopt", "dh_param:ffdhe2048", "-out", str(dh_file)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    folder.chmod(0o755)
    for path in (key, dh_file):
        path.chmod(0o644)  # a demo's key, made for this run and gone after it
    return certificate, key, dh_file, certificate_fingerprint(certificate)


@contextlib.contextmanager
def running_network(
    servers: int = 2, *, kind: str = "ngircd", tls: bool = False, services: bool = False
) -> Iterator[IrcNetwork]:
    """A network of ``servers`` linked ``kind`` servers on 127.0.0.1 (see the module
    docstring); with ``services`` (InspIRCd only), Debian's Atheme linked to the first
    (accounts: ``REGISTER`` with NickServ, SASL PLAIN); yielded once all are linked, all
    stopped on exit."""
    if servers < 2:
        raise ValueError("a network has at least two servers")
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}")
    names = [f"irc{number}.charla.test" for number in range(1, servers + 1)]
    ports = [free_port() for _ in names]
    link_ports = [free_port() for _ in names] if kind == "inspircd" else ports
    if services and kind != "inspircd":
        raise ValueError("the demo's services link to InspIRCd")
    started: list[NetworkServer] = []
    helpers: list[ServerProcess] = []  # the services
    with tempfile.TemporaryDirectory(prefix="charla-network-") as tmp:
        top = Path(tmp)
        top.chmod(0o755)  # ngIRCd runs as "nobody" and reads its files here
        certificate = None
        fingerprint = ""
        secrets: tuple[Path, Path, Path] | None = None
        if tls:
            certificate, key, dh_file, fingerprint = _tls_files(top)
            secrets = (certificate, key, dh_file)
        network = IrcNetwork(kind, started, certificate, fingerprint)
        try:
            for index, name in enumerate(names):
                workdir = top / name
                for folder in (workdir / "conf.d", workdir / "run"):
                    folder.mkdir(parents=True)
                if os.geteuid() == 0 and kind == "ngircd":  # its PID file, written as nobody
                    os.chown(workdir / "run", *nobody())
                workdir.chmod(0o755)
                plan = _Plan(
                    index,
                    names,
                    ports,
                    link_ports,
                    workdir,
                    (*secrets, free_port()) if secrets else None,
                    free_port() if kind == "inspircd" else None,
                    services,
                )
                conf = workdir / f"{kind}.conf"
                if kind == "ngircd":
                    conf.write_text(ngircd_configuration(plan), encoding="utf-8")
                    _check_ngircd(conf)
                else:
                    conf.write_text(inspircd_configuration(plan), encoding="utf-8")
                command = _command(kind, conf)
                process = _start(command, workdir, ports[index])
                tls_port = plan.tls[3] if plan.tls else None
                started.append(
                    NetworkServer(
                        name, ports[index], tls_port, plan.websocket_port, process, command, workdir
                    )
                )
            for index in range(1, len(names)):  # the first server says each link is up
                network.wait_linked(index)
            if services:
                helpers.append(_start_atheme(network, top / "services", link_ports[0]))
            yield network
        finally:
            for helper in helpers:
                helper.close()
            for server in started:
                server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="A network of linked IRC servers on loopback.")
    parser.add_argument("kind", nargs="?", choices=KINDS, default="ngircd")
    parser.add_argument("--servers", type=int, default=2, help="how many (default 2)")
    parser.add_argument("--tls", action="store_true", help="TLS ports too, self-signed")
    parser.add_argument("--services", action="store_true", help="Atheme too (InspIRCd)")
    args = parser.parse_args()
    with running_network(
        args.servers, kind=args.kind, tls=args.tls, services=args.services
    ) as network:
        for server in network.servers:
            extra = f" (WebSocket port {server.websocket_port})" if server.websocket_port else ""
            print(f"{server.name}: {server.address}{extra}")
        if network.fingerprint:
            print(f"certificate SHA-256: {network.fingerprint}")
        print("join it with:")
        print(f"  python cliente.py {' '.join(network.client_arguments())} --nick ana")
        print("Ctrl+C stops the network.")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
