"""CloudWatch on the local cloud: alarm types, composite alarms and alarm history as on AWS.

AWS: "If you omit [AlarmTypes], only metric alarms are returned, even if composite alarms
exist in the account" (DescribeAlarms and DescribeAlarmHistory, CloudWatch API reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
moto 5.2.5 returns both kinds whatever ``AlarmTypes`` says, which hides that a caller not
asking for composite alarms can never find one.

moto 5.2.5 also lacks PutCompositeAlarm, though its PutMetricAlarm already reads
``AlarmRule`` "to re-use this method for composite alarms": the local cloud routes one to
the other after checking the rule, so operators (and tests) can create composite alarms.
moto never evaluates a composite's rule; CloudWatch does whenever a child changes state
(and on creation): "It returns to its actual state only once any of its children alarms
change state" (SetAlarmState). Here a composite is ALARM when its rule holds, else OK,
re-evaluated on creation and when an alarm its rule names changes state. Rules use
ALARM/OK/INSUFFICIENT_DATA(name or ARN), TRUE, FALSE, NOT, AND, OR and parentheses;
anything else (AT_LEAST) is refused at creation rather than guessed.

moto 5.2.5 has no DescribeAlarmHistory, and stamps alarms with the wall clock. CloudWatch
keeps every state change ("Metric alarms return to their actual state quickly ... typically
only visible in the alarm's History tab ... or through DescribeAlarmHistory", SetAlarmState)
and keeps history after the alarm is deleted. Here every state change (SetAlarmState, a
composite re-evaluated) is a ``StateUpdate`` item on simulated time, shaped as CloudWatch's
(``HistorySummary`` "Alarm updated from OK to ALARM", ``HistoryData`` JSON with ``oldState``
and ``newState``); creating, updating and deleting an alarm are ``ConfigurationUpdate`` items
whose ``HistoryData`` is abbreviated to ``{"version", "type"}``. A state change is handed to
:data:`STATE_CHANGES` (the alarm evaluator runs the new state's actions; each is an
``Action`` item, :func:`record_action`). DescribeAlarmHistory filters
by name, AlarmTypes (metric alarms by default), HistoryItemType, StartDate and EndDate
(inclusive), orders by ScanBy (newest first by default) and pages by MaxRecords (1-100).

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_core.py):
``moto.cloudwatch.responses.CloudWatchResponse.describe_alarms`` wrapped (it returns an
``ActionResult`` whose ``result`` is ``{"MetricAlarms": [...], "CompositeAlarms": [...]}``);
``CloudWatchResponse.put_composite_alarm`` and ``describe_alarm_history`` added;
``moto.cloudwatch.models.CloudWatchBackend.set_alarm_state``, ``put_metric_alarm`` and
``delete_alarms`` wrapped (``alarms`` maps name -> ``Alarm``; an ``Alarm`` has ``name``,
``rule``, ``state_value``, ``state_reason`` and ``update_state``); the module-level
``moto.cloudwatch.models.utcnow`` replaced by the simulated clock.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from localcloud.adapters.sim_dates import utcnow
from localcloud.core import clock as sim
from localcloud.core import motopatch
from localcloud.core.registry import Slot

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

_TYPES = {"MetricAlarm": "MetricAlarms", "CompositeAlarm": "CompositeAlarms"}
# Who acts on a change of state (backend, alarm, old state): the alarm evaluator's actions
# (localcloud.adapters.alarm_evaluation), while it runs.
STATE_CHANGES: Slot[Callable[[Any, Any, str], None]] = Slot("alarm-state-changes")
_HISTORY = "_fleetpatch_alarm_history"
# A composite of composites re-evaluates its parents in turn; CloudWatch refuses cycles.
_MAX_COMPOSITE_DEPTH = 20


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.cloudwatch import models
    from moto.cloudwatch.responses import CloudWatchResponse

    original = CloudWatchResponse.describe_alarms
    if motopatch.is_patched(original):
        return

    def describe_alarms(self: Any) -> Any:
        answer = original(self)
        asked = self._get_param("AlarmTypes") or ["MetricAlarm"]
        result: dict[str, Any] = answer.result  # type: ignore[assignment]
        for alarm_type, key in _TYPES.items():
            if alarm_type not in asked:
                result[key] = []
        return answer

    motopatch.replace(CloudWatchResponse, "describe_alarms", describe_alarms)
    CloudWatchResponse.put_composite_alarm = _put_composite_alarm  # type: ignore[attr-defined]
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]
    models.utcnow = utcnow  # type: ignore[attr-defined]
    backend = models.CloudWatchBackend
    backend.set_alarm_state = _set_alarm_state(backend.set_alarm_state)
    backend.put_metric_alarm = _put_metric_alarm(backend.put_metric_alarm)
    backend.delete_alarms = _delete_alarms(backend.delete_alarms)


# --- composite alarm rules ----------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:([(),])|"((?:[^"\\]|\\.)*)"|([^\s(),"]+))')
_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")


class RuleError(ValueError):
    """An AlarmRule the local cloud cannot read."""


class Rule:
    """A composite alarm's AlarmRule, parsed: NOT binds tighter than AND, AND than OR."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = self._tokenize(text)
        self._at = 0
        self.children: set[str] = set()
        self._tree = self._or()
        if self._at != len(self._tokens):
            raise RuleError(f"unexpected {self._tokens[self._at]!r} in AlarmRule {text!r}")

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens, at = [], 0
        while at < len(text.rstrip()):
            match = _TOKEN.match(text, at)
            if match is None:
                raise RuleError(f"cannot read AlarmRule {text!r} at {at}")
            punct, quoted, bare = match.groups()
            tokens.append(punct or (f'"{quoted}"' if quoted is not None else bare))
            at = match.end()
        return tokens

    def _peek(self) -> str | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise RuleError(f"expected {expected or 'more'} in AlarmRule {self.text!r}")
        self._at += 1
        return token

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "OR":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "AND":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        word = self._take()
        if word == "NOT":
            return ("not", self._not())
        if word == "(":
            node = self._or()
            self._take(")")
            return node
        if word in ("TRUE", "FALSE"):
            return ("const", word == "TRUE")
        if word in _STATES:
            self._take("(")
            name = self._take().strip('"')
            self._take(")")
            # An alarm is named by its name or its ARN (...:alarm:<name>).
            name = name.split(":alarm:", 1)[1] if ":alarm:" in name else name
            self.children.add(name)
            return ("state", word, name)
        raise RuleError(f"the local cloud does not evaluate {word!r} (AlarmRule {self.text!r})")

    def holds(self, states: Mapping[str, str]) -> bool:
        return bool(self._eval(self._tree, states))

    def _eval(self, node: Any, states: Mapping[str, str]) -> bool:
        kind = node[0]
        if kind == "const":
            return bool(node[1])
        if kind == "state":
            return bool(states.get(node[2]) == node[1])
        if kind == "not":
            return not self._eval(node[1], states)
        left, right = self._eval(node[1], states), self._eval(node[2], states)
        return (left and right) if kind == "and" else (left or right)


