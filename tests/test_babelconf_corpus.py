"""The config corpus: the validator's verdicts, and real babeld 1.12.1 agreeing with them.

Reproduce the agreement check with:
    pytest -q tests/test_babelconf_corpus.py -k babeld
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_babelconf_harness import babeld_version, judge_files, requires_babeld

from meshtui.core.babelconf import parse_config

CORPUS = Path(__file__).parent / "data" / "configs"
VALID = sorted((CORPUS / "valid").glob("*.conf"))
INVALID = sorted((CORPUS / "invalid").glob("*.conf"))
ALL = VALID + INVALID


def _read(path: Path) -> str:
    with path.open(newline="") as fh:  # keep CRLF files as they are
        return fh.read()


def _expected_warnings(text: str) -> list[str]:
    return re.findall(r"^# expect-warning: (.*?)\r?$", text, re.M)


def test_corpus_is_large_enough():
    assert len(VALID) >= 30 and len(INVALID) >= 30


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_files_have_no_errors(path):
    text = _read(path)
    parsed = parse_config(text, path.name, "1.12")
    assert parsed.ok, [d.format() for d in parsed.errors]
    for expected in _expected_warnings(text):
        assert any(expected in w.message for w in parsed.warnings), (
            expected,
            [d.format() for d in parsed.warnings],
        )


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_files_have_an_error(path):
    parsed = parse_config(_read(path), path.name, "1.12")
    assert not parsed.ok
    for d in parsed.errors:
        assert d.file == path.name and d.line >= 1 and d.version == "1.12"


@requires_babeld
def test_real_babeld_agrees_with_the_validator():
    """babeld 1.12.1 accepts exactly the corpus files the validator accepts."""
    if not babeld_version().startswith("1.12"):
        pytest.skip(f"the corpus verdicts are for babeld 1.12, this is {babeld_version()}")
    verdicts = judge_files((p.name, _read(p)) for p in ALL)
    problems = []
    for path in ALL:
        verdict = verdicts[path.name]
        if verdict.harness_error:
            problems.append(f"{path.name}: harness: {verdict.harness_error}")
            continue
        parsed = parse_config(_read(path), path.name, "1.12", extra_interfaces=["eth0"])
        if parsed.ok != verdict.accepted:
            problems.append(
                f"{path.name}: babeld {'accepts' if verdict.accepted else 'refuses'}, "
                f"validator says {[d.format() for d in parsed.errors] or 'ok'}; "
                f"babeld stderr: {verdict.stderr.strip()[-300:]!r}"
            )
        if not verdict.accepted and verdict.parse_error_line is not None and parsed.errors:
            # babeld counts the newline it read past, so it reports our line or the next.
            first = parsed.errors[0].line
            if verdict.parse_error_line not in (first, first + 1):
                problems.append(
                    f"{path.name}: babeld's error is at line {verdict.parse_error_line}, "
                    f"the validator's first error at line {first}"
                )
        expected_dir = "valid" if verdict.accepted else "invalid"
        if path.parent.name != expected_dir:
            problems.append(
                f"{path.name}: filed under {path.parent.name}/, babeld says {expected_dir}"
            )
    assert not problems, "\n".join(problems)
