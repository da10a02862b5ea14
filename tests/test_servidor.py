"""``servidor.py`` as a person starts it: a real process, its banner, signals, the console."""

from __future__ import annotations

import base64
import re
import signal
import socket

import pytest

from servidor import OperatorConsole, address_lines, config_from_args, parse_args
from tests.support import IrcClient, LineClient, started_port


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_documented_command_line_serves_and_stops_cleanly(run_server, stop_signal):
    process = run_server("--host", "127.0.0.1", "--port", "0", "--server-name", "conf.test")
    port = started_port(process)
    process.expect(r"Only this computer can connect: 127\.0\.0\.1:\d+")
    process.expect(rf"^On a phone: http://127\.0\.0\.1:{port}$")
    client = IrcClient(port)
    try:
        client.register("ana")
        client.send("PING x")
        client.expect(r"^:conf\.test PONG conf\.test :x$")
        process.process.send_signal(stop_signal)
        assert client.expect_closed(timeout=3)[-1].startswith("ERROR :Closing Link")
        assert process.wait(timeout=5) == 0
        assert "Charla stopped." in process.output
        assert not any("Traceback" in line for line in process.output)
    finally:
        client.close()


def test_password_flag_and_default_plain_text_detection(run_server):
    process = run_server("--host", "127.0.0.1", "--port", "0", "--password", "clave")
    port = started_port(process)
    plain = LineClient(port)  # silent for its first second: asked for the password
    try:
        plain.expect(r"Password:", timeout=5)
        plain.send("clave")
        plain.expect(r"What is your name\?")
        plain.send("ana")
        plain.expect(r"Hello, ana!")
    finally:
        plain.close()


