"""The Charla window: everything that touches Tk.

``gui.app.ChatWindow`` is the window; it drives ``net.client.ChatClient`` only through its
event queue (drained on the Tk main thread by one ``after()`` pump) and its methods.
Nothing in ``net/`` imports from here.
"""
