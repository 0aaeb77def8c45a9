"""Malformed policies, generated: ``policy/fleet.yaml`` broken one way each, with where.

The strategies of ``test_policy_properties``: :func:`malformed_policies` draws one of
:data:`MUTATIONS`, applies it to :data:`BASE` (the real policy) and names the locations
where the problem must be reported.
"""

from __future__ import annotations

import copy
import json
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from fleetpatch.patch_properties import (
    RULE_FILTERS,
    WILDCARD,
    allowed_values,
    filter_key,
    filter_keys,
)

EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"
# Through JSON: the YAML anchors make test and prod share their baselines; a mutation must
# change one place only.
BASE: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(EXAMPLE.read_text())))
BASE = {k: v for k, v in BASE.items() if not k.startswith("x-")}


Loc = tuple[str | int, ...]


@dataclass
class Case:
    mutation: str
    data: Any
    # The problem must be located at (or inside) one of these.
    expected: list[Loc] = field(default_factory=list)


# --- where things are -------------------------------------------------------------------------


def _is_name_map(loc: Loc) -> bool:
    """Mappings whose keys are names (environments, OSes...), not the fields of an object."""
    return (
        loc in {("environments",), ("waves",), ("compliance", "remediation")}
        or loc == ("launch", "auto_scaling_groups", "tags")
        or (len(loc) == 3 and loc[0] == "environments" and loc[2] == "baselines")
    )


def _nodes(value: Any, loc: Loc = ()) -> list[tuple[Loc, Any]]:
    found: list[tuple[Loc, Any]] = [(loc, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*loc, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _nodes(child, (*loc, index))
    return found


NODES = _nodes(BASE)
OBJECTS = [loc for loc, value in NODES if isinstance(value, dict) and not _is_name_map(loc)]
WAVES = sorted(BASE["waves"])
ENVIRONMENTS = sorted(BASE["environments"])
ALL_GROUPS = {g for env in BASE["environments"].values() for g in env["patch_groups"]}


def _required() -> list[Loc]:
    """Keys the policy cannot do without (no default), wherever the example has them."""
    required: list[Loc] = [("version",), ("environments",)]
    for env in ENVIRONMENTS:
        required += [("environments", env, "patch_groups"), ("environments", env, "baselines")]
    for wave in WAVES:
        required += [("waves", wave, "schedule"), ("waves", wave, "batches")]
        required.append(("waves", wave, "schedule", "cron"))
        for index, _ in enumerate(BASE["waves"][wave]["batches"]):
            required += [
                ("waves", wave, "batches", index, "name"),
                ("waves", wave, "batches", index, "patch_groups"),
            ]
    required.append(("notifications", "slack", "webhook_secret"))
    return required


REQUIRED = _required()


def _closed_filters() -> list[tuple[Loc, str, tuple[str, ...]]]:
    """(rule, field, valid values) for every rule field whose OS key has a closed list."""
    found = []
    for env, environment in BASE["environments"].items():
        for os_name, baseline in environment["baselines"].items():
            for index, _ in enumerate(baseline.get("approval_rules", [])):
                rule: Loc = ("environments", env, "baselines", os_name, "approval_rules", index)
                for name in RULE_FILTERS:
                    key = filter_key(name, os_name)
                    values = allowed_values(os_name, key) if key in filter_keys(os_name) else None
                    if values is not None:
                        found.append((rule, name, values))
    return found


CLOSED_FILTERS = _closed_filters()


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _set(data: Any, loc: Loc, value: Any) -> None:
    _get(data, loc[:-1])[loc[-1]] = value


def _rename_key(mapping: dict[str, Any], old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


# --- generated values -------------------------------------------------------------------------

BOOLISH = {"true", "false", "yes", "no", "on", "off", "1", "0", "t", "f", "y", "n"}
text_not_numeric = st.text(max_size=12).filter(
    lambda s: not re.fullmatch(r"\s*[-+]?[0-9_]*\.?[0-9_]*\s*", s)
)


def wrong_type_for(current: Any) -> st.SearchStrategy[Any]:
    """JSON values no field of ``current``'s type accepts (a bool is not a count, etc.)."""
    objects = st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=2)
    lists = st.lists(st.integers(), max_size=2)
    if isinstance(current, bool):
        return st.one_of(
            objects,
            lists,
            st.integers().filter(lambda n: n not in {0, 1}),
            st.sampled_from([0, 1, 0.0, 1.0]),  # numbers are not true or false
            st.text(max_size=8),  # nor is text, "yes" included: YAML reads yes unquoted
        )
    if isinstance(current, int):
        return st.one_of(
            objects,
            lists,
            st.booleans(),  # YAML reads `yes` as true: never a count of 1
            st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
            text_not_numeric,
        )
    if isinstance(current, str):
        return st.one_of(objects, lists, st.booleans(), st.floats(allow_nan=False))
    if isinstance(current, list):
        return st.one_of(objects, st.text(max_size=8), st.integers(), st.booleans())
    return st.one_of(lists, st.text(max_size=8), st.integers(), st.booleans())


bad_cron = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "rate(1 day)",
            "at(2026-11-07T06:00:00)",
            "cron(0 6 ? * SAT#1)",  # five fields
            "cron(0 6 ? * SAT#1 * *)",  # seven
            "cron(0 6 * * SAT#1 *)",  # no '?'
            "cron(0 6 ? * ? *)",  # two
            "0 6 ? * SAT#1 *",  # no cron(...)
            "cron(0 6 30 2 ? *)",  # 30 February: never runs
            "cron(0 6 31 4,6,9,11 ? *)",  # 31 April, June...: never runs
            "cron(0 6 ? * SAT#1 1969)",
        ]
    ),
    # One field out of its range or spelled wrong, the others as in the example.
    st.tuples(
        st.sampled_from([0, 1, 3, 4, 5]),  # day-of-month stays '?'
        st.sampled_from(["60", "-1", "99", "*/0", "5-1", "X", "?", "#", "1,,2", "L"]),
    )
    .filter(lambda c: c != (4, "L"))  # L alone is a valid day-of-week (Saturday)
    .map(lambda c: _cron_with(*c)),
)


