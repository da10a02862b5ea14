"""The packaged window against the smallest Tk program: size on disk and cold start.

Builds, with the PyInstaller of this environment, Charla (``build.spec``) and a minimal
one-file Tkinter "hello" (a Label in a window; built one-file, windowed, and stripped on
Linux as ``build.spec`` does), then reports side by side from one run:

- the size of each single-file program, and Charla / hello;
- cold start, from launch to the first top-level window mapped on the X screen (seen by
  this script through Xlib's MapNotify events, no polling), median and p90 over
  ``--rounds`` launches taken in turns: hello, Charla showing the connect dialog (a
  double-click), Charla joining a server given by ``--host/--port/--nick``. Every launch
  of a one-file program unpacks it afresh into a temporary folder; the disk cache is
  warm for all three alike.

Target: Charla within 1.3x of hello on both. ``--before DIR`` also measures the Charla
built in ``DIR`` (from an older checkout: ``pyinstaller --distpath DIR OLD/build.spec``)
in the same run, in turns with the others, and prints this one against it (a change
that brings in a library, as TLS brought OpenSSL, is kept within 1.3x of before).
Run from the repository root (Linux, an X display or Debian's xvfb):
``python bench/package_bench.py`` (about a minute), ``--dist dist`` to measure programs
already built, ``--rounds 20``.

Threading: none; the programs and the server are child processes, each started, timed and
stopped in turn. The only network use is Charla joining a server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the repository root, for tests.support

from procutil import percentile  # noqa: E402
from servers import running_server  # noqa: E402

from tests.support import stop_program, x_display  # noqa: E402

HELLO = (
    'import tkinter as tk\n\nroot = tk.Tk()\ntk.Label(root, text="Hola").pack()\nroot.mainloop()\n'
)
BEFORE_DIALOG = "Charla --before, connect dialog"
BEFORE_DIRECT = "Charla --before, --host/--port/--nick"
MAP_NOTIFY = 19
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19


class MapEvent(ctypes.Structure):
    """Xlib's XMapEvent, the first fields of the XEvent union (192 bytes on 64-bit)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("event", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
        ("override_redirect", ctypes.c_int),
        ("padding", ctypes.c_byte * 160),
    ]


class ScreenWatcher:
    """Tells when a new top-level window appears on the X screen."""

    def __init__(self) -> None:
        self.xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        self.xlib.XOpenDisplay.restype = ctypes.c_void_p
        self.xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.xlib.XDefaultRootWindow.restype = ctypes.c_ulong
        self.xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.xlib.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
        for name in ("XPending", "XConnectionNumber", "XFlush", "XCloseDisplay"):
            getattr(self.xlib, name).argtypes = [ctypes.c_void_p]
        self.xlib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.display = self.xlib.XOpenDisplay(None)
        if not self.display:
            raise SystemExit("no X display: set DISPLAY or install xvfb")
        root = self.xlib.XDefaultRootWindow(self.display)
        self.xlib.XSelectInput(self.display, root, SUBSTRUCTURE_NOTIFY_MASK)
        self.xlib.XFlush(self.display)
        self.fd = self.xlib.XConnectionNumber(self.display)

    def drain(self) -> None:
        event = MapEvent()
        while self.xlib.XPending(self.display):
            self.xlib.XNextEvent(self.display, ctypes.byref(event))

    def wait_for_window(self, deadline: float) -> float:
        """The monotonic time at which the next top-level window was mapped."""
        event = MapEvent()
        while True:
            while self.xlib.XPending(self.display):
                self.xlib.XNextEvent(self.display, ctypes.byref(event))
                if event.type == MAP_NOTIFY and not event.override_redirect:
                    return time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no window appeared")
            select.select([self.fd], [], [], remaining)

    def close(self) -> None:
        self.xlib.XCloseDisplay(self.display)


