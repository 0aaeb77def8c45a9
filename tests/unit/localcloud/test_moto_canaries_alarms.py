"""Canaries: the moto 5.2.5 internals the alarm evaluator (localcloud.adapters.alarm_evaluation)
reads or wraps, checked before we rely on them.

If one fails after a moto upgrade, revisit that module: moto may now emit the metrics,
evaluate the alarms or run their actions itself, or have moved what the evaluator reads.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

from moto import mock_aws


def test_cloudwatch_metric_store_and_statistics() -> None:
    from moto.cloudwatch import models

    source = inspect.getsource(models)
    assert (
        "    def put_metric_data(\n        self, namespace: str, metric_data: list[dict[str, Any]]\n"
        "    ) -> None:" in source
    )
    assert "cloudwatch_backends = BackendDict(CloudWatchBackend, " in source
    with mock_aws():
        backend = models.cloudwatch_backends["123456789012"]["eu-central-1"]
        when = datetime(2026, 11, 7, 6, 0, 30, tzinfo=UTC)
        backend.put_metric_data(
            "AWS/Lambda",
            [
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                    "Value": 1,
                    "Unit": "Count",
                    "Timestamp": when,
                }
            ],
        )
        [stats] = backend.get_metric_statistics(
            "AWS/Lambda",
            "Errors",
            datetime(2026, 11, 7, 6, 0, tzinfo=UTC),
            datetime(2026, 11, 7, 6, 1, tzinfo=UTC),
            60,
            ["Sum"],
            [{"Name": "FunctionName", "Value": "f"}],
        )
        assert stats.get_statistics_for_type("Sum") == 1.0


def test_alarms_carry_what_the_evaluator_reads_and_moto_never_evaluates_them() -> None:
    from moto.cloudwatch import models

    init = inspect.getsource(models.Alarm.__init__)
    for attribute in (
        "name",
        "alarm_arn",
        "namespace",
        "metric_name",
        "metric_data_queries",
        "comparison_operator",
        "evaluation_periods",
        "datapoints_to_alarm",
        "period",
        "threshold",
        "statistic",
        "extended_statistic",
        "description",
        "dimensions",
        "actions_enabled",
        "alarm_actions",
        "ok_actions",
        "insufficient_data_actions",
        "unit",
        "configuration_updated_timestamp",
        "treat_missing_data",
        "evaluate_low_sample_count_percentile",
        "state_updated_timestamp",
        "rule",
    ):
        assert f"        self.{attribute} = " in init, attribute
    assert 'Dimension(dimension["Name"], dimension["Value"])' in init
    # The only state change is SetAlarmState's: nothing evaluates an alarm or runs an action.
    source = inspect.getsource(models)
    assert source.count(".update_state(") == 1
    assert "alarm_actions" not in inspect.getsource(models.CloudWatchBackend.put_metric_data)


def test_sqs_send_points_and_queue_depth() -> None:
    from moto.sqs import models

    source = inspect.getsource(models.SQSBackend)
    assert "    def send_message(\n        self,\n        queue_name: str," in source
    assert (
        "    def send_message_batch(\n        self, queue_name: str, entries: dict[str, dict[str, Any]]"
        in source
    )
    assert "        self.queues: dict[str, Queue] = {}" in source
    assert "    def get_queue(self, queue_name: str) -> Queue:" in source
    assert "sqs_backends = BackendDict(SQSBackend, " in inspect.getsource(models)
    assert "return len(self.messages)" in inspect.getsource(
        models.Queue.approximate_number_of_messages.fget  # type: ignore[attr-defined]
    )


def test_an_execution_ends_through_the_worker_communications_terminated() -> None:
    from moto.stepfunctions.parser.backend import execution, execution_worker

    assert "self._execution_communication.terminated()" in inspect.getsource(execution_worker)
    source = inspect.getsource(execution.BaseExecutionWorkerCommunication)
    assert "    def terminated(self) -> None:" in source
    assert "        self.execution = execution" in source
    assert "        self.state_machine_arn = state_machine.arn" in inspect.getsource(
        execution.Execution
    )