def _put_composite_alarm(self: Any) -> Any:
    from moto.cloudwatch.exceptions import ValidationError

    try:
        Rule(self._get_param("AlarmRule") or "")
    except RuleError as exc:
        raise ValidationError(str(exc)) from exc
    return self.put_metric_alarm()


def _propagate(backend: Any, changed: set[str]) -> None:
    """Re-evaluate the composites whose rules name a changed alarm, then their parents."""
    for _ in range(_MAX_COMPOSITE_DEPTH):
        states = {name: alarm.state_value for name, alarm in backend.alarms.items()}
        following: set[str] = set()
        for alarm in list(backend.alarms.values()):
            if alarm.rule is None:
                continue
            rule = Rule(alarm.rule)
            if rule.children & changed and _evaluate(backend, alarm, rule, states):
                following.add(alarm.name)
        if not following:
            return
        changed = following


def _evaluate(backend: Any, alarm: Any, rule: Rule, states: Mapping[str, str]) -> bool:
    """Set the composite's state from its rule; True when it changed."""
    value = "ALARM" if rule.holds(states) else "OK"
    if value == alarm.state_value:
        return False
    before = (alarm.state_value, alarm.state_reason)
    alarm.update_state(f"AlarmRule {rule.text} evaluated to {value == 'ALARM'}", "{}", value)
    _record_state(backend, alarm, before)
    return True


# --- history ------------------------------------------------------------------------------------


def _history(backend: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = backend.__dict__.setdefault(_HISTORY, [])
    return found


def _alarm_type(alarm: Any) -> str:
    return "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"


def _record_state(backend: Any, alarm: Any, before: tuple[str, str]) -> None:
    old_value, old_reason = before
    new_state: dict[str, Any] = {"stateValue": alarm.state_value, "stateReason": alarm.state_reason}
    if alarm.state_reason_data not in (None, "", "{}"):
        new_state["stateReasonData"] = json.loads(alarm.state_reason_data)
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old_value, "stateReason": old_reason},
        "newState": new_state,
    }
    _history(backend).append(
        {
            "AlarmName": alarm.name,
            "AlarmType": _alarm_type(alarm),
            "Timestamp": sim.current().now(),
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old_value} to {alarm.state_value}",
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
    )
    acting = STATE_CHANGES.get()
    if acting is not None:
        acting(backend, alarm, old_value)


