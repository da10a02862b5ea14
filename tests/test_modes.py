"""net/modes.py: parsing MODE lines, masks, a channel's modes, lists and slow mode.

The pure logic, without a server: what the conformance suites and HexChat, irssi and
WeeChat send, and what a hostile client could (empty masks, huge numbers, 300 letters).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from net.modes import (
    MAX_LIST_ENTRIES,
    MAX_PARAM_CHANGES,
    ChannelModes,
    Glob,
    Identity,
    InvalidParam,
    ListEntry,
    ModeChange,
    mask_matches,
    normal_mask,
    parse_changes,
    status_prefixes,
    with_status,
)
from net.protocol import irc_lower, mask_match

# Hypothesis' own files: in the system's temporary folder, not in the checkout
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "charla-hypothesis")


def test_parse_changes_keeps_the_order_and_the_signs():
    parsed = parse_changes("+mv-o+b", ["ana", "bea", "x!*@*"])
    assert parsed.changes == [
        ModeChange(True, "m"),
        ModeChange(True, "v", "ana"),
        ModeChange(False, "o", "bea"),
        ModeChange(True, "b", "x!*@*"),
    ]
    assert parsed.unknown == parsed.missing == parsed.lists == []


def test_parse_changes_lists_queries_unknown_and_missing():
    assert parse_changes("+b", []).lists == ["b"]
    assert parse_changes("bq", []).lists == ["b", "q"]
    assert parse_changes("+Zz", []).unknown == ["Z", "z"]
    assert parse_changes("+ZZZ", []).unknown == ["Z"]  # one 472 per letter, not per use
    assert parse_changes("+ov", []).missing == ["o", "v"]
    assert parse_changes("+l", []).missing == ["l"]
    # -l and -S take no parameter; +k with an empty one reaches the key's own check
    assert parse_changes("-lS", []).changes == [ModeChange(False, "l"), ModeChange(False, "S")]
    assert parse_changes("+k", [""]).changes == [ModeChange(True, "k", "")]


def test_parse_changes_is_bounded_by_modes():
    letters = "+" + "v" * 300
    parsed = parse_changes(letters, [f"n{i}" for i in range(300)])
    assert len(parsed.changes) == MAX_PARAM_CHANGES
    flags = parse_changes("+" + "m" * 300, [])  # flags take no parameter: harmless, kept
    assert len(flags.changes) == 300


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("ana", "ana!*@*"),
        ("ana!~ana", "ana!~ana@*"),
        ("~ana@127.0.0.1", "*!~ana@127.0.0.1"),
        ("*!*@10.0.*", "*!*@10.0.*"),
        ("$a:Profe", "$a:Profe"),
        ("Begoña", "Begoña!*@*"),
        ("", None),
        ("a b", None),
        ("a,b", None),
        (":x", None),
        ("$r:real", None),  # only the account extban exists
        ("$a:", None),
        ("x" * 121, None),
    ],
)
def test_normal_mask(given, normal):
    assert normal_mask(given) == normal


def test_masks_match_case_insensitively_and_by_account():
    ana = Identity.of("ANA", "~ana", "127.0.0.1")
    assert mask_matches(irc_lower("ana!*@*"), ana)
    assert mask_matches(irc_lower("*!*@127.0.0.?"), ana)
    assert not mask_matches(irc_lower("*!*@127.0.0.10"), ana)
    assert not mask_matches("$a:ana", ana)  # not logged in: no account to match
    logged = Identity.of("x", "~x", "h", "Profe")
    assert mask_matches("$a:profe", logged) and mask_matches("$a:pro*", logged)
    begona = Identity.of("Begoña", "~b", "h")
    assert mask_matches(irc_lower("BEGOÑA!*@*"), begona)


def test_key_limit_and_slow_mode_are_checked_and_relayed_as_set():
    modes = ChannelModes()
    assert modes.apply(ModeChange(True, "k", "x" * 23)) is not None
    for bad in ("", "x" * 24, "a b", "a,b", ":a"):
        with pytest.raises(InvalidParam):
            modes.apply(ModeChange(True, "k", bad))
    assert modes.apply(ModeChange(False, "k", "anything")) == ModeChange(False, "k", "x" * 23)
    assert modes.apply(ModeChange(False, "k")) is None  # no key left: nothing to say
    assert modes.apply(ModeChange(True, "l", "007")) == ModeChange(True, "l", "7")
    for bad in ("0", "-1", "x", "１", "100001"):
        with pytest.raises(InvalidParam):
            modes.apply(ModeChange(True, "l", bad))
    with pytest.raises(InvalidParam):
        modes.apply(ModeChange(True, "S", "3601"))
    assert modes.apply(ModeChange(True, "S", "3600")) is not None
    assert modes.describe(with_key=True) == ["+ntlS", "7", "3600"]
    assert modes.apply(ModeChange(False, "n")) == ModeChange(False, "n")
    assert modes.apply(ModeChange(False, "n")) is None


def test_lists_are_bounded_and_a_mask_is_one_entry_whatever_its_case():
    modes = ChannelModes()
    assert modes.add_entry("b", ListEntry("Ana!*@*", "op", 0.0)) is True
    assert modes.add_entry("b", ListEntry("ana!*@*", "op", 0.0)) is False
    for number in range(1, MAX_LIST_ENTRIES):
        assert modes.add_entry("b", ListEntry(f"x{number}!*@*", "op", 0.0))
    assert modes.add_entry("b", ListEntry("full!*@*", "op", 0.0)) is None
    assert modes.add_entry("q", ListEntry("full!*@*", "op", 0.0)) is True  # its own list
    assert modes.remove_entry("b", "ANA!*@*").mask == "Ana!*@*"
    assert modes.remove_entry("b", "ANA!*@*") is None


def test_timed_entries_stop_matching_at_their_end_and_are_collected():
    modes = ChannelModes()
    modes.add_entry("q", ListEntry("bea!*@*", "op", 0.0, expires=50.0))
    modes.add_entry("b", ListEntry("carla!*@*", "op", 0.0, expires=30.0))
    modes.add_entry("b", ListEntry("dani!*@*", "op", 0.0))
    bea = Identity.of("bea", "~bea", "h")
    assert modes.next_expiry() == 30.0
    assert modes.find("q", bea, 49.9) is not None
    assert modes.find("q", bea, 50.0) is None  # over, even before it is collected
    assert [(letter, e.mask) for letter, e in modes.expired(40.0)] == [("b", "carla!*@*")]
    assert modes.next_expiry() == 50.0
    assert [e.mask for _, e in modes.expired(60.0)] == ["bea!*@*"]
    assert modes.next_expiry() is None and len(modes.lists["b"]) == 1


def test_slow_mode_counts_from_the_last_message_that_went_out():
    modes = ChannelModes(slow=5)
    assert modes.slow_wait("ana", 0.0) == 0
    assert modes.slow_wait("ana", 0.1) == 5  # rounded up: never "wait 0 s"
    assert modes.slow_wait("ana", 4.99) == 1
    assert modes.slow_wait("bea", 1.0) == 0  # each member on their own
    assert modes.slow_wait("ana", 5.0) == 0
    modes.forget_member("ana")
    assert modes.slow_wait("ana", 5.1) == 0
    assert modes.apply(ModeChange(False, "S")) is not None
    assert modes.last_spoke == {}  # turned off: nothing kept


def test_status_letters_and_prefixes():
    assert with_status("", "o", True) == "o"
    assert with_status("o", "v", True) == "ov"
    assert with_status("ov", "o", False) == "v"
    assert with_status("v", "v", True) == "v"
    assert status_prefixes("v") == "+"
    assert status_prefixes("ov") == "@"
    assert status_prefixes("ov", multi=True) == "@+"


@given(
    mask=st.text(alphabet="ab*?!@.", max_size=12),
    name=st.text(alphabet="ab!@.", max_size=12),
)
@settings(max_examples=3000, deadline=None, database=None)  # nothing left in the checkout
def test_glob_agrees_with_mask_match(mask, name):
    """The linear-time matcher of listed masks answers as ``net.protocol.mask_match``."""
    assert Glob(mask).matches(name) == mask_match(mask, name)


def test_a_list_of_pathological_masks_costs_a_join_little():
    """100 masks built for the worst case of a naive glob (``*aaaa…ab``) against a long
    name: matched in C, a join's look-up takes well under a millisecond, not 10 ms."""
    modes = ChannelModes()
    for number in range(MAX_LIST_ENTRIES):
        mask = normal_mask("*" + "a" * 60 + f"b{number}")
        assert modes.add_entry("b", ListEntry(mask, "op", 0.0))
    who = Identity.of("a" * 30, "~" + "a" * 17, "a" * 40)
    started = time.perf_counter()
    for _ in range(10):
        assert modes.find("b", who, 0.0) is None
    assert (time.perf_counter() - started) / 10 < 0.005  # naive: about 0.01 s each
