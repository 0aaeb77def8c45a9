"""Bad input, generated: ``policy/fleet.yaml`` mutated into malformed policies, each named.

Each case starts from the real policy and breaks it one way, in its structure (an unknown
key, a wrong type, a required key dropped) or in its meaning (a bad cron or time zone, an
offset SSM cannot express, a gate on itself or on an unknown batch, a promotion cycle, a
patch group no environment has or two places claim, approval delays out of range, an
approval-rule value AWS does not list for the baseline's OS, a URL or token where a secret's
name belongs, bad rate controls, names and naming conventions).
:func:`validate_policy` must raise :class:`InvalidPolicyError` (never a ``ValueError``,
``re.error``, pydantic ``ValidationError`` or anything else) with a problem located at the
mutated field; ``fleetpatch policy check`` must print it as ``FILE:LINE: path: message``
and exit 2, for junk YAML too.

Runs are derandomized and each test checks it ran its quota: ``MALFORMED_POLICIES_PER_RUN``
malformed policies in all.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.validate import validate_policy
from fleetpatch_authoring.yamlfile import one_line
from fleetpatch_cli import policy_cmd
from tests.unit.policy_mutations import BASE, EXAMPLE, MUTATIONS, Case, Loc, malformed_policies

# Deterministic: the same examples on every run and machine (no example database). No
# shrinking: a failure shows the case as generated, with its mutation and expected field,
# and shrinking several distinct failures took minutes.
PROPERTY = settings(
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUOTAS = {"malformed": 1000, "cli": 50, "junk_yaml": 40}
MALFORMED_POLICIES_PER_RUN = sum(QUOTAS.values())


# --- the properties ---------------------------------------------------------------------------


def _located(problem_loc: Loc, expected: Loc) -> bool:
    return problem_loc[: len(expected)] == expected


def assert_rejected_at(case: Case) -> InvalidPolicyError:
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(case.data)
    problems = raised.value.problems
    assert problems
    for problem in problems:
        assert problem.message, problem
        assert str(problem) == f"{problem.path}: {problem.message}"
    assert any(_located(p.loc, e) for p in problems for e in case.expected), (
        case.mutation,
        case.expected,
        [str(p) for p in problems],
    )
    return raised.value


class Count:
    def __init__(self) -> None:
        self.examples = 0
        self.by_mutation: dict[str, int] = {}

    def add(self, mutation: str = "") -> None:
        self.examples += 1
        self.by_mutation[mutation] = self.by_mutation.get(mutation, 0) + 1


def test_the_unmutated_policy_is_valid() -> None:
    # Every mutation starts from here: a base that failed would make every case pass.
    validate_policy(copy.deepcopy(BASE))


def test_malformed_policies_are_rejected_naming_the_mutated_field() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=QUOTAS["malformed"])
    @given(malformed_policies())
    def check(case: Case) -> None:
        count.add(case.mutation)
        assert_rejected_at(case)

    check()
    assert count.examples >= QUOTAS["malformed"]
    assert set(count.by_mutation) == set(MUTATIONS), count.by_mutation
    # (gate-on-first-batch has six distinct cases.)
    assert min(count.by_mutation.values()) >= 5, count.by_mutation


def _check_file(text: str) -> tuple[int, list[str]]:
    """``fleetpatch policy check`` on ``text``: its exit code and its stderr lines."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fleet.yaml"
        path.write_text(text)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = policy_cmd.check(path)
    return code, [line.removeprefix(str(path)) for line in stderr.getvalue().splitlines()]


def test_policy_check_prints_file_line_and_the_mutated_field() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=QUOTAS["cli"])
    @given(malformed_policies())
    def check(case: Case) -> None:
        count.add(case.mutation)
        code, lines = _check_file(yaml.safe_dump(case.data, sort_keys=False))
        assert code == policy_cmd.EXIT_INVALID
        *problems, total = lines
        assert re.fullmatch(r"[0-9]+ errors?", total), lines
        located = [re.fullmatch(r":([0-9]+): (\S+): (.+)", line) for line in problems]
        assert all(located), lines
        paths = {m[2] for m in located if m}
        # (as printed: with unprintable characters escaped, one problem per line)
        expected = {one_line(".".join(str(p) for p in e)) or "policy" for e in case.expected}
        assert any(
            p == e or p.startswith(e + ".") or e == "policy" for p in paths for e in expected
        ), (
            case.mutation,
            expected,
            lines,
        )

    check()
    assert count.examples >= QUOTAS["cli"]


junk_yaml = st.one_of(
    st.text(max_size=200).map(lambda t: "version: 1\n" + t),
    # The real file cut short or with one character changed.
    st.integers(0, 10**6).map(lambda n: EXAMPLE.read_text()[: n % len(EXAMPLE.read_text())]),
    st.tuples(st.integers(0, 10**6), st.sampled_from(list(":-[]{}&*!|>'\"%@`#\t"))).map(
        lambda c: _replace_char(EXAMPLE.read_text(), *c)
    ),
    # Nesting deeper than the YAML composer recurses.
    # (PyYAML scans deep flow nesting in quadratic time: one flow case, block ones vary.)
    st.just("[" * 1_000),
    st.integers(1_000, 3_000).map(lambda n: "- " * n + "x"),
)


def _replace_char(text: str, position: int, char: str) -> str:
    position %= len(text)
    return text[:position] + char + text[position + 1 :]


def test_junk_yaml_is_an_error_with_its_line_never_a_crash() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=QUOTAS["junk_yaml"])
    @given(junk_yaml)
    def check(text: str) -> None:
        code, lines = _check_file(text)
        if code == 0:
            return  # a changed character in a comment or a description: still valid
        count.add()
        assert code == policy_cmd.EXIT_INVALID
        assert lines, "an invalid file prints its errors"
        assert re.fullmatch(r"[0-9]+ errors?", lines[-1]), lines
        assert all(re.fullmatch(r"(:[0-9]+)?: \S+: .+", line) for line in lines[:-1]), lines

    check()
    assert count.examples >= QUOTAS["junk_yaml"] // 2


def test_the_quotas_add_up_to_a_thousand_malformed_policies() -> None:
    assert QUOTAS["malformed"] >= 1000
