"""A babeld.conf parser and validator that knows babeld's grammar, per babeld version.

``parse_config(text, filename, version)`` returns a ``ParsedConfig``: the statements
(globals, interface/default lines, filters, keys) with their line numbers, the
merged per-interface configuration, the filter chains, and diagnostics:

* **errors** for every line babeld would refuse (it prints ``Couldn't parse
  configuration`` and exits), emulating its lexer and its number, address and
  prefix parsers (``strtol`` base 0 with ``int`` truncation, fixed-point seconds,
  ``inet_pton``, EUI-64 forms, 255-character words, quoted strings);
* **warnings** for what babeld accepts but is almost surely wrong: a filter on an
  interface babeld does not run on, a selector that can never match in its chain,
  prefix lengths that can never match, shadowed filters, options removed in newer
  babeld, ``rtt-max <= rtt-min``, tunnel hello intervals that make failover take
  minutes, the deprecated ``wired`` keyword, and more.

Verdicts are checked against the real babeld 1.12.1, 1.13.1 and 1.14 (see
tests/data/configs); rules for 1.10 and 1.11 follow babeld's sources and change log. Key
values are never stored: a ``KeyDef`` keeps only the key's id, type and length.

The package: ``parsed`` (what a parse returns, the versions), ``lexer`` (babeld's
lexer and value parsers), ``parser`` (the grammar and the whole-file checks).
"""

from __future__ import annotations

from collections.abc import Iterable

from meshtui.core.babelconf import parsed
from meshtui.core.babelconf.parsed import *  # noqa: F403 (what a parse returns: the package's types)
from meshtui.core.babelconf.parser import Parser

__all__ = [*parsed.__all__, "parse_config"]


def parse_config(
    text: str,
    filename: str = "babeld.conf",
    version: str | None = parsed.DEFAULT_VERSION,
    *,
    extra_interfaces: Iterable[str] = (),
) -> parsed.ParsedConfig:
    """Parse and validate a babeld.conf text as babeld ``version`` would (default 1.12).

    Args:
        text: the file's contents.
        filename: used in diagnostics.
        version: babeld version ("1.10" … "1.14", optionally with a patch level).
        extra_interfaces: interfaces given to babeld on its command line.

    Raises:
        ValueError: ``version`` is not a supported babeld version.
    """
    return Parser(text, filename, version or parsed.DEFAULT_VERSION, extra_interfaces).run()
