"""The window's settings file: round trip, atomic writes, damaged files set aside."""

from __future__ import annotations

import json

from gui.settings import Settings, load, save


def test_round_trip(tmp_path):
    path = tmp_path / "charla" / "settings.json"
    save(Settings(host="192.168.1.23", port=6667, nick="Begoña", theme="dark", font_size=14), path)
    assert load(path) == Settings(
        host="192.168.1.23", port=6667, nick="Begoña", theme="dark", font_size=14
    )
    assert not list(path.parent.glob("*.tmp"))


def test_missing_file_gives_defaults_with_the_login_name(tmp_path):
    settings = load(tmp_path / "none.json")
    assert (settings.host, settings.port) == ("localhost", 12345)


def test_damaged_file_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{ not json", encoding="utf-8")
    settings = load(path)
    assert settings.port == 12345
    assert not path.exists()
    assert len(list(tmp_path.glob("settings.json.damaged-*"))) == 1


def test_wrong_types_fall_back_field_by_field(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"port": "doce", "nick": "ana", "font_size": 13}), encoding="utf-8")
    settings = load(path)
    assert (settings.port, settings.nick, settings.font_size) == (12345, "ana", 13)


def test_values_a_window_cannot_use_fall_back_and_the_rest_is_kept(tmp_path):
    path = tmp_path / "settings.json"
    odd = {
        "geometry": "garbage",
        "font_size": 100000,
        "port": True,
        "theme": "neón",
        "host": "",
        "nick": "ana",
    }
    path.write_text(json.dumps(odd), encoding="utf-8")
    settings = load(path)
    assert settings == Settings(nick="ana")
    for geometry in ("980x640", "800x600+10+-20"):
        path.write_text(json.dumps({"geometry": geometry}), encoding="utf-8")
        assert load(path).geometry == geometry
    path.write_text(json.dumps({"geometry": "1x1"}), encoding="utf-8")
    assert load(path).geometry == Settings().geometry


def test_deeply_nested_json_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert load(path).port == 12345
    assert not path.exists()
    assert len(list(tmp_path.glob("settings.json.damaged-*"))) == 1
