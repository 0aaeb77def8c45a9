"""The HTML report from a phone and to the console: links, stacked cards, the phone's chart,
the colours of failed and non-compliant."""

from __future__ import annotations

import re

from fleetpatch.report_chart import OUTCOME_COLOURS
from fleetpatch.report_html import render_run_html
from tests.unit.report_page import held_wave, parse

# --- from a phone, to the console -------------------------------------------------------------


def test_ids_link_to_the_console_of_the_runs_region() -> None:
    page = render_run_html(held_wave())
    region = "eu-central-1"
    # the execution, from its ARN
    assert (
        f'href="https://{region}.console.aws.amazon.com/states/home?region={region}'
        "#/v2/executions/details/arn:aws:states:eu-central-1:123456789012:execution:wave:run-1"
    ) in page
    # each instance, its command and its output
    assert (
        f'href="https://{region}.console.aws.amazon.com/ec2/home?region={region}'
        '#InstanceDetails:instanceId=i-0a1b2c3d4e5f60000"'
    ) in page
    assert (
        f'href="https://{region}.console.aws.amazon.com/systems-manager/run-command/cmd-1' in page
    )
    assert (
        'href="https://s3.console.aws.amazon.com/s3/buckets/fleetpatch-artifacts-123456789012'
        f"?region={region}&amp;prefix=run-command/cmd-1/i-0a1b2c3d4e5f60000/"
    ) in page
    # nothing but https links
    assert set(re.findall(r'href="([a-z]+):', page)) <= {"https"}


def test_without_an_execution_arn_ids_are_shown_unlinked() -> None:
    report = held_wave().model_copy(update={"execution_arn": None})
    page = render_run_html(report)
    assert "console.aws.amazon.com" not in page
    assert "<code>i-0a1b2c3d4e5f60000</code>" in page


def test_every_instance_cell_names_its_column_for_the_stacked_phone_layout() -> None:
    page = render_run_html(held_wave())
    rows = re.findall(r'<tr[^>]*data-outcome="[^"]+">(.*?)</tr>', page)
    assert rows
    for row in rows:
        labels = re.findall(r'<td data-label="([^"]+)"', row)
        assert len(labels) == row.count("<td")
        assert labels[0] == "Instance"
        assert labels[-1] == "Duration"
    assert "@media (max-width: 720px)" in page
    assert "content: attr(data-label)" in page


def test_failed_is_a_clear_red_apart_from_non_compliant() -> None:
    def rgb(colour: str) -> tuple[int, int, int]:
        return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))

    red, green, blue = rgb(OUTCOME_COLOURS["failed"])
    assert red >= 0xB0
    assert green <= 0x40
    assert blue <= 0x40
    amber = rgb(OUTCOME_COLOURS["non-compliant"])
    assert amber[1] >= 0x80  # orange has plenty of green; red has none


def test_on_a_phone_the_chart_is_drawn_again_in_html_with_its_labels() -> None:
    # The SVG scaled to a phone's width has text a few pixels high: a phone gets the same
    # bars as HTML at the screen's width, each with its name, note and counts as text
    report = held_wave()
    root = parse(render_run_html(report))
    rows = root.find("div", class_="compact").find_all("div", class_="crow")
    assert [r.attrs["data-label"] for r in rows] == ["linux-web", "windows-apps"]
    assert [r.find("div", class_="csum").text() for r in rows] == [
        "5 patched · 1 failed · 6 instances",
        "3 not reached · 3 instances",
    ]
    assert rows[1].find("span", class_="note").attrs["class"] == "note held"
    shares = {
        s.attrs["data-outcome"]: s.attrs["style"] for s in rows[0].find_all("span", class_="cseg")
    }
    assert shares == {
        "patched": f"flex-grow:5;background:{OUTCOME_COLOURS['patched']}",
        "failed": f"flex-grow:1;background:{OUTCOME_COLOURS['failed']}",
    }
    page = render_run_html(report)
    phone = page[page.index("@media (max-width: 720px)") :]
    assert ".chart svg { display: none; }" in phone
    assert ".chart .compact { display: block; }" in phone
