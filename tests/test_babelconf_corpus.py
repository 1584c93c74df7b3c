"""The config corpus: the validator's verdicts, and the real babelds agreeing with them.

A file's directory (``valid/``, ``invalid/``) is what every babeld release
operators run (1.12.1, 1.13.1, 1.14: ``BABELD_RELEASES``) does with it, except
the releases the file names on a ``# refused-by: 1.13.1 1.14`` line (in
``valid/``) or ``# accepted-by: ...`` line (in ``invalid/``). Debian's 1.12.1,
the validator's default, always agrees with the directory.

Reproduce the agreement check (one run per release; 1.13.1 and 1.14 are built
from ../shared/vendor/babeld, see tests/conftest.py) with:
    pytest -q tests/test_babelconf_corpus.py -k babeld
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import BABELD_RELEASES, DEBIAN_BABELD
from test_babelconf_harness import judge_files, requires_babeld

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


def _exceptions(path: Path, text: str) -> set[str]:
    """The releases that disagree with the file's directory (its marker line)."""
    marker = "refused-by" if path.parent.name == "valid" else "accepted-by"
    found = re.findall(rf"^# {marker}:(.*?)\r?$", text, re.M)
    return {v for line in found for v in line.split()}


def _accepts(path: Path, version: str) -> bool:
    """What babeld ``version`` does with the corpus file ``path``, as the corpus says."""
    return (path.parent.name == "valid") != (version in _exceptions(path, _read(path)))


def test_markers_name_known_releases_other_than_debians():
    for path in ALL:
        text = _read(path)
        assert _exceptions(path, text) <= set(BABELD_RELEASES) - {DEBIAN_BABELD}, path.name
        wrong = "accepted-by" if path.parent.name == "valid" else "refused-by"
        assert f"# {wrong}:" not in text, f"{path.name}: {wrong} in {path.parent.name}/"


@pytest.mark.parametrize("version", [v for v in BABELD_RELEASES if v != DEBIAN_BABELD])
@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_validator_verdict_per_release(path, version):
    parsed = parse_config(_read(path), path.name, version)
    assert parsed.ok == _accepts(path, version), [d.format() for d in parsed.errors]
    for d in parsed.errors:
        assert d.file == path.name and d.line >= 1 and d.version == version


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
def test_real_babeld_agrees_with_the_validator(babeld_release):
    """Each release accepts exactly the corpus files the validator accepts for it."""
    version = babeld_release.version
    verdicts = judge_files(((p.name, _read(p)) for p in ALL), babeld=babeld_release.path)
    problems = []
    for path in ALL:
        verdict = verdicts[path.name]
        if verdict.harness_error:
            problems.append(f"{path.name}: harness: {verdict.harness_error}")
            continue
        parsed = parse_config(_read(path), path.name, version, extra_interfaces=["eth0"])
        if parsed.ok != verdict.accepted:
            problems.append(
                f"{path.name}: babeld {version} {'accepts' if verdict.accepted else 'refuses'}, "
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
        if verdict.accepted != _accepts(path, version):
            problems.append(
                f"{path.name}: filed under {path.parent.name}/ (except for "
                f"{sorted(_exceptions(path, _read(path))) or 'no release'}), babeld {version} "
                f"{'accepts' if verdict.accepted else 'refuses'} it"
            )
    assert not problems, "\n".join(problems)
