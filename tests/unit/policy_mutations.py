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

MUTATIONS = [
    "unknown-key",
    "wrong-type",
    "drop-required",
    "bad-cron",
    "bad-timezone",
    "bad-offset",
    "gate-on-itself-or-unknown",
    "gate-on-first-batch",
    "promotion-cycle",
    "unknown-patch-group",
    "patch-group-twice",
    "bad-approval-delay",
    "bad-filter-value",
    "secret-not-a-name",
    "bad-email",
    "bad-rate-control",
    "bad-name",
    "bad-window",
    "bad-naming-convention",
    "bad-remediation",
    "bad-launch",
    "not-a-mapping",
]


@st.composite
def malformed_policies(draw: st.DrawFn) -> Case:
    mutation = draw(st.sampled_from(MUTATIONS))
    data = copy.deepcopy(BASE)
    case = Case(mutation, data)
    wave = draw(st.sampled_from(WAVES))
    env = draw(st.sampled_from(ENVIRONMENTS))
    batches = data["waves"][wave]["batches"]
    match mutation:
        case "unknown-key":
            loc = draw(st.sampled_from(OBJECTS))
            target = _get(data, loc)
            key = draw(
                st.text(min_size=1, max_size=16).filter(
                    lambda k: k not in target and not (loc == () and k.startswith("x-"))
                )
            )
            target[key] = draw(st.integers() | st.text(max_size=5))
            case.expected = [(*loc, key)]
        case "wrong-type":
            loc, current = draw(st.sampled_from(NODES[1:]))
            _set(data, loc, draw(wrong_type_for(current)))
            case.expected = [loc]
        case "drop-required":
            loc = draw(st.sampled_from(REQUIRED))
            del _get(data, loc[:-1])[loc[-1]]
            case.expected = [loc]
        case "bad-cron":
            data["waves"][wave]["schedule"]["cron"] = draw(bad_cron)
            case.expected = [("waves", wave, "schedule", "cron")]
        case "bad-timezone":
            data["waves"][wave]["schedule"]["timezone"] = draw(bad_timezone)
            case.expected = [("waves", wave, "schedule", "timezone")]
        case "bad-offset":
            schedule = data["waves"][wave]["schedule"]
            if draw(st.booleans()):
                schedule["offset_days"] = draw(st.integers(-1000, -1) | st.integers(15, 1000))
                case.expected = [("waves", wave, "schedule", "offset_days")]
            else:
                # SSM offsets only an n-th weekday, and cannot move one past the 4th.
                schedule["cron"] = draw(
                    st.sampled_from(
                        ["cron(0 6 ? * SAT *)", "cron(0 6 1 * ? *)", "cron(0 6 ? * 6L *)"]
                    )
                )
                schedule["offset_days"] = draw(st.integers(1, 14))
                case.expected = [("waves", wave, "schedule")]
        case "gate-on-itself-or-unknown":
            index = draw(st.integers(1, len(batches) - 1))
            names = {b["name"] for b in batches}
            checked = draw(
                st.sampled_from([batches[index]["name"]])
                | st.text(min_size=1, max_size=12).filter(lambda n: n not in names)
            )
            earlier = [b["name"] for b in batches[:index]]
            position = draw(st.integers(0, len(earlier)))
            gate = batches[index].setdefault("gate", {})
            gate["batches"] = [*earlier[:position], checked, *earlier[position:]]
            case.expected = [("waves", wave, "batches", index, "gate", "batches", position)]
        case "gate-on-first-batch":
            batches[0]["gate"] = draw(
                st.sampled_from([{}, {"max_failed": 0}, {"bake_minutes": 10}])
            )
            case.expected = [("waves", wave, "batches", 0, "gate")]
        case "promotion-cycle":
            kind = draw(st.sampled_from(["self", "pair", "unknown"]))
            if kind == "self":
                data["waves"][wave]["promote_from"] = wave
                case.expected = [("waves", wave, "promote_from")]
            elif kind == "pair":
                data["waves"]["test"]["promote_from"] = "prod"
                data["waves"]["prod"]["promote_from"] = "test"
                case.expected = [("waves", w, "promote_from") for w in WAVES]
            else:
                data["waves"][wave]["promote_from"] = draw(
                    bad_names | st.text(min_size=1, max_size=8).filter(lambda w: w not in WAVES)
                )
                case.expected = [("waves", wave, "promote_from")]
        case "unknown-patch-group":
            index = draw(st.integers(0, len(batches) - 1))
            groups = batches[index]["patch_groups"]
            position = draw(st.integers(0, len(groups) - 1))
            groups[position] = draw(group_names)
            case.expected = [("waves", wave, "batches", index, "patch_groups", position)]
        case "patch-group-twice":
            if draw(st.booleans()):
                # One group in two environments: two baselines per OS.
                other = next(e for e in ENVIRONMENTS if e != env)
                group = draw(st.sampled_from(data["environments"][other]["patch_groups"]))
                groups = data["environments"][env]["patch_groups"]
                groups.append(group)
                first = data["environments"][other]["patch_groups"].index(group)
                case.expected = [
                    ("environments", env, "patch_groups", len(groups) - 1),
                    ("environments", other, "patch_groups", first),
                ]
            else:
                # One group in two batches.
                other_wave = draw(st.sampled_from(WAVES))
                other_batches = data["waves"][other_wave]["batches"]
                source = draw(st.integers(0, len(batches) - 1))
                target = draw(st.integers(0, len(other_batches) - 1))
                group = batches[source]["patch_groups"][0]
                if other_wave == wave and target == source:
                    target = (source + 1) % len(batches)
                other_batches[target]["patch_groups"].append(group)
                case.expected = [
                    ("waves", wave, "batches", source, "patch_groups", 0),
                    (
                        "waves",
                        other_wave,
                        "batches",
                        target,
                        "patch_groups",
                        len(other_batches[target]["patch_groups"]) - 1,
                    ),
                ]
        case "bad-approval-delay":
            baselines = data["environments"][env]["baselines"]
            os_name = draw(st.sampled_from(sorted(baselines)))
            rules = baselines[os_name]["approval_rules"]
            rule_index = draw(st.integers(0, len(rules) - 1))
            rule_loc: Loc = (
                "environments",
                env,
                "baselines",
                os_name,
                "approval_rules",
                rule_index,
            )
            out_of_range = st.integers(-(10**6), -1) | st.integers(361, 10**6)
            kind = draw(st.sampled_from(["rule-days", "env-days", "both", "none", "date"]))
            if kind == "rule-days":
                rules[rule_index]["approve_after_days"] = draw(out_of_range)
                case.expected = [(*rule_loc, "approve_after_days")]
            elif kind == "env-days":
                data["environments"][env]["approve_after_days"] = draw(out_of_range)
                case.expected = [("environments", env, "approve_after_days")]
            elif kind == "both":
                rules[rule_index]["approve_after_days"] = draw(st.integers(0, 360))
                rules[rule_index]["approve_until_date"] = "2026-11-01"
                case.expected = [rule_loc]
            elif kind == "none":
                # Neither the rules nor the environment say how long to wait.
                del data["environments"][env]["approve_after_days"]
                case.expected = [("environments", env, "baselines")]
            else:
                rules[rule_index]["approve_until_date"] = draw(
                    st.sampled_from(["2026-13-01", "2026-02-30", "yesterday", "01/11/2026", ""])
                )
                case.expected = [(*rule_loc, "approve_until_date")]
        case "bad-filter-value":
            rule_loc, name, valid = draw(st.sampled_from(CLOSED_FILTERS))
            values = _get(data, rule_loc).setdefault(name, [])
            position = draw(st.integers(0, len(values)))
            values.insert(position, draw(bad_filter_value(valid)))
            case.expected = [(*rule_loc, name, position)]
        case "secret-not-a-name":
            data["notifications"]["slack"]["webhook_secret"] = draw(bad_secret)
            case.expected = [("notifications", "slack", "webhook_secret")]
        case "bad-email":
            emails = data["notifications"]["sns"]["email"]
            position = draw(st.integers(0, len(emails)))
            emails.insert(position, draw(bad_email))
            case.expected = [("notifications", "sns", "email", position)]
        case "bad-rate-control":
            index = draw(st.integers(0, len(batches) - 1))
            name = draw(st.sampled_from(["max_concurrency", "max_errors"]))
            batches[index][name] = draw(
                bad_concurrency if name == "max_concurrency" else bad_errors
            )
            case.expected = [("waves", wave, "batches", index, name)]
        case "bad-name":
            where = draw(st.sampled_from(["batch", "wave", "environment"]))
            new = draw(bad_names)
            if where == "batch":
                index = draw(st.integers(0, len(batches) - 1))
                batches[index]["name"] = new
                case.expected = [("waves", wave, "batches", index, "name")]
            elif where == "wave":
                _rename_key(data["waves"], wave, new)
                case.expected = [("waves", new)]
            else:
                _rename_key(data["environments"], env, new)
                case.expected = [("environments", new)]
        case "bad-window":
            window = data["waves"][wave]["window"]
            if draw(st.booleans()):
                window["duration_hours"] = draw(st.integers(1, 23))
                window["cutoff_hours"] = draw(st.integers(window["duration_hours"], 23))
                case.expected = [("waves", wave, "window")]
            else:
                name = draw(st.sampled_from(["duration_hours", "cutoff_hours"]))
                window[name] = draw(st.integers(-100, -1) | st.integers(25, 1000))
                case.expected = [("waves", wave, "window", name)]
        case "bad-naming-convention":
            data["patch_group_naming"] = draw(bad_naming)
            case.expected = [("patch_group_naming",)]
        case "bad-remediation":
            remediation = data["compliance"]["remediation"]
            if draw(st.booleans()):
                unknown = draw(bad_names | st.sampled_from(["staging", "dev"]))
                remediation[unknown] = draw(st.sampled_from(["never", "scan", "install"]))
                case.expected = [("compliance", "remediation", unknown)]
            else:
                remediation[env] = draw(
                    (
                        st.sampled_from(["Install", "patch", "yes", "", "scan "])
                        | st.text(max_size=8)
                    ).filter(lambda action: action not in {"never", "scan", "install"})
                )
                case.expected = [("compliance", "remediation", env)]
        case "bad-launch":
            launch = data["launch"]
            name, bad = draw(
                st.sampled_from(
                    [
                        ("heartbeat_seconds", st.integers(-100, 29) | st.integers(7201, 10**6)),
                        ("agent_timeout_minutes", st.integers(-100, 0) | st.integers(2881, 10**6)),
                        ("command_timeout_minutes", st.integers(-100, 0)),
                        ("lifecycle_hooks", st.just([])),
                        ("on_failure", st.sampled_from(["ABANDON", "retry", ""])),
                        ("reboot", st.sampled_from(["Always", "rebootifneeded", ""])),
                    ]
                )
            )
            launch[name] = draw(bad)
            case.expected = [("launch", name)]
        case "not-a-mapping":
            case.data = draw(
                st.lists(st.integers(), max_size=3) | st.text(max_size=10) | st.integers()
            )
            case.expected = [()]
        case _:  # pragma: no cover - the list above is the whole catalogue
            raise AssertionError(mutation)
    return case