def test_port_in_use_is_one_clear_line_and_exit_status_1(run_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = run_server("--host", "127.0.0.1", "--port", str(port))
        assert process.wait(timeout=10) == 1
    assert len(process.output) == 1
    assert f"Port {port} is already in use" in process.output[0]


def test_bad_arguments_are_explained(run_server):
    process = run_server("--channel", "general")
    assert process.wait(timeout=10) == 2
    assert any("the channel must start with #" in line for line in process.output)


def test_operator_console_announces_lists_and_kicks(run_server):
    process = run_server(
        "--host", "127.0.0.1", "--port", "0", "--server-name", "aula", tty_stdin=True
    )
    port = started_port(process)
    process.expect(r"/ayuda")
    ana, bea = IrcClient(port), IrcClient(port)
    try:
        ana.register("ana")
        bea.register("bea")
        process.type("Examen mañana a las 9 📝")
        ana.expect(r"^:aula NOTICE ana :Examen mañana a las 9 📝$")
        bea.expect(r"^:aula NOTICE bea :Examen mañana a las 9 📝$")
        process.expect(r"Announced to 2 people\.")
        process.type("/usuarios")
        process.expect(r"2 people connected: ana \(127\.0\.0\.1\), bea \(127\.0\.0\.1\)")
        process.type("/expulsar bea spam")
        process.expect(r"bea was removed\.")
        assert any("spam" in line for line in bea.expect_closed())
        process.type("/salir")
        assert ana.expect_closed(timeout=3)[-1].startswith("ERROR")
        assert process.wait(timeout=5) == 0
    finally:
        ana.close()
        bea.close()


def test_console_commands_in_process(server, connect):
    written: list[str] = []
    console = OperatorConsole(server, written.append)
    connect("ana")
    assert console.handle("/users")
    assert written[-2:] == [
        "1 person connected: ana (127.0.0.1)",
        f"On a phone: http://127.0.0.1:{server.port}",
    ]
    assert console.handle("/kick")
    assert written[-1].startswith("Usage: /expulsar")
    assert console.handle("/kick nadie")
    assert written[-1] == "Nobody called nadie is connected."
    assert console.handle("/bailar")
    assert written[-1].startswith("Unknown command /bailar")
    assert console.handle("//bailar no es un comando")
    assert written[-1] == "Announced to 1 person."
    assert not console.handle("/quit")


def test_address_lines_answer_which_ip_to_type():
    assert address_lines("127.0.0.1", 12345) == ["Only this computer can connect: 127.0.0.1:12345"]
    everywhere = address_lines(None, 12345)
    assert everywhere[-1] == "On this computer: localhost:12345"
    assert everywhere[0].startswith(("Tell the others to connect to:", "No network found"))
    assert not any("127.0.0.1" in line for line in everywhere[:-1])


def test_a_bad_port_is_refused_in_the_language_asked_for(run_server):
    server = run_server("--port", "70000", "--lang", "es")
    assert server.wait() == 2
    assert any("el puerto tiene que estar entre 0 y 65535" in line for line in server.output)


def test_nothing_a_client_sends_acts_on_the_operators_terminal_or_log(run_server, tmp_path):
    """A QUIT reason with escape sequences that would erase the line above and print a fake
    "joined as" line reaches the console and the log file with its controls made visible."""
    log_file = tmp_path / "servidor.log"
    process = run_server("--host", "127.0.0.1", "--port", "0", "--log-file", str(log_file))
    port = started_port(process)
    mallory = IrcClient(port)
    try:
        mallory.register("mallory")
        mallory.send("QUIT :adiós\x1b[1A\x1b[2K\x9b2K09:00:00 127.0.0.1 joined as Profesor\x07")
        mallory.expect_closed()
    finally:
        mallory.close()
    line = process.expect(r"closed: Quit: adiós").string
    assert "\x1b" not in line and "\x9b" not in line and "\x07" not in line
    assert "␛[1A␛[2K�2K09:00:00 127.0.0.1 joined as Profesor␇" in line
    process.close()
    logged = log_file.read_text(encoding="utf-8")
    assert "␛[1A" in logged and "\x1b" not in logged


def test_the_password_can_come_from_a_file_or_the_environment(run_server, tmp_path, monkeypatch):
    """So it does not show in the process list; a file that cannot be read is one clear line."""
    secret = tmp_path / "contraseña.txt"
    secret.write_text("desde-fichero\n", encoding="utf-8")
    from_file = run_server("--host", "127.0.0.1", "--port", "0", "--password-file", str(secret))
    monkeypatch.setenv("CHARLA_PASSWORD", "desde-entorno")
    from_environment = run_server("--host", "127.0.0.1", "--port", "0")
    for process, password in ((from_file, "desde-fichero"), (from_environment, "desde-entorno")):
        client = IrcClient(started_port(process))
        try:
            client.register("ana", password=password)
        finally:
            client.close()
    missing = run_server("--port", "0", "--password-file", str(tmp_path / "no-existe"))
    assert missing.wait() == 1
    assert missing.output[-1].startswith("Cannot read ") and "no-existe" in missing.output[-1]


def test_history_memory_and_expiry_come_in_mib_and_minutes(capsys):
    config = config_from_args(parse_args(["--history-memory", "8", "--history-expiry", "30"]))
    assert (config.history_memory, config.history_expiry) == (8 * 2**20, 1800)
    defaults = config_from_args(parse_args(["--lang", "en"]))
    assert (defaults.history_memory, defaults.history_expiry) == (32 * 2**20, 7200)
    assert config_from_args(parse_args(["--history-expiry", "0"])).history_expiry == 0
    for wrong in (
        ["--history-memory", "0"],
        ["--history-memory", "inf"],
        ["--history-expiry", "-1"],
    ):
        with pytest.raises(SystemExit):
            parse_args([*wrong, "--lang", "en"])
        assert f"{wrong[0]} must be between" in capsys.readouterr().err


def test_the_cap_on_connections_still_signing_in_is_an_option():
    assert config_from_args(parse_args([])).max_unregistered_per_ip == 10
    config = config_from_args(parse_args(["--max-unregistered-per-ip", "0"]))
    assert config.max_unregistered_per_ip == 0


def test_oper_names_teachers_and_may_be_repeated(capsys):
    config = config_from_args(parse_args(["--oper", "profe:a:b", "--oper", "tutora:x"]))
    assert config.opers == {"profe": "a:b", "tutora": "x"}  # a password may hold a colon
    assert config_from_args(parse_args([])).opers == {}
    for wrong in (["--oper", "profe"], ["--oper", ":clave"], ["--oper", "profe:"]):
        with pytest.raises(SystemExit):
            parse_args([*wrong, "--lang", "en"])
        assert "--oper takes NAME:PASSWORD" in capsys.readouterr().err


def _register_account(port: int, nick: str) -> IrcClient:
    client = IrcClient(port)
    client.send("CAP LS 302")
    client.send("CAP REQ draft/account-registration")
    client.send(f"NICK {nick}")
    client.send("REGISTER * * :contraseña de clase")
    client.expect(rf"REGISTER SUCCESS {nick} ")
    client.send(f"USER {nick} 0 * :{nick}")
    client.send("CAP END")
    client.expect(rf" 001 {nick} ")
    return client


def test_profesor_makes_a_logged_in_account_a_teacher_kept_across_a_restart(start_server, tmp_path):
    database = str(tmp_path / "historial.sqlite3")
    server = start_server(history_db=database)
    written: list[str] = []
    console = OperatorConsole(server, written.append)
    assert console.handle("/profesor")
    assert written[-1] == "No teachers yet. Usage: /profesor NICK"
    ana = _register_account(server.port, "ana")
    bea = IrcClient(server.port)
    try:
        bea.register("bea")
        assert console.handle("/profesor bea")
        assert written[-1].startswith("bea is not logged in to an account")
        assert console.handle("/teacher nadie")
        assert written[-1] == "Nobody called nadie is connected."
        assert not server.find_session("ana").teacher
        assert console.handle("/profesor ANA")
        assert written[-1] == "ANA (account ana) is a teacher."
        assert server.find_session("ana").teacher
        assert console.handle("/profesor")
        assert written[-1] == "Teachers: ana"
    finally:
        ana.close()
        bea.close()
    server.shutdown()
    again = start_server(history_db=database)
    assert again.teachers() == ["ana"]
    back = IrcClient(again.port)
    try:
        back.send("CAP REQ sasl")
        back.send("NICK ana")
        back.send("USER ana 0 * :ana")
        back.send("AUTHENTICATE PLAIN")
        back.expect(r"^AUTHENTICATE \+$")
        back.send(
            "AUTHENTICATE " + base64.b64encode("\0ana\0contraseña de clase".encode()).decode()
        )
        back.expect(r" 903 ")
        back.send("CAP END")
        back.expect(r" 001 ana ")
        assert again.find_session("ana").teacher
    finally:
        back.close()


def test_teacher_accounts_from_the_command_line(run_server, capsys):
    config = config_from_args(parse_args(["--teacher", "ana", "--teacher", "Begon\u0303a"]))
    assert config.teachers == ("ana", "Begoña")
    with pytest.raises(SystemExit):
        parse_args(["--teacher", "9x", "--lang", "en"])
    assert "--teacher 9x: an account's name is a valid nick" in capsys.readouterr().err
    process = run_server("--host", "127.0.0.1", "--port", "0", "--teacher", "profe")
    process.expect(r"teacher profe has no account yet: register it now")
    started_port(process)


def test_web_options(capsys):
    defaults = config_from_args(parse_args(["--lang", "en"]))
    assert (defaults.web, defaults.web_port, defaults.web_allowed_origins) == (True, None, ())
    config = config_from_args(
        parse_args(
            [
                "--no-web",
                "--web-port",
                "8080",
                "--web-allow-origin",
                "https://gamja.example",
                "--web-allow-origin",
                "http://[::1]:8000",
            ]
        )
    )
    assert (config.web, config.web_port) == (False, 8080)
    assert config.web_allowed_origins == ("https://gamja.example", "http://[::1]:8000")
    for wrong in (
        ["--web-allow-origin", "gamja.example"],
        ["--web-allow-origin", "https://gamja.example/page"],
        ["--web-allow-origin", "*"],
    ):
        with pytest.raises(SystemExit):
            parse_args([*wrong, "--lang", "en"])
        assert "give scheme://host[:port]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--port", "5000", "--web-port", "5000", "--lang", "en"])
    assert "--web-port must be" in capsys.readouterr().err


