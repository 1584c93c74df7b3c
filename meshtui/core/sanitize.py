"""The one sanitiser for outside text: makes control characters and escape sequences inert.

Everything meshtui did not write itself — babeld lines, configs (local or fetched
over SSH), recordings, inventories, SSH error strings — goes through
:func:`inert` before a terminal or a view shows it. The result is plain text that
a terminal cannot interpret:

* every character :meth:`str.isprintable` rejects is shown as its Python
  escape: C0 controls and ESC (``\\x1b``), DEL (``\\x7f``), C1 controls
  (``\\x9b``), bidi embeddings, overrides and isolates (``\\u202e``,
  ``\\u2066``), zero-width and other format characters, line/paragraph
  separators, unassigned and private-use code points, surrogates left by
  ``surrogateescape`` (``\\udcff``) and non-space blanks (``\\xa0``).
  An escape sequence thus loses its ESC and prints as harmless text
  (``\\x1b]0;title\\x07``).
* newlines and tabs: one-line text (``newlines=False``, the default: messages,
  table cells, log lines) shows them as ``\\n``, ``\\r`` and ``\\t``; multi-line
  text (``newlines=True``: a config or diff shown as a block) keeps ``\\n`` and
  ``\\t`` and still escapes ``\\r`` (a carriage return could overwrite what the
  line said).
* long lines are cut at ``limit`` characters (per line) with a marker saying
  how much was left out: ``…[+9000 chars]``.
* bytes are decoded as UTF-8 with ``errors="backslashreplace"``, so invalid
  UTF-8 shows as ``\\xff``.

The result contains no markup of any kind and must be shown as plain text
(a Rich ``Text``, never a markup string).
"""

from __future__ import annotations

__all__ = ["LINE_LIMIT", "decode", "inert"]

LINE_LIMIT = 2000
"""Default cap on one line of outside text, in characters."""

_ONE_LINE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def decode(data: bytes | bytearray | memoryview) -> str:
    """Bytes from outside as text: UTF-8, invalid bytes kept visible as ``\\xNN``."""
    return bytes(data).decode("utf-8", errors="backslashreplace")


def _escape(char: str) -> str:
    escaped = _ONE_LINE.get(char)
    if escaped is not None:
        return escaped
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _cap(line: str, limit: int | None) -> str:
    if limit is None or len(line) <= limit:
        return line
    return f"{line[:limit]}…[+{len(line) - limit} chars]"


class _Escapes(dict[int, str]):
    """``str.translate`` table: each code point to itself or its escape, filled as met."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        shown = char if char.isprintable() else _escape(char)
        if len(self) < 65536:  # a bounded cache, even for text made of every code point
            self[code] = shown
        return shown


_ESCAPES = _Escapes()


def _inert_line(line: str, limit: int | None) -> str:
    if not line.isprintable():
        line = line.translate(_ESCAPES)
    return _cap(line, limit)


def inert(
    text: object,
    *,
    newlines: bool = False,
    limit: int | None = LINE_LIMIT,
) -> str:
    """``text`` made safe to print or draw: control characters and escapes shown, not obeyed.

    Args:
        text: outside text; bytes are decoded as UTF-8 (invalid bytes as ``\\xNN``),
            anything else goes through ``str()`` first.
        newlines: keep ``\\n`` and ``\\t`` (a multi-line block); otherwise they are
            shown as ``\\n`` and ``\\t`` and the result is a single line.
        limit: the most characters kept per line (``None``: no cap); a longer line
            ends in ``…[+N chars]``.

    Returns:
        Printable text with no control character other than ``\\n`` and ``\\t``
        when ``newlines`` is true.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = decode(text)
    elif not isinstance(text, str):
        text = str(text)
    if text.isprintable() and (limit is None or len(text) <= limit):
        return text  # the common case: nothing to show differently
    if not newlines:
        return _inert_line(text, limit)
    return "\n".join(_inert_block_line(line, limit) for line in text.split("\n"))


def _inert_block_line(line: str, limit: int | None) -> str:
    if "\t" not in line:
        return _inert_line(line, limit)
    return _cap("\t".join(_inert_line(part, None) for part in line.split("\t")), limit)
