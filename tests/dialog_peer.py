"""The real connect dialog, run inside a network namespace for tests/test_connect_dialog.py.

``ip netns exec NS python tests/dialog_peer.py NICK``, with ``DISPLAY`` set and
``CHARLA_NO_DISCOVERY`` unset: a Tk root with a ``gui.connect_dialog.ConnectDialog`` whose
rooms come from its own ``make_browser`` (the real multicast DNS browser, which multicasts
only inside the namespace). It prints, one line each:

- ``started`` once the dialog is shown;
- ``rooms JSON``: the lines of the dialog's room list, whenever they change;
- ``chosen HOST PORT NICK``: what the dialog handed on when the user was through.

Commands on stdin, one a line: ``double-click N`` clicks twice on row N of the room list
(button events on the listbox, as a mouse makes them). When stdin closes, the dialog is
destroyed (its browser closed) and the program ends.
"""

from __future__ import annotations

import gc
import json
import queue
import sys
import threading
import tkinter as tk
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gui.connect_dialog import Choice, ConnectDialog
from gui.settings import Settings

POLL_MS = 20


def main() -> None:
    gc.disable()  # Tk objects must be freed on the Tk thread, never on the browser's
    commands: queue.Queue[str | None] = queue.Queue()

    def read_commands() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put(None)

    threading.Thread(target=read_commands, daemon=True).start()
    root = tk.Tk()
    root.geometry("700x500")

    def chosen(choice: Choice) -> None:
        print("chosen", choice.host, choice.port, choice.nick, flush=True)

    dialog = ConnectDialog(root, Settings(nick=sys.argv[1]), chosen)
    dialog.pack()
    root.update()
    print("started", flush=True)
    shown: list[str] = []

    def double_click(row: int) -> None:
        dialog.room_list.see(row)
        root.update()
        x, y, _width, height = dialog.room_list.bbox(row)
        for _ in range(2):
            dialog.room_list.event_generate("<ButtonPress-1>", x=x + 5, y=y + height // 2)
            dialog.room_list.event_generate("<ButtonRelease-1>", x=x + 5, y=y + height // 2)

    def poll() -> None:
        nonlocal shown
        lines = list(dialog.room_list.get(0, "end"))
        if lines != shown:
            shown = lines
            print("rooms", json.dumps(lines), flush=True)
        for _ in range(10):
            try:
                command = commands.get_nowait()
            except queue.Empty:
                break
            if command is None:
                root.quit()
                return
            if command.startswith("double-click "):
                double_click(int(command.split()[1]))
        root.after(POLL_MS, poll)

    root.after(POLL_MS, poll)
    root.mainloop()
    dialog.destroy()
    root.destroy()


if __name__ == "__main__":
    main()