def _cron_with(index: int, token: str) -> str:
    fields = ["0", "6", "?", "*", "SAT#1", "*"]
    fields[index] = token
    return f"cron({' '.join(fields)})"


IANA = zoneinfo.available_timezones()
bad_timezone = st.one_of(
    st.sampled_from(
        [
            "",
            "Europe/zurich",
            "Europe/Zurich ",
            "Europe/",
            "Europe",
            "../etc/passwd",
            "/etc/localtime",
            "Europe/Zurich/Old",
            "UTC+1",
            "+01:00",
            "CEST",
        ]
    ),
    st.text(max_size=30),
).filter(lambda name: name not in IANA)

group_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/=+@- ",
    min_size=1,
    max_size=40,
).filter(lambda g: g not in ALL_GROUPS)
bad_names = st.one_of(
    st.sampled_from(["Test", "1st", "-test", "test_wave", "test wave", "a" * 32, ""]),
    st.text(max_size=12).filter(lambda s: not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", s)),
)
bad_secret = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz/", max_size=40).map(
        lambda path: f"https://hooks.slack.com/services/{path}"
    ),
    st.sampled_from(["http://", "HTTPS://", "hTtPs://"]).flatmap(
        lambda scheme: st.text(min_size=1, max_size=20).map(lambda rest: scheme + rest)
    ),
    st.sampled_from(["xoxb-", "xoxp-", "xapp-", "XOXB-"]).flatmap(
        lambda prefix: st.text(max_size=30).map(lambda rest: prefix + rest)
    ),
    st.just(""),
    st.just("a" * 513),
    # A character no secret name has: space, quote, comma, non-ASCII...
    st.tuples(st.text(max_size=10), st.sampled_from(" \"',;!?#%&*()[]{}<>|\\^`~é\n")).map(
        lambda c: c[0] + c[1]
    ),
)
bad_email = st.one_of(
    st.sampled_from(["", "patching", "patching@", "@example.com", "a@b", "a b@example.com"]),
    st.text(alphabet="abc@. ", max_size=12).filter(
        lambda s: not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s)
    ),
)
bad_concurrency = st.one_of(
    st.sampled_from(["0", "0%", "101%", "100000", "1.5", "-1", "50 %", "%", "", "ten"]),
    st.integers(100_000, 10**9).map(str),
)
bad_errors = st.one_of(
    st.sampled_from(["101%", "100000", "1.5", "-1", "1 %", "%", "", "none"]),
    st.integers(-(10**6), -1),
)


