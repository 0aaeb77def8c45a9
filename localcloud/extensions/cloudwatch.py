"""CloudWatch on the local cloud: DescribeAlarms returns composite alarms only when asked.

AWS: "If you omit [AlarmTypes], only metric alarms are returned, even if composite alarms
exist in the account" (DescribeAlarms, CloudWatch API reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
moto 5.2.5 returns both kinds whatever ``AlarmTypes`` says, which hides that a caller not
asking for composite alarms can never find one.

moto 5.2.5 also lacks PutCompositeAlarm, though its PutMetricAlarm already reads
``AlarmRule`` "to re-use this method for composite alarms": the local cloud routes one to
the other, so operators (and tests) can create composite alarms.

moto internals touched (canary in tests/unit/localcloud/test_moto_canaries_core.py):
``moto.cloudwatch.responses.CloudWatchResponse.describe_alarms`` wrapped (it returns an
``ActionResult`` whose ``result`` is ``{"MetricAlarms": [...], "CompositeAlarms": [...]}``);
``CloudWatchResponse.put_composite_alarm`` set to its ``put_metric_alarm``.
"""

from __future__ import annotations

from typing import Any

_TYPES = {"MetricAlarm": "MetricAlarms", "CompositeAlarm": "CompositeAlarms"}


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.cloudwatch.responses import CloudWatchResponse

    if not hasattr(CloudWatchResponse, "put_composite_alarm"):
        CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # type: ignore[attr-defined]
    original = CloudWatchResponse.describe_alarms
    if getattr(original, "_fleetpatch", False):
        return

    def describe_alarms(self: Any) -> Any:
        answer = original(self)
        asked = self._get_param("AlarmTypes") or ["MetricAlarm"]
        result: dict[str, Any] = answer.result  # type: ignore[assignment]
        for alarm_type, key in _TYPES.items():
            if alarm_type not in asked:
                result[key] = []
        return answer

    describe_alarms._fleetpatch = True  # type: ignore[attr-defined]
    CloudWatchResponse.describe_alarms = describe_alarms
