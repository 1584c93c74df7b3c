"""The one sanitiser (meshtui.core.sanitize.inert): outside text is shown, never obeyed."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from meshtui.core.sanitize import LINE_LIMIT, decode, inert

HOSTILE = [
    "\x1b]0;PWNED\x07\x1b[2Jhello",  # OSC title set, then clear screen
    "\x1b[31mred\x1b[0m",
    "nul\x00byte",
    "bidi \u202egnp.exe\u202c \u2066isolate\u2069",
    "c1 \x9b2J csi",
    "del\x7f",
    "zero\u200bwidth",
    "line\u2028separator",
]


def _drawable(text: str, *, newlines: bool = False) -> bool:
    allowed = {"\n", "\t"} if newlines else set()
    return all(c.isprintable() or c in allowed for c in text)


def test_escape_sequences_lose_their_escape() -> None:
    assert inert("\x1b]0;PWNED\x07\x1b[2Jhello") == "\\x1b]0;PWNED\\x07\\x1b[2Jhello"


def test_bidi_overrides_and_isolates_are_shown() -> None:
    out = inert("a\u202eb\u2066c\u2069")
    assert out == "a\\u202eb\\u2066c\\u2069"


def test_every_hostile_sample_becomes_printable() -> None:
    for sample in HOSTILE:
        out = inert(sample)
        assert _drawable(out), repr(out)
        assert "\x1b" not in out


def test_one_line_shows_newlines_and_tabs() -> None:
    assert inert("a\nb\tc\rd") == "a\\nb\\tc\\rd"


def test_multi_line_keeps_newlines_and_tabs_but_not_carriage_returns() -> None:
    assert inert("a\tb\r\nc\x1b", newlines=True) == "a\tb\\r\nc\\x1b"


def test_long_lines_are_capped_with_a_marker() -> None:
    out = inert("x" * 10_000)
    assert out == "x" * LINE_LIMIT + f"…[+{10_000 - LINE_LIMIT} chars]"
    block = inert("short\n" + "y" * 10_000, newlines=True, limit=10)
    assert block == "short\n" + "y" * 10 + "…[+9990 chars]"
    assert inert("z" * 10_000, limit=None) == "z" * 10_000


def test_invalid_utf8_is_visible() -> None:
    assert decode(b"ok\xff\xfe") == "ok\\xff\\xfe"
    assert inert(b"\x1b[2J\xc3") == "\\x1b[2J\\xc3"
    assert inert("surrogate\udcff") == "surrogate\\udcff"


def test_ordinary_text_is_untouched() -> None:
    text = "fd42:1::f1/128 via fe80::1%wg-ams metric 96 — héllo ☃ 日本"
    assert inert(text) is text or inert(text) == text


@given(st.text())
def test_any_text_comes_out_drawable(text: str) -> None:
    assert _drawable(inert(text))
    assert _drawable(inert(text, newlines=True), newlines=True)


@given(st.binary(max_size=4096))
def test_any_bytes_come_out_drawable(data: bytes) -> None:
    out = inert(data)
    assert _drawable(out)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in out)