@st.composite
def typo_of(draw: st.DrawFn, word: str) -> str:
    """``word`` with one slip of the keyboard: a letter dropped, doubled, changed or cased."""
    at = draw(st.integers(0, len(word) - 1))
    slip = draw(st.sampled_from(["drop", "double", "change", "case", "append"]))
    if slip == "drop":
        return word[:at] + word[at + 1 :]
    if slip == "double":
        return word[:at] + word[at] + word[at:]
    if slip == "change":
        return word[:at] + draw(st.sampled_from("aeiouxz")) + word[at + 1 :]
    if slip == "case":
        return word[:at] + word[at].swapcase() + word[at + 1 :]
    return word + draw(st.sampled_from(["s", " ", "-", "2222"]))


def bad_filter_value(valid: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid).flatmap(typo_of), st.text(max_size=20)).filter(
        lambda value: value not in valid and value != WILDCARD
    )


bad_naming = st.sampled_from(
    [
        "patch_{environment}_{hhmm}_batch_{batch}_{batch}",
        "{environment}{environment}",
        "patch_{env}_{batch}",
        "patch_{}_{batch}",
        "patch_{environment_{batch}",
        "patch_environment}_{batch}",
        "patch_{{batch}}",
    ]
)


# --- the mutations ----------------------------------------------------------------------------


@dataclass
class Mutating:
    """One draft being broken: the drawn wave and environment, and the policy to change."""

    draw: st.DrawFn
    data: Any
    wave: str
    env: str
    batches: list[dict[str, Any]]


def _unknown_key(m: Mutating) -> list[Loc]:
    loc = m.draw(st.sampled_from(OBJECTS))
    target = _get(m.data, loc)
    key = m.draw(
        st.text(min_size=1, max_size=16).filter(
            lambda k: k not in target and not (loc == () and k.startswith("x-"))
        )
    )
    target[key] = m.draw(st.integers() | st.text(max_size=5))
    return [(*loc, key)]


def _wrong_type(m: Mutating) -> list[Loc]:
    loc, current = m.draw(st.sampled_from(NODES[1:]))
    wrong = wrong_type_for(current)  # a batch's `serving: false` is no wrong type
    keep = (lambda v: v is not False) if loc[0] == "waves" and loc[-1] == "serving" else None
    _set(m.data, loc, m.draw(wrong.filter(keep) if keep else wrong))
    return [loc]


def _drop_required(m: Mutating) -> list[Loc]:
    loc = m.draw(st.sampled_from(REQUIRED))
    del _get(m.data, loc[:-1])[loc[-1]]
    return [loc]


def _bad_cron(m: Mutating) -> list[Loc]:
    m.data["waves"][m.wave]["schedule"]["cron"] = m.draw(bad_cron)
    return [("waves", m.wave, "schedule", "cron")]


def _bad_timezone(m: Mutating) -> list[Loc]:
    m.data["waves"][m.wave]["schedule"]["timezone"] = m.draw(bad_timezone)
    return [("waves", m.wave, "schedule", "timezone")]


