"""The one key masker (meshtui.core.secrets): every form of key value, never shown."""

from __future__ import annotations

import pytest

from meshtui.core.secrets import MASK, key_changes, mask_secrets, masked_diff

HEX = "0123456789abcdef" * 4
B64 = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        (f"key id k type hmac-sha256 value {HEX}\n", [HEX]),
        (f"key id k type hmac-sha256 value {B64}\n", [B64]),
        ('key id X type hmac-sha256 value "a b c"\n', ["a b c", '"a', 'c"']),
        ('key id X type hmac-sha256 value "a \\" b c"\n', ["b c", '\\"']),
        ('key id X type hmac-sha256 value "unterminated and spaced\n', ["unterminated", "spaced"]),
        ("key id k type hmac-sha256 value s3cr#t-word\n", ["s3cr", "t-word"]),
        (f"key id k type hmac-sha256 value {HEX}  # rotated in May\n", [HEX]),
        (f"# key id old type hmac-sha256 value {HEX}\n", [HEX]),
        (f"KEY ID k TYPE hmac-sha256 VALUE {B64}\n", [B64]),
        (
            f"key id a type hmac-sha256 value {HEX}; key id b type blake2s128 value {B64}",
            [HEX, B64],
        ),
        (f"-key id site type hmac-sha256 value {HEX}\n+key id site value {B64}\n", [HEX, B64]),
        (f"key id k type hmac-sha256 value\t{HEX}\r\n", [HEX]),
        (f"ssh: command failed: value={HEX[:24]}", [HEX[:24]]),
        (f"value {B64}", [B64]),
        (f"raw {HEX} and {HEX.upper()}_x", [HEX, HEX.upper()]),
    ],
)
def test_every_value_form_is_masked(text, secrets) -> None:
    masked = mask_secrets(text)
    for secret in secrets:
        assert secret not in masked, masked
    assert MASK in masked


def test_what_is_no_key_value_stays() -> None:
    text = (
        "interface wg0 type tunnel key site rxcost 96  # keyed tunnel\r\n"
        "local-path /run/babeld.sock\n"
        "in ip fd42:1::f1/128 deny\n"
        "router-id 02:11:22:ff:fe:33:44:55\n"
        "hello value 3 is small\n"
    )
    assert mask_secrets(text) == text


def test_masking_keeps_the_shape_of_the_line() -> None:
    line = f'  key id "site link" type hmac-sha256 value "{HEX}"  # comment\n'
    assert mask_secrets(line) == f'  key id "site link" type hmac-sha256 value {MASK}  # comment\n'


def test_key_changes_names_keys_and_reads_quoted_values() -> None:
    old = f'key id "a b" type hmac-sha256 value "{HEX}"\nkey id c type hmac-sha256 value {HEX}\n'
    new = f'key id "a b" type hmac-sha256 value "{HEX.upper()}"\n'
    new += f"key id c type hmac-sha256 value {B64}\n"
    assert key_changes(old, new) == ["c"]  # case of hex digits does not matter
    assert key_changes(None, new) == []


def test_masked_diff_both_ways_of_showing_a_changed_key() -> None:
    old = f"key id k type hmac-sha256 value {HEX}\nin deny\n"
    new = f"key id k type hmac-sha256 value {B64}\nin deny\n"
    shown = masked_diff(old, new, "n:/etc/babeld.conf")
    assert HEX not in shown and B64 not in shown
    assert f"-key id k type hmac-sha256 value {MASK}" in shown
    assert f"+key id k type hmac-sha256 value {MASK}" in shown
    assert masked_diff(old, new, "n:/etc/babeld.conf", key_lines=False) == ""
    assert masked_diff(old, old, "n:/p") == ""
    assert "n:/p (absent)" in masked_diff(None, new, "n:/p") and B64 not in masked_diff(
        None, new, "n:/p"
    )
