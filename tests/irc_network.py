"""Real IRC networks for the tests, and to try Charla on one: linked servers on loopback.

A class that outgrows one Charla server moves to an IRC network (docs/network.md). This
module starts one on this computer: ``servers`` (2 or more) Debian ``ngircd`` servers,
each linked to the first, listening on 127.0.0.1 only, each in a temporary folder of its
own, built from the configuration files in ``docs/network/ngircd/`` (the same files a
school reads, so what the documentation shows is what the tests run). With ``tls`` each
also has a TLS port, with a self-signed certificate made for the run (a school's own
server, as a client sees it).

``running_network(servers=2, tls=False)`` yields an ``IrcNetwork`` once every server
is linked to the first (their own words say so: no fixed wait), and stops them all on
exit, whatever happened. ``NetworkServer.kill()`` ends one at once (SIGKILL: the power cut
the window must survive). As a command, ``python -m tests.irc_network [--tls]`` starts a
two-server network, prints how to join it, and runs until Ctrl+C.

Threading: each server's output is read on a thread of its own (``ServerProcess``);
everything else runs on the caller's thread. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
#: the password each pair of linked servers shares (a school picks a long random one)
LINK_PASSWORD = "charla-link-demo"
#: how long a server may take to start and link, at most
START_TIMEOUT = 20.0


@dataclass
class NetworkServer:
    """One server of the network: its name, its client ports, its process."""

    name: str
    port: int  # plain-text IRC
    tls_port: int | None  # IRC over TLS, when the network has TLS
    process: ServerProcess

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

    def stop(self) -> None:
        self.process.close()


@dataclass
class IrcNetwork:
    servers: list[NetworkServer]
    certificate: Path | None  # the servers' certificate (PEM), with tls
    fingerprint: str  # its SHA-256, as the window shows it ("" without tls)

    def client_arguments(self) -> list[str]:
        """``--server A --server B`` for ``cliente.py``."""
        return [word for server in self.servers for word in ("--server", server.address)]


def _fill(template: str, **fields: object) -> str:
    return (TEMPLATES / "ngircd" / template).read_text(encoding="utf-8").format(**fields)


def ngircd_configuration(
    index: int,
    names: list[str],
    ports: list[int],
    workdir: Path,
    *,
    tls: tuple[Path, Path, Path, int] | None = None,
) -> str:
    """Server ``index``'s ngircd.conf: linked to the first server (the first to all the
    others, and it makes the connections)."""
    peers = range(1, len(names)) if index == 0 else [0]
    links = "\n".join(
        _fill(
            "link.conf",
            peer_name=names[peer],
            peer_host=LOOPBACK,
            peer_port=ports[peer],
            password=LINK_PASSWORD,
            passive="no" if index == 0 else "yes",
        )
        for peer in peers
    )
    run_as = ""
    if os.geteuid() == 0:  # ngIRCd will not keep uid 0: it becomes "nobody"
        run_as = f"\tServerUID = nobody\n\tServerGID = {nobody()[1]}"
    secure = ""
    if tls is not None:
        certificate, key, dh_file, tls_port = tls
        secure = _fill(
            "tls.conf", certificate=certificate, key=key, dh_file=dh_file, tls_port=tls_port
        )
    return _fill(
        "ngircd.conf",
        name=names[index],
        listen=LOOPBACK,
        port=ports[index],
        motd=f"Charla network test, {names[index]}",
        workdir=workdir,
        run_as=run_as,
        tls=secure,
        links=links,
    )


def _start_ngircd(name: str, configuration: str, workdir: Path) -> ServerProcess:
    binary = shutil.which("ngircd") or "/usr/sbin/ngircd"
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError("ngircd not found (apt-get install -y ngircd)")
    (workdir / "conf.d").mkdir(parents=True)
    (workdir / "run").mkdir()
    if os.geteuid() == 0:  # it writes its PID file after becoming "nobody"
        os.chown(workdir / "run", *nobody())
    workdir.chmod(0o755)
    conf = workdir / "ngircd.conf"
    conf.write_text(configuration, encoding="utf-8")
    check = subprocess.run(
        [binary, "--configtest", "-f", str(conf)], capture_output=True, text=True, timeout=10
    )
    if check.returncode or "Ok, dump of your server configuration" not in check.stdout:
        raise RuntimeError(f"ngircd --configtest failed for {name}:\n{check.stdout}{check.stderr}")
    return ServerProcess("-n", "-f", str(conf), data_home=workdir, program=(binary,))


@contextlib.contextmanager
def running_network(servers: int = 2, *, tls: bool = False) -> Iterator[IrcNetwork]:
    """A network of ``servers`` linked ngIRCd servers on 127.0.0.1 (see the module
    docstring); yielded once all are linked, all stopped on exit."""
    if servers < 2:
        raise ValueError("a network has at least two servers")
    names = [f"irc{number}.charla.test" for number in range(1, servers + 1)]
    ports = [free_port() for _ in names]
    started: list[NetworkServer] = []
    with tempfile.TemporaryDirectory(prefix="charla-network-") as tmp:
        top = Path(tmp)
        top.chmod(0o755)  # the servers run as "nobody" and read their files here
        certificate = key = dh_file = None
        fingerprint = ""
        if tls:
            certificate, key = make_certificate(top / "certificate", LOOPBACK)
            (top / "certificate").chmod(0o755)
            key.chmod(0o644)  # read by "nobody": a demo's key, made for this run
            fingerprint = certificate_fingerprint(certificate)
            dh_file = top / "certificate" / "dh.pem"
            subprocess.run(
                [
                    *("openssl", "genpkey", "-genparam", "-algorithm", "DH"),
                    *("-pkeyopt", "dh_param:ffdhe2048", "-out", str(dh_file)),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            dh_file.chmod(0o644)
        try:
            for index, name in enumerate(names):
                workdir = top / name
                tls_port = free_port() if tls else None
                secure = None
                if certificate and key and dh_file and tls_port:
                    secure = (certificate, key, dh_file, tls_port)
                configuration = ngircd_configuration(index, names, ports, workdir, tls=secure)
                process = _start_ngircd(name, configuration, workdir)
                started.append(NetworkServer(name, ports[index], tls_port, process))
                process.expect(rf"Now listening on \[{LOOPBACK}\]:{ports[index]} ", START_TIMEOUT)
            first = started[0].process
            for peer in names[1:]:  # the first server says each link is up
                first.expect(rf'Synchronization with "{peer}" done', START_TIMEOUT)
            yield IrcNetwork(started, certificate, fingerprint)
        finally:
            for server in started:
                server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="A two-server ngIRCd network on loopback.")
    parser.add_argument("--servers", type=int, default=2, help="how many (default 2)")
    parser.add_argument("--tls", action="store_true", help="TLS ports too, self-signed")
    args = parser.parse_args()
    with running_network(args.servers, tls=args.tls) as network:
        for server in network.servers:
            print(f"{server.name}: {server.address}")
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