def _bad_offset(m: Mutating) -> list[Loc]:
    schedule = m.data["waves"][m.wave]["schedule"]
    if m.draw(st.booleans()):
        schedule["offset_days"] = m.draw(st.integers(-1000, -1) | st.integers(15, 1000))
        return [("waves", m.wave, "schedule", "offset_days")]
    # SSM offsets only an n-th weekday, and cannot move one past the 4th.
    schedule["cron"] = m.draw(
        st.sampled_from(["cron(0 6 ? * SAT *)", "cron(0 6 1 * ? *)", "cron(0 6 ? * 6L *)"])
    )
    schedule["offset_days"] = m.draw(st.integers(1, 14))
    return [("waves", m.wave, "schedule")]


def _gate_on_itself_or_unknown(m: Mutating) -> list[Loc]:
    batches = m.batches
    index = m.draw(st.integers(1, len(batches) - 1))
    names = {b["name"] for b in batches}
    checked = m.draw(
        st.sampled_from([batches[index]["name"]])
        | st.text(min_size=1, max_size=12).filter(lambda n: n not in names)
    )
    earlier = [b["name"] for b in batches[:index]]
    position = m.draw(st.integers(0, len(earlier)))
    gate = batches[index].setdefault("gate", {})
    gate["batches"] = [*earlier[:position], checked, *earlier[position:]]
    return [("waves", m.wave, "batches", index, "gate", "batches", position)]


def _gate_on_first_batch(m: Mutating) -> list[Loc]:
    m.batches[0]["gate"] = m.draw(st.sampled_from([{}, {"max_failed": 0}, {"bake_minutes": 10}]))
    return [("waves", m.wave, "batches", 0, "gate")]


def _promotion_cycle(m: Mutating) -> list[Loc]:
    waves = m.data["waves"]
    kind = m.draw(st.sampled_from(["self", "pair", "unknown"]))
    if kind == "self":
        waves[m.wave]["promote_from"] = m.wave
        return [("waves", m.wave, "promote_from")]
    if kind == "pair":
        waves["test"]["promote_from"] = "prod"
        waves["prod"]["promote_from"] = "test"
        return [("waves", w, "promote_from") for w in WAVES]
    waves[m.wave]["promote_from"] = m.draw(
        bad_names | st.text(min_size=1, max_size=8).filter(lambda w: w not in WAVES)
    )
    return [("waves", m.wave, "promote_from")]


def _unknown_patch_group(m: Mutating) -> list[Loc]:
    index = m.draw(st.integers(0, len(m.batches) - 1))
    groups = m.batches[index]["patch_groups"]
    position = m.draw(st.integers(0, len(groups) - 1))
    groups[position] = m.draw(group_names)
    return [("waves", m.wave, "batches", index, "patch_groups", position)]


def _patch_group_twice(m: Mutating) -> list[Loc]:
    if m.draw(st.booleans()):
        return _group_in_two_environments(m)
    return _group_in_two_batches(m)


def _group_in_two_environments(m: Mutating) -> list[Loc]:
    """Two baselines per OS."""
    environments, env = m.data["environments"], m.env
    other = next(e for e in ENVIRONMENTS if e != env)
    group = m.draw(st.sampled_from(environments[other]["patch_groups"]))
    groups = environments[env]["patch_groups"]
    groups.append(group)
    first = environments[other]["patch_groups"].index(group)
    return [
        ("environments", env, "patch_groups", len(groups) - 1),
        ("environments", other, "patch_groups", first),
    ]


def _group_in_two_batches(m: Mutating) -> list[Loc]:
    batches = m.batches
    other_wave = m.draw(st.sampled_from(WAVES))
    other_batches = m.data["waves"][other_wave]["batches"]
    source = m.draw(st.integers(0, len(batches) - 1))
    target = m.draw(st.integers(0, len(other_batches) - 1))
    group = batches[source]["patch_groups"][0]
    if other_wave == m.wave and target == source:
        target = (source + 1) % len(batches)
    other_groups = other_batches[target]["patch_groups"]
    other_groups.append(group)
    return [
        ("waves", m.wave, "batches", source, "patch_groups", 0),
        ("waves", other_wave, "batches", target, "patch_groups", len(other_groups) - 1),
    ]


