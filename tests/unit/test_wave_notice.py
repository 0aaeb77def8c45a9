"""Advance notice (fleetpatch.wave_notice): which notices a tick sends, and what they say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetpatch.wave_notice import (
    BatchNotice,
    DueNotice,
    Host,
    NoticePolicy,
    due_notices,
    notice_subject,
    notice_text,
)

RUN = datetime(2026, 12, 19, 5, 0, tzinfo=UTC)
POLICY = NoticePolicy(days_before=3, hour_before=True)


def test_each_notice_falls_in_exactly_one_hourly_tick() -> None:
    # Ticks every hour from an odd minute: each notice is sent by one tick, never late
    start = RUN - timedelta(days=4, minutes=17)
    sent = []
    for hour in range(4 * 24 + 1):
        now = start + timedelta(hours=hour)
        for due in due_notices({"prod": [RUN]}, POLICY, now):
            assert now <= due.send_at < now + timedelta(hours=1)
            sent.append(due.kind)
    assert sent == ["days", "hour"]


def test_no_hour_before_notice_unless_asked() -> None:
    policy = NoticePolicy(days_before=2, hour_before=False)
    assert due_notices({"prod": [RUN]}, policy, RUN - timedelta(hours=1)) == []


def test_the_text_names_batches_hosts_exceptions_and_missing_patches_per_os() -> None:
    notice = DueNotice("prod", RUN, "days", RUN - timedelta(days=3))
    batches = [
        BatchNotice(
            "linux",
            ["patch_prod_0600_batch_1"],
            "in the window",
            [
                Host("i-0aaa", "db-1", "Ubuntu 22.04", 4),
                Host("i-0bbb", "db-2", "Ubuntu 22.04", 2),
                Host("i-0ccc", None, "Ubuntu 22.04", 9, excepted="excepted until 2027-01-31: X"),
            ],
        )
    ]
    text = notice_text(notice, "Europe/Zurich", batches, [])
    assert text.startswith(
        "The prod wave patches at 2026-12-19 05:00 UTC (Sat 2026-12-19 06:00 CET Europe/Zurich)."
    )
    assert (
        "  i-0ccc  -                    Ubuntu 22.04             9 missing  NOT PATCHED: " in text
    )
    assert "  Ubuntu 22.04: 6\n" in text  # the excepted host's 9 are not counted
    assert notice_subject(notice, 3, None) == "prod wave in 3 days: 3 hosts, 2026-12-19 05:00 UTC"
    assert notice_subject(notice, 1, "the next occurrence is skipped") == (
        "prod wave in 3 days: 1 host (the next occurrence is skipped)"
    )