def test_no_web_says_no_web_address(run_server):
    process = run_server("--host", "127.0.0.1", "--port", "0", "--no-web", tty_stdin=True)
    started_port(process)
    process.expect(r"/ayuda")
    assert not any("On a phone" in line for line in process.output)
    process.type("/usuarios")
    process.expect(r"0 people connected")
    process.type("/salir")
    assert process.wait(timeout=5) == 0
    assert not any("On a phone" in line for line in process.output)


#: English that a person would read in a numeric's text: none may reach a --lang es user
ENGLISH = re.compile(
    r"\b(the|is|are|you|your|no such|end of|not|welcome|there|users?|channels?|nickname)\b",
    re.IGNORECASE,
)


def test_under_lang_es_the_numerics_a_person_reads_and_the_console_are_spanish(run_server):
    process = run_server("--host", "127.0.0.1", "--port", "0", "--lang", "es")
    port = int(process.expect(r"Charla está escuchando en el puerto (\d+)\.").group(1))
    ana, bea = IrcClient(port), IrcClient(port)
    try:
        ana.register("ana")
        ana.join("#general")
        bea.send("NICK ana")  # taken
        bea.expect(r" 433 \* ana :Ese apodo ya está en uso$")
        bea.register("bea")
        for line in (
            "BAILAR",
            "PRIVMSG nadie :hola",
            "PART #nada",
            "TOPIC #general",
            "AWAY :comiendo",
            "AWAY",
            "WHOIS ana",
            "WHOWAS nadie",
            "MODE ana +i",
            "NAMES #general",
            "LIST",
            "MOTD",
            "LUSERS",
            "JOIN",
            "REGISTER * * corta",
        ):
            bea.send(line)
        said = bea.sync()
    finally:
        ana.close()
        bea.close()
    numerics = [line for line in bea.lines if re.match(r":\S+ \d{3} ", line)]
    assert len(numerics) > 40
    english = [
        line for line in numerics if " :" in line[1:] and ENGLISH.search(line[1:].split(" :", 1)[1])
    ]
    assert english == []
    assert any(" 421 bea BAILAR :Comando desconocido" in line for line in said)
    assert any(line.endswith(":La contraseña tiene que tener al menos 8 bytes") for line in said)
    process.expect(r"127\.0\.0\.1 ha entrado como bea")
    process.expect(r"127\.0\.0\.1 se ha ido: ")


def test_under_lang_es_a_wrong_server_password_is_said_and_logged_in_spanish(run_server):
    process = run_server(
        "--host", "127.0.0.1", "--port", "0", "--lang", "es", "--password", "secreto"
    )
    port = int(process.expect(r"Charla está escuchando en el puerto (\d+)\.").group(1))
    for said in (r" 464 \* :Contraseña incorrecta$", r" 464 \* :Demasiadas contraseñas"):
        guess = IrcClient(port)
        try:
            guess.send("PASS mal")
            guess.send("NICK ana")
            guess.send("USER ana 0 * :ana")
            guess.expect(said)
        finally:
            guess.close()
    process.expect(r"1 fallo\(s\) de contraseña desde 127\.0\.0\.1; espera 1 s")


def test_max_upload_and_no_uploads(run_server):
    config = config_from_args(parse_args(["--max-upload", "0.5"]))
    assert (config.max_upload, config.uploads) == (512 * 1024, True)
    assert config_from_args(parse_args(["--no-uploads"])).uploads is False
    assert config_from_args(parse_args([])).max_upload == 5 * 1024 * 1024
    process = run_server("--max-upload", "0")
    assert process.wait(timeout=10) == 2
    assert any("--max-upload must be between" in line for line in process.output)