def _bad_approval_delay(m: Mutating) -> list[Loc]:
    environment = m.data["environments"][m.env]
    baselines = environment["baselines"]
    os_name = m.draw(st.sampled_from(sorted(baselines)))
    rules = baselines[os_name]["approval_rules"]
    rule_index = m.draw(st.integers(0, len(rules) - 1))
    rule = rules[rule_index]
    rule_loc: Loc = ("environments", m.env, "baselines", os_name, "approval_rules", rule_index)
    out_of_range = st.integers(-(10**6), -1) | st.integers(361, 10**6)
    kind = m.draw(st.sampled_from(["rule-days", "env-days", "both", "none", "date"]))
    if kind == "rule-days":
        rule["approve_after_days"] = m.draw(out_of_range)
        return [(*rule_loc, "approve_after_days")]
    if kind == "env-days":
        environment["approve_after_days"] = m.draw(out_of_range)
        return [("environments", m.env, "approve_after_days")]
    if kind == "both":
        rule["approve_after_days"] = m.draw(st.integers(0, 360))
        rule["approve_until_date"] = "2026-11-01"
        return [rule_loc]
    if kind == "none":
        # Neither the rules nor the environment say how long to wait.
        del environment["approve_after_days"]
        return [("environments", m.env, "baselines")]
    rule["approve_until_date"] = m.draw(
        st.sampled_from(["2026-13-01", "2026-02-30", "yesterday", "01/11/2026", ""])
    )
    return [(*rule_loc, "approve_until_date")]


def _bad_filter_value(m: Mutating) -> list[Loc]:
    rule_loc, name, valid = m.draw(st.sampled_from(CLOSED_FILTERS))
    values = _get(m.data, rule_loc).setdefault(name, [])
    position = m.draw(st.integers(0, len(values)))
    values.insert(position, m.draw(bad_filter_value(valid)))
    return [(*rule_loc, name, position)]


def _secret_not_a_name(m: Mutating) -> list[Loc]:
    m.data["notifications"]["slack"]["webhook_secret"] = m.draw(bad_secret)
    return [("notifications", "slack", "webhook_secret")]


def _bad_email(m: Mutating) -> list[Loc]:
    emails = m.data["notifications"]["sns"]["email"]
    position = m.draw(st.integers(0, len(emails)))
    emails.insert(position, m.draw(bad_email))
    return [("notifications", "sns", "email", position)]


def _bad_rate_control(m: Mutating) -> list[Loc]:
    index = m.draw(st.integers(0, len(m.batches) - 1))
    name = m.draw(st.sampled_from(["max_concurrency", "max_errors"]))
    m.batches[index][name] = m.draw(bad_concurrency if name == "max_concurrency" else bad_errors)
    return [("waves", m.wave, "batches", index, name)]


def _bad_name(m: Mutating) -> list[Loc]:
    where = m.draw(st.sampled_from(["batch", "wave", "environment"]))
    new = m.draw(bad_names)
    if where == "batch":
        index = m.draw(st.integers(0, len(m.batches) - 1))
        m.batches[index]["name"] = new
        return [("waves", m.wave, "batches", index, "name")]
    if where == "wave":
        _rename_key(m.data["waves"], m.wave, new)
        return [("waves", new)]
    _rename_key(m.data["environments"], m.env, new)
    return [("environments", new)]


