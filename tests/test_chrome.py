"""The window's frame (menus, tabs, labels) themed and zoomed, in a real Tk window."""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk

from gui import chrome
from gui.theme import DARK, LIGHT


def test_dark_reaches_menus_tabs_and_labels_and_zoom_reaches_their_fonts(tk_root):
    menubar = tk.Menu(tk_root)
    view_menu = tk.Menu(menubar, tearoff=False)
    menubar.add_cascade(label="Ver", menu=view_menu)
    tk_root.configure(menu=menubar)
    tabs = ttk.Notebook(tk_root)
    tabs.add(ttk.Frame(tabs), text="#general")
    tabs.pack()
    status = ttk.Label(tk_root, text="Conectado")
    status.pack()
    chrome.paint(tk_root, DARK, [menubar])
    style = ttk.Style(tk_root)
    assert style.lookup("TLabel", "background") == DARK.panel_background
    assert style.lookup("TLabel", "foreground") == DARK.text
    assert style.lookup("TNotebook.Tab", "background", ["selected"]) == DARK.background
    assert (
        str(menubar.cget("background"))
        == str(view_menu.cget("background"))
        == DARK.panel_background
    )
    later = tk.Menu(tk_root)  # a right-click menu, made after the theme changed
    assert str(later.cget("background")) == DARK.panel_background
    chrome.paint(tk_root, LIGHT, [menubar])
    assert str(view_menu.cget("foreground")) == LIGHT.text

    menu_font = tkfont.nametofont("TkMenuFont", root=tk_root)
    before = abs(int(tkfont.nametofont("TkDefaultFont", root=tk_root).cget("size")))
    before_menu = abs(int(menu_font.cget("size")))
    chrome.zoom(tk_root, 22)  # twice the usual size
    assert abs(int(tkfont.nametofont("TkDefaultFont", root=tk_root).cget("size"))) == 2 * before
    assert abs(int(menu_font.cget("size"))) == 2 * before_menu
    chrome.zoom(tk_root, chrome.BASE_SIZE)
    assert abs(int(menu_font.cget("size"))) == before_menu


def test_scrollbars_show_their_thumb_in_both_looks_and_widen_on_dense_screens(tk_root):
    style = ttk.Style(tk_root)
    for theme in (LIGHT, DARK):
        chrome.paint(tk_root, theme, [])
        thumb = style.lookup("TScrollbar", "background")
        assert thumb == theme.scrollbar_thumb
        assert thumb != style.lookup("TScrollbar", "troughcolor") == theme.background
    usual = int(style.lookup("TScrollbar", "arrowsize"))
    assert usual >= 14  # ttk's own width at 96 dpi, never thinner
    tk_root.tk.call("tk", "scaling", 2.0)  # 144 dpi
    chrome.paint(tk_root, DARK, [])
    assert int(style.lookup("TScrollbar", "arrowsize")) >= 1.5 * 14
