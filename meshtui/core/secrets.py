"""The one rule for key values: mask them wherever text may hold one, compare them unseen.

babeld.conf's key lines (``key id ID type T value V``) carry HMAC keys
(RFC 8967). :func:`mask_secrets` replaces every value with :data:`MASK` in
any text meshtui shows, logs or diffs: config files and their lines, diff lines
(``-``/``+``/`` `` prefixes), comments (a commented-out key is still a key),
several keys on one line, and free text such as an audit detail or an error
message. A value is masked whatever its form — hex, base64, any word, or a
quoted string with spaces (babeld's quoting, backslash escapes included). Outside
key lines, ``value HEX``/``value BASE64`` and any run of 32 or more hex digits
are masked too.

:func:`key_changes` names the keys whose values differ between two configs;
:func:`masked_diff` is the one diff of two configs, masked. Making control
characters inert is another rule, in :mod:`meshtui.core.sanitize`.
"""

from __future__ import annotations

import difflib
import hmac
import re

__all__ = ["MASK", "key_changes", "mask_secrets", "masked_diff"]

MASK = "<redacted>"

# A value: a quoted string (spaces and backslash escapes inside, maybe unterminated
# up to the end of the line) or a word (anything up to white space).
_TOKEN = r'"(?:[^"\\\r\n]|\\.)*"?|[^\s"]+'
_KEY_WORD = re.compile(r"\bkey\b", re.IGNORECASE)
_KEY_VALUE = re.compile(rf"(?P<head>\bvalue[ \t]+)(?P<value>{_TOKEN})", re.IGNORECASE)
_LOOSE_VALUE = re.compile(
    r"(?P<head>\bvalue[ \t]*[:=]?[ \t]*)"
    r"(?P<value>(?:0x)?[0-9A-Fa-f]{8,}|[A-Za-z0-9+/]{16,}={0,2})(?![A-Za-z0-9+/=])",
    re.IGNORECASE,
)
_LONG_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])")
# A key statement of babeld.conf, also as a diff line: its id and its value.
_KEY_STATEMENT = re.compile(r"^[-+ ]?[ \t]*key\b")
_KEY_ID = re.compile(rf"\bid[ \t]+({_TOKEN})")


def _masked(match: re.Match[str]) -> str:
    return match.group("head") + MASK


def _mask_line(line: str) -> str:
    key = _KEY_WORD.search(line)
    if key is not None:
        line = line[: key.end()] + _KEY_VALUE.sub(_masked, line[key.end() :])
    line = _LOOSE_VALUE.sub(_masked, line)
    return _LONG_HEX.sub(MASK, line)


def mask_secrets(text: str) -> str:
    """``text`` with every key value replaced by :data:`MASK` (line ends kept)."""
    return "".join(_mask_line(line) for line in text.splitlines(keepends=True))


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:].removesuffix('"'))
    return token


def _key_values(text: str) -> dict[str, str]:
    """{key id: value} of a config's key statements (lines without an id get a number)."""
    out: dict[str, str] = {}
    statements = (line for line in text.splitlines() if _KEY_STATEMENT.match(line))
    for n, line in enumerate(statements, start=1):
        value = _KEY_VALUE.search(line)
        if value is None:
            continue
        ident = _KEY_ID.search(line[: value.start()])
        name = _unquote(ident.group(1)) if ident else f"#{n} (no id)"
        out[name] = _unquote(value.group("value")).lower()
    return out


def key_changes(old: str | None, new: str) -> list[str]:
    """Names of the keys whose values differ between two configs (never the values)."""
    before = _key_values(old or "")
    after = _key_values(new)
    return sorted(
        name
        for name in before.keys() & after.keys()
        if not hmac.compare_digest(before[name].encode(), after[name].encode())
    )


def masked_diff(old: str | None, new: str, label: str, *, key_lines: bool = True) -> str:
    """A unified diff from ``old`` (the deployed config; None: absent) to ``new``, masked.

    Args:
        old: what the node has, or None when it has no such file.
        new: what meshtui generates.
        label: names both sides (``node:/etc/babeld.conf``).
        key_lines: a key whose value alone changed shows as a changed line whose
            two sides read the same (``value <redacted>``); False masks both texts
            before diffing, so such a key does not show (the caller names it with
            :func:`key_changes`).

    Empty when nothing differs. A last line without a newline is marked as such.
    """
    if not key_lines:
        old = mask_secrets(old) if old is not None else None
        new = mask_secrets(new)
    if old == new:
        return ""
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"{label} (deployed)" if old is not None else f"{label} (absent)",
        f"{label} (generated)",
    )
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(mask_secrets(line))
    return "".join(out)