def _bad_window(m: Mutating) -> list[Loc]:
    window = m.data["waves"][m.wave]["window"]
    if m.draw(st.booleans()):
        window["duration_hours"] = m.draw(st.integers(1, 23))
        window["cutoff_hours"] = m.draw(st.integers(window["duration_hours"], 23))
        return [("waves", m.wave, "window")]
    name = m.draw(st.sampled_from(["duration_hours", "cutoff_hours"]))
    window[name] = m.draw(st.integers(-100, -1) | st.integers(25, 1000))
    return [("waves", m.wave, "window", name)]


def _bad_naming_convention(m: Mutating) -> list[Loc]:
    m.data["patch_group_naming"] = m.draw(bad_naming)
    return [("patch_group_naming",)]


def _bad_remediation(m: Mutating) -> list[Loc]:
    remediation = m.data["compliance"]["remediation"]
    if m.draw(st.booleans()):
        unknown = m.draw(bad_names | st.sampled_from(["staging", "dev"]))
        remediation[unknown] = m.draw(st.sampled_from(["never", "scan", "install"]))
        return [("compliance", "remediation", unknown)]
    remediation[m.env] = m.draw(
        (st.sampled_from(["Install", "patch", "yes", "", "scan "]) | st.text(max_size=8)).filter(
            lambda action: action not in {"never", "scan", "install"}
        )
    )
    return [("compliance", "remediation", m.env)]


BAD_LAUNCH_VALUES: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("heartbeat_seconds", st.integers(-100, 29) | st.integers(7201, 10**6)),
    ("agent_timeout_minutes", st.integers(-100, 0) | st.integers(2881, 10**6)),
    ("command_timeout_minutes", st.integers(-100, 0)),
    ("lifecycle_hooks", st.just([])),
    ("on_failure", st.sampled_from(["ABANDON", "retry", ""])),
    ("reboot", st.sampled_from(["Always", "rebootifneeded", ""])),
]


def _bad_launch(m: Mutating) -> list[Loc]:
    name, bad = m.draw(st.sampled_from(BAD_LAUNCH_VALUES))
    m.data["launch"][name] = m.draw(bad)
    return [("launch", name)]


def _not_a_mapping(m: Mutating) -> list[Loc]:
    m.data = m.draw(st.lists(st.integers(), max_size=3) | st.text(max_size=10) | st.integers())
    return [()]


# Each mutation breaks the draft and says where the problem must be reported. The order is
# part of the examples Hypothesis draws (and keeps in its database): append, never reorder.
MUTATORS: dict[str, Callable[[Mutating], list[Loc]]] = {
    "unknown-key": _unknown_key,
    "wrong-type": _wrong_type,
    "drop-required": _drop_required,
    "bad-cron": _bad_cron,
    "bad-timezone": _bad_timezone,
    "bad-offset": _bad_offset,
    "gate-on-itself-or-unknown": _gate_on_itself_or_unknown,
    "gate-on-first-batch": _gate_on_first_batch,
    "promotion-cycle": _promotion_cycle,
    "unknown-patch-group": _unknown_patch_group,
    "patch-group-twice": _patch_group_twice,
    "bad-approval-delay": _bad_approval_delay,
    "bad-filter-value": _bad_filter_value,
    "secret-not-a-name": _secret_not_a_name,
    "bad-email": _bad_email,
    "bad-rate-control": _bad_rate_control,
    "bad-name": _bad_name,
    "bad-window": _bad_window,
    "bad-naming-convention": _bad_naming_convention,
    "bad-remediation": _bad_remediation,
    "bad-launch": _bad_launch,
    "not-a-mapping": _not_a_mapping,
}
MUTATIONS = list(MUTATORS)


@st.composite
def malformed_policies(draw: st.DrawFn) -> Case:
    mutation = draw(st.sampled_from(MUTATIONS))
    data = copy.deepcopy(BASE)
    wave = draw(st.sampled_from(WAVES))
    env = draw(st.sampled_from(ENVIRONMENTS))
    draft = Mutating(draw, data, wave, env, data["waves"][wave]["batches"])
    expected = MUTATORS[mutation](draft)
    return Case(mutation, draft.data, expected)