def record_action(backend: Any, alarm: Any, summary: str, error: str) -> None:
    """An ``Action`` history item: an alarm action executed, or why it failed."""
    data: dict[str, Any] = {"actionState": "Failed" if error else "Succeeded"}
    if error:
        data["error"] = error
    _history(backend).append(
        {
            "AlarmName": alarm.name,
            "AlarmType": _alarm_type(alarm),
            "Timestamp": sim.current().now(),
            "HistoryItemType": "Action",
            "HistorySummary": summary,
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
    )


def _record_configuration(backend: Any, name: str, alarm_type: str, change: str) -> None:
    _history(backend).append(
        {
            "AlarmName": name,
            "AlarmType": alarm_type,
            "Timestamp": sim.current().now(),
            "HistoryItemType": "ConfigurationUpdate",
            "HistorySummary": f'Alarm "{name}" {change.lower()}d',
            "HistoryData": json.dumps({"version": "1.0", "type": change}, separators=(",", ":")),
        }
    )


def _set_alarm_state(original: Any) -> Any:
    @functools.wraps(original)
    def set_alarm_state(
        self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        alarm = self.alarms.get(alarm_name)
        before = (alarm.state_value, alarm.state_reason) if alarm is not None else None
        original(self, alarm_name, reason, reason_data, state_value)  # validates, raises
        alarm = self.alarms[alarm_name]
        # CloudWatch records (and acts on) a change of state, not a repeated one.
        if before is not None and before[0] != alarm.state_value:
            _record_state(self, alarm, before)
            _propagate(self, {alarm_name})

    return set_alarm_state


def _put_metric_alarm(original: Any) -> Any:
    @functools.wraps(original)
    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existed = name in self.alarms
        alarm = original(self, name, *args, **kwargs)
        _record_configuration(self, name, _alarm_type(alarm), "Update" if existed else "Create")
        if alarm.rule is not None:
            states = {n: a.state_value for n, a in self.alarms.items()}
            if _evaluate(self, alarm, Rule(alarm.rule), states):
                _propagate(self, {name})
        return alarm

    return put_metric_alarm


def _delete_alarms(original: Any) -> Any:
    @functools.wraps(original)
    def delete_alarms(self: Any, alarm_names: list[str]) -> None:
        deleted = [(n, _alarm_type(self.alarms[n])) for n in alarm_names if n in self.alarms]
        original(self, alarm_names)
        for name, alarm_type in deleted:
            _record_configuration(self, name, alarm_type, "Delete")

    return delete_alarms


@functools.cache
def _history_input() -> Any:
    from moto.core.utils import get_service_model

    return get_service_model("cloudwatch").operation_model("DescribeAlarmHistory").input_shape


def _describe_alarm_history(self: Any) -> Any:
    from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
    from moto.core.responses import ActionResult

    members = _history_input().members
    name = self._get_param("AlarmName")
    types = self._get_param("AlarmTypes") or ["MetricAlarm"]
    item_type = self._get_param("HistoryItemType")
    scan_by = self._get_param("ScanBy") or "TimestampDescending"
    for field, value in (("HistoryItemType", item_type), ("ScanBy", scan_by)):
        if value is not None and value not in members[field].enum:
            raise ValidationError(
                f"1 validation error detected: Value '{value}' at '{field[0].lower()}"
                f"{field[1:]}' failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(members[field].enum)}]"
            )
    limit = self._get_int_param("MaxRecords", 100)
    if not members["MaxRecords"].metadata["min"] <= limit <= members["MaxRecords"].metadata["max"]:
        raise ValidationError(
            f"1 validation error detected: Value '{limit}' at 'maxRecords' failed to satisfy "
            "constraint: Member must have value between 1 and 100"
        )
    start, end = _when(self._get_param("StartDate")), _when(self._get_param("EndDate"))
    items = [
        item
        for item in _history(self.cloudwatch_backend)
        if (name is None or item["AlarmName"] == name)
        and item["AlarmType"] in types
        and (item_type is None or item["HistoryItemType"] == item_type)
        and (start is None or item["Timestamp"] >= start)
        and (end is None or item["Timestamp"] <= end)
    ]
    items.sort(key=lambda i: i["Timestamp"])  # stable: recording order within an instant
    if scan_by == "TimestampDescending":
        items.reverse()
    token = self._get_param("NextToken")
    offset = 0
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidParameterValue(f"The value {token} for parameter NextToken is invalid.")
        offset = int(token)
    page = items[offset : offset + limit]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + limit < len(items):
        result["NextToken"] = str(offset + limit)
    return ActionResult(result)


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