def pyinstaller(*arguments: str) -> None:
    """Run PyInstaller quietly; its whole output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", *arguments],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        sys.exit(f"PyInstaller failed:\n{result.stdout}{result.stderr}")


def build_charla(workdir: Path) -> Path:
    """Charla from build.spec, by this environment's PyInstaller."""
    dist = workdir / "dist"
    pyinstaller(
        "--distpath", str(dist), "--workpath", str(workdir / "build"), str(REPO_ROOT / "build.spec")
    )
    return dist / "Charla"


def build_hello(workdir: Path) -> Path:
    """The smallest Tk program, one file and windowed (stripped on Linux, as Charla is)."""
    (workdir / "hello.py").write_text(HELLO, encoding="utf-8")
    strip = ["--strip"] if sys.platform.startswith("linux") else []
    pyinstaller(
        *("--onefile", "--windowed", *strip, "--distpath", str(workdir / "dist")),
        *("--workpath", str(workdir / "build-hello"), "--specpath", str(workdir)),
        str(workdir / "hello.py"),
    )
    return workdir / "dist" / "hello"


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def time_start(watcher: ScreenWatcher, command: list[str], env: dict[str, str]) -> float:
    """Seconds from launching ``command`` to its first window on screen."""
    watcher.drain()
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        return watcher.wait_for_window(started + 60) - started
    finally:
        stop_program(process)


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"  {name:<38} median {statistics.median(ms):6.0f} ms, p90 {percentile(ms, 90):6.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="measure Charla already built in DIR")
    parser.add_argument("--rounds", type=int, default=10, help="launches of each (default 10)")
    parser.add_argument("--before", type=Path, help="also measure the Charla built in DIR")
    args = parser.parse_args()

    screen = contextlib.ExitStack()
    screen.enter_context(x_display())
    workdir = Path(tempfile.mkdtemp(prefix="charla-package-bench-"))
    try:
        hello = build_hello(workdir)
        charla = args.dist.resolve() / "Charla" if args.dist else build_charla(workdir)
        sizes = {"hello": hello.stat().st_size, "Charla": charla.stat().st_size}
        before = args.before.resolve() / "Charla" if args.before else None
        if before is not None:
            sizes["before"] = before.stat().st_size
        env = {**os.environ, "XDG_CONFIG_HOME": str(workdir / "config"), "LANGUAGE": "es"}
        watcher = ScreenWatcher()
        with running_server("charla") as (port, _pid):
            direct = ["--host", "127.0.0.1", "--port", str(port), "--nick", "medidor"]
            runs: dict[str, tuple[list[str], list[float]]] = {
                "hello": ([str(hello)], []),
                "Charla, connect dialog (double-click)": ([str(charla)], []),
                "Charla, --host/--port/--nick": ([str(charla), *direct], []),
            }
            if before is not None:
                runs[BEFORE_DIALOG] = ([str(before)], [])
                runs[BEFORE_DIRECT] = ([str(before), *direct], [])
            for _ in range(args.rounds):
                for command, times in runs.values():
                    times.append(time_start(watcher, command, env))
        watcher.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        screen.close()

    print(f"PyInstaller one-file programs, {sys.platform}, Python {sys.version.split()[0]}")
    print(f"size: hello {mib(sizes['hello'])}, Charla {mib(sizes['Charla'])}", end="")
    print(f"  -> Charla/hello {sizes['Charla'] / sizes['hello']:.2f}x (target <= 1.3x)")
    print(f"cold start, launch to window on screen ({args.rounds} launches each, in turns):")
    baseline = statistics.median(runs["hello"][1])
    for name, (_command, times) in runs.items():
        ratio = "" if name == "hello" else f"  -> {statistics.median(times) / baseline:.2f}x"
        print(summary(name, times) + ratio)
    if "before" in sizes:
        print("this Charla against the one --before (target <= 1.3x):")
        print(f"  size {mib(sizes['Charla'])} / {mib(sizes['before'])}", end="")
        print(f" = {sizes['Charla'] / sizes['before']:.2f}x")
        for now, then in (
            ("Charla, connect dialog (double-click)", BEFORE_DIALOG),
            ("Charla, --host/--port/--nick", BEFORE_DIRECT),
        ):
            ratio = statistics.median(runs[now][1]) / statistics.median(runs[then][1])
            print(f"  {now}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
