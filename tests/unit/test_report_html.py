"""The HTML report pages: well formed, complete, escaped, and a chart that says the numbers."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from fleetpatch.instance_facts import InstanceFacts
from fleetpatch.outcomes import OUTCOMES
from fleetpatch.report_chart import OUTCOME_COLOURS, chart_rows
from fleetpatch.report_html import render_digest_html, render_run_html
from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    ExceptionEntry,
    GateSummary,
    InstanceResult,
    RunReport,
    with_instance_facts,
)
from tests.unit.report_page import (
    BUCKET,
    HOSTILE_BATCH,
    HOSTILE_ID,
    HOSTILE_REASON,
    T0,
    Node,
    badge,
    digest,
    held_wave,
    instance,
    launch,
    parse,
    segments,
)
from tests.unit.report_samples import serving_wave

# --- run reports ------------------------------------------------------------------------------


def test_held_wave_page_is_well_formed_and_identified() -> None:
    report = held_wave()
    root = parse(render_run_html(report))
    metas = {m.attrs.get("name"): m.attrs.get("content") for m in root.find_all("meta")}
    assert metas["generator"] == "fleetpatch report v1"
    assert metas["fleetpatch-run"] == "wave-prod-20261124T0400Z"
    assert root.find("head").find("title").text().startswith("prod wave: held")
    header = root.find("header").text()
    for fact in (
        "wave-prod-20261124T0400Z",
        "prod",
        "schedule",
        "2026-11-24 04:00:00 UTC",
        "2026-11-24 04:21:05 UTC",
        "21m 05s",
        report.summary,
        "e7a1c0d2-3b4c-4d5e-9f60-718293a4b5c6",
    ):
        assert fact in header


def test_held_wave_badge_is_red_and_says_held() -> None:
    root = parse(render_run_html(held_wave()))
    assert badge(root).text() == "held"
    assert "badge-red" in badge(root).attrs["class"].split()


@pytest.mark.parametrize(
    ("report", "text", "colour"),
    [
        (launch("patched"), "patched", "green"),
        (launch("compliant", "compliant"), "compliant", "green"),
        (launch("failed", "failed"), "failed", "red"),
        # a healthy ending with failed instances (a tolerant gate) is not green
        (held_wave().model_copy(update={"outcome": "completed"}), "completed", "amber"),
        (
            held_wave().model_copy(update={"outcome": "completed-with-failures"}),
            "completed-with-failures",
            "amber",
        ),
    ],
)
def test_outcome_badge(report: RunReport, text: str, colour: str) -> None:
    found = badge(parse(render_run_html(report)))
    assert found.text() == text
    assert f"badge-{colour}" in found.attrs["class"].split()


def instance_rows(table: Node) -> list[Node]:
    """An instance table's instance rows (not the details rows under them)."""
    return [r for r in table.find("tbody").find_all("tr") if "data-outcome" in r.attrs]


def test_every_instance_is_listed_with_its_fields() -> None:
    report = held_wave()
    root = parse(render_run_html(report))
    tables = root.find_all("table", class_="instances")
    assert len(tables) == 2
    for batch, table in zip(report.batches, tables, strict=True):
        rows = instance_rows(table)
        ids = [r.find_all("td")[0].find("code").text() for r in rows]
        assert sorted(ids) == sorted(i.instance_id for i in batch.instances)
        assert all(len(r.find_all("td")) == 14 for r in rows)
    failed_row = instance_rows(tables[0])[0]  # failed instances come first
    cells = [c.text() for c in failed_row.find_all("td")]
    assert cells[0] == "i-0a1b2c3d4e5f60003-"  # the id, then its name and OS: not known
    assert cells[1:6] == [
        "prod-linux-web",
        "failed",
        "-",  # no membership state recorded
        "AWS-RunPatchBaseline ended Failed",
        "Failed",
    ]
    # installed by this run (not counted), in total, missing, failed, pending reboot
    assert cells[6:11] == ["-", "0", "3", "2", "0"]
    assert cells[11:14] == ["Install", "RebootIfNeeded", "6m 13s"]
    assert failed_row.attrs["class"].split() == ["bad", "has-details"]


def test_each_instance_has_its_output_whole_in_a_details_row_under_it() -> None:
    report = held_wave()
    root = parse(render_run_html(report))
    [ran, held] = root.find_all("table", class_="instances")
    rows = ran.find("tbody").find_all("tr")
    # each instance row is followed by its details row, which spans the table
    for instance_row, details in zip(rows[::2], rows[1::2], strict=True):
        instance_id = instance_row.find("code").text()
        assert details.attrs["data-for"] == instance_id
        [cell] = details.find_all("td")
        assert cell.attrs["colspan"] == "14"
        assert cell.text() == f"Output: {BUCKET}/{instance_id}/"
        assert ("bad" in details.attrs["class"].split()) == (
            "bad" in instance_row.attrs.get("class", "").split()
        )
    # instances that never ran have no output, and no details row
    assert held.find_all("tr", class_="details") == []
    assert len(held.find("tbody").find_all("tr")) == 3


def test_each_instance_shows_its_name_and_operating_system() -> None:
    named = held_wave()
    first, second, third = named.batches[0].instances[:3]
    report = with_instance_facts(
        named,
        {
            first.instance_id: InstanceFacts("web-1", "Amazon Linux 2023"),
            second.instance_id: InstanceFacts(None, "Amazon Linux 2023"),  # no Name tag
            third.instance_id: InstanceFacts("web-3", None),  # no longer a managed node
        },
    )
    root = parse(render_run_html(report))
    shown = {
        r.find("code").text(): r.find("div", class_="who").text()
        for t in root.find_all("table", class_="instances")
        for r in instance_rows(t)
    }
    assert shown[first.instance_id] == "web-1 \u00b7 Amazon Linux 2023"
    assert shown[second.instance_id] == "- \u00b7 Amazon Linux 2023"
    assert shown[third.instance_id] == "web-3 \u00b7 -"
    # an instance nothing is known of (terminated, never tagged) shows "-"
    assert shown[named.batches[1].instances[0].instance_id] == "-"


def test_names_are_escaped() -> None:
    report = launch()
    [only] = report.instances()
    named = with_instance_facts(report, {only.instance_id: InstanceFacts(HOSTILE_REASON, "x")})
    page = render_run_html(named)
    assert "<img" not in page
    parse(page)


def test_patch_totals_lead_with_what_the_run_installed() -> None:
    report = held_wave().model_copy(update={"installed_by_run": 7})
    root = parse(render_run_html(report))
    totals = report.patch_totals()
    # the cumulative InstalledCounts (62 over the instances) are never added up
    assert totals == {"missing": 3, "failed": 2, "pending_reboot": 0}
    shown = {"installed_by_run": 7, **totals}
    for key, value in shown.items():
        assert root.find("div", id=f"total-{key}").find("span", class_="n").text() == str(value)
    assert root.find_all("div", id="total-installed") == []
    uncounted = held_wave().model_copy(update={"installed_note": "150 instances ran an Install"})
    root = parse(render_run_html(uncounted))
    tile = root.find("div", id="total-installed_by_run")
    assert tile.find("span", class_="n").text() == "-"
    assert "not counted (150 instances ran an Install)" in root.find("section", id="patches").text()


def test_the_header_counts_every_member_as_every_format_does() -> None:
    report = held_wave()
    root = parse(render_run_html(report))
    facts = {d.find("dt").text(): d.find("dd").text() for d in root.find("dl").find_all("div")}
    assert facts["Instances"] == "9 instances: 5 patched, 1 failed, 3 not reached"
    assert facts["Instances"] == report.counts().sentence()
    metas = [p.text() for p in root.find_all("p", class_="meta")]
    assert "6 instances: 5 patched, 1 failed · patch groups: prod-linux-web" in metas
    assert "3 instances: 3 not reached · patch groups: prod-windows-apps" in metas


def test_members_show_their_state_and_the_excluded_are_listed_apart() -> None:
    report = held_wave()
    linux = report.batches[0]
    stopped = InstanceResult(
        instance_id="i-0stopped00000001",
        outcome="not-reached",
        state="stopped",
        reason="it is stopped",
    )
    later = linux.instances[0].model_copy(
        update={"state": "ready", "evidence_note": "the latest patch state is a later Scan"}
    )
    batch = linux.model_copy(
        update={
            "instances": [later, stopped, *linux.instances[1:]],
            "excluded": {"i-0conflict0000001": "its patch group tags disagree"},
        }
    )
    root = parse(render_run_html(report.model_copy(update={"batches": [batch]})))
    section = root.find("section", id="batch-1")
    rows = {
        r.find("code").text(): [c.text() for c in r.find_all("td")]
        for r in instance_rows(section.find("table", class_="instances"))
    }
    assert rows["i-0stopped00000001"][2:5] == ["not reached", "stopped", "it is stopped"]
    assert rows[later.instance_id][4] == "the latest patch state is a later Scan"
    excluded = section.find("table", class_="excluded").find("tbody").find_all("tr")
    assert [[c.text() for c in r.find_all("td")] for r in excluded] == [
        ["i-0conflict0000001", "its patch group tags disagree"]
    ]
    assert "7 instances: 5 patched, 1 failed, 1 not reached; 1 excluded" in section.text()


def test_the_exceptions_of_a_batch_are_listed_with_their_date_and_reason() -> None:
    # Given a batch with one member excepted and one whose exception expired
    report = held_wave()
    linux = report.batches[0]
    excepted = InstanceResult(
        instance_id="i-0excepted0000001",
        outcome="skipped-by-exception",
        state="excepted",
        reason="excepted until 2026-12-31: vendor freeze INC-123",
    )
    batch = linux.model_copy(
        update={
            "instances": [excepted, *linux.instances],
            "exceptions": {
                "i-0excepted0000001": ExceptionEntry(
                    status="applies",
                    until=date(2026, 12, 31),
                    reason="vendor freeze INC-123",
                    note="excepted until 2026-12-31: vendor freeze INC-123",
                ),
                linux.instances[0].instance_id: ExceptionEntry(
                    status="expired",
                    until=date(2026, 11, 30),
                    reason="old freeze",
                    note="exception expired on 2026-11-30, patched",
                ),
            },
        }
    )
    # When the page is rendered
    root = parse(render_run_html(report.model_copy(update={"batches": [batch]})))
    section = root.find("section", id="batch-1")
    # Then the excepted member is a row with its outcome, and the exceptions are a table
    rows = {
        r.find("code").text(): [c.text() for c in r.find_all("td")]
        for r in instance_rows(section.find("table", class_="instances"))
    }
    assert rows["i-0excepted0000001"][2:5] == [
        "skipped by exception",
        "excepted",
        "excepted until 2026-12-31: vendor freeze INC-123",
    ]
    table = section.find("table", class_="exceptions").find("tbody").find_all("tr")
    found = sorted([c.text() for c in r.find_all("td")] for r in table)
    assert found == sorted(
        [
            [
                "i-0excepted0000001",
                "applies",
                "2026-12-31",
                "vendor freeze INC-123",
                "excepted until 2026-12-31: vendor freeze INC-123",
            ],
            [
                linux.instances[0].instance_id,
                "expired",
                "2026-11-30",
                "old freeze",
                "exception expired on 2026-11-30, patched",
            ],
        ]
    )
    # one row per instance, in instance id order
    assert [r.find("code").text() for r in table] == sorted(r.find("code").text() for r in table)
    assert "1 skipped by exception" in section.text()


def test_gates_with_reasons_and_approver() -> None:
    report = held_wave()
    passed = report.batches[1].model_copy(
        update={
            "status": "ran",
            "gate": GateSummary(
                passed=True, reasons=["0 of 6 failed"], checked=["linux-web"], approved_by="alice"
            ),
        }
    )
    root = parse(render_run_html(report))
    held = root.find("section", id="batch-2")
    assert held.attrs["data-status"] == "held"
    gate = held.find("div", class_="gate")
    assert "failed" in gate.attrs["class"].split()
    assert "FAILED" in gate.text()
    assert [li.text() for li in gate.find_all("li")] == [
        "1 of 6 instances failed; the gate allows 0"
    ]
    assert "no gate" in root.find("section", id="batch-1").text().lower()

    approved = report.model_copy(update={"batches": [report.batches[0], passed]})
    gate = parse(render_run_html(approved)).find("section", id="batch-2").find("div", class_="gate")
    assert "passed" in gate.attrs["class"].split()
    assert "approved by alice" in gate.text()


def test_chart_has_a_bar_per_batch_with_the_counts() -> None:
    report = held_wave()
    root = parse(render_run_html(report))
    svg = root.find("svg")
    assert svg.attrs["role"] == "img"
    label = svg.attrs["aria-label"]
    assert "linux-web (ran): 6 instances, 5 patched, 1 failed" in label
    assert "windows-apps (held): 3 instances, 3 not reached" in label
    assert svg.find_all("title")[0].text() == label

    bars = svg.find_all("g", class_="bar")
    assert [b.attrs["data-label"] for b in bars] == ["linux-web", "windows-apps"]
    linux, windows = bars
    assert {o: r.attrs["data-count"] for o, r in segments(linux).items()} == {
        "patched": "5",
        "failed": "1",
    }
    assert {o: r.attrs["data-count"] for o, r in segments(windows).items()} == {"not-reached": "3"}
    widths = {o: float(r.attrs["width"]) for o, r in segments(linux).items()}
    assert widths["patched"] == pytest.approx(960 * 5 / 6, abs=0.2)
    assert widths["failed"] == pytest.approx(960 / 6, abs=0.2)
    assert float(segments(linux)["failed"].attrs["x"]) == pytest.approx(widths["patched"], abs=0.2)
    assert segments(linux)["failed"].attrs["fill"] == OUTCOME_COLOURS["failed"]
    assert segments(linux)["patched"].attrs["fill"] == OUTCOME_COLOURS["patched"]
    assert segments(windows)["not-reached"].attrs["fill"] == OUTCOME_COLOURS["not-reached"]
    # the counts as text, in the bars and beside them
    assert [t.text() for t in linux.find_all("text", class_="seg")] == ["5 patched", "1 failed"]
    assert "5 patched · 1 failed · 6 instances" in linux.find("text", class_="sum").text()
    assert [t.text() for t in windows.find_all("text", class_="seg")] == ["3 not reached"]
    # a legend for every outcome a gate judges, and any other present, with its total
    legend = [t.text() for t in svg.find("g", class_="legend").find_all("text")]
    assert legend == [
        "patched (5)",
        "compliant (0)",
        "non-compliant (0)",
        "failed (1)",
        "not reached (3)",
    ]


def test_launch_has_one_bar() -> None:
    root = parse(render_run_html(launch()))
    [bar] = root.find("svg").find_all("g", class_="bar")
    assert bar.attrs["data-label"] == "launch of i-0abcdef1234567890"
    assert {o: r.attrs["data-count"] for o, r in segments(bar).items()} == {"patched": "1"}
    assert float(segments(bar)["patched"].attrs["width"]) == 960


def test_colours_are_distinct_and_fixed() -> None:
    assert list(OUTCOME_COLOURS) == list(OUTCOMES)
    assert len(set(OUTCOME_COLOURS.values())) == len(OUTCOMES)


def test_a_single_failure_among_many_still_shows() -> None:
    report = held_wave(linux=1000, windows=0)
    [linux, _] = parse(render_run_html(report)).find("svg").find_all("g", class_="bar")
    widths = {o: float(r.attrs["width"]) for o, r in segments(linux).items()}
    assert widths["failed"] >= 4
    assert sum(widths.values()) == pytest.approx(960, abs=0.3)


def test_the_chart_grows_with_batches_not_instances() -> None:
    small = parse(render_run_html(held_wave(linux=6, windows=3))).find("svg")
    large_page = render_run_html(held_wave(linux=1200, windows=400))
    large_root = parse(large_page)
    large = large_root.find("svg")
    for tag in ("g", "rect", "title"):
        assert len(large.find_all(tag)) == len(small.find_all(tag)), tag
    assert large.attrs["viewbox"] == small.attrs["viewbox"]  # the parser lowercases names
    ids = [
        r.find("code").text()
        for t in large_root.find_all("table", class_="instances")
        for r in instance_rows(t)
    ]
    assert len(ids) == len(set(ids)) == 1600
    assert "1199 patched · 1 failed · 1200 instances" in large.text()


def test_hostile_text_is_escaped() -> None:
    report = held_wave(batch_name=HOSTILE_BATCH)
    bad = instance(HOSTILE_ID, "failed", reason=HOSTILE_REASON)
    first = report.batches[0]
    report = report.model_copy(
        update={
            "title": "<b>prod</b> wave",
            "summary": "</p><script>alert(3)</script>",
            "environment": '"><svg onload=alert(4)>',
            "batches": [
                first.model_copy(update={"instances": [*first.instances, bad]}),
                report.batches[1],
            ],
        }
    )
    page = render_run_html(report, report_json_url="https://example.com/r.json?a=1&b=<2>")
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert "onload=alert(4)>" not in page
    root = parse(page)  # also: no script, img or stray elements, all nesting intact
    assert root.find_all("svg", onload="alert(4)") == []
    assert len(root.find_all("svg")) == 1
    assert HOSTILE_ID in [c.find("code").text() for c in root.find_all("td", class_="id")]
    assert HOSTILE_REASON in root.text()
    assert root.find("h1").text().startswith("<b>prod</b> wave")
    assert root.find("p", class_="summary").text() == "</p><script>alert(3)</script>"
    bars = root.find("svg").find_all("g", class_="bar")
    assert bars[0].attrs["data-label"] == HOSTILE_BATCH
    assert HOSTILE_BATCH in root.find("svg").attrs["aria-label"]
    assert root.find_all("a", href="https://example.com/r.json?a=1&b=<2>")
    assert "&amp;b=&lt;2&gt;" in page


def test_only_web_links_are_links() -> None:
    page = render_run_html(launch(), report_json_url="javascript:alert(1)")
    root = parse(page)
    assert not [a for a in root.find_all("a") if a.attrs["href"].startswith("javascript")]
    assert "javascript:alert(1)" in root.text()


def test_rendering_is_deterministic() -> None:
    assert render_run_html(held_wave()) == render_run_html(held_wave())
    assert render_digest_html(digest()) == render_digest_html(digest())
    shuffled = digest().model_copy(update={"entries": list(reversed(digest().entries))})
    assert render_digest_html(shuffled) == render_digest_html(digest())


def test_not_reached_batches_have_an_empty_bar() -> None:
    report = held_wave()
    report = report.model_copy(
        update={
            "batches": [
                *report.batches,
                BatchResult(name="db", status="not-reached", instances=[]),
            ]
        }
    )
    root = parse(render_run_html(report))
    bars = root.find("svg").find_all("g", class_="bar")
    assert len(bars) == 3
    assert segments(bars[2]) == {}
    assert "no instances" in bars[2].text()
    assert root.find("section", id="batch-3").attrs["data-status"] == "not-reached"


# --- the digest -----------------------------------------------------------------------------


def test_digest_lists_every_instance_and_charts_per_patch_group() -> None:
    report = digest()
    root = parse(render_digest_html(report))
    metas = {m.attrs.get("name"): m.attrs.get("content") for m in root.find_all("meta")}
    assert metas["fleetpatch-run"] == "digest-20261124T0600Z"
    assert metas["generator"] == "fleetpatch report v1"
    assert badge(root).text() == "drift"
    assert "badge-amber" in badge(root).attrs["class"].split()

    drifted = root.find("section", id="drifted").find("tbody").find_all("tr")
    recovered = root.find("section", id="recovered").find("tbody").find_all("tr")
    assert sorted(r.find_all("td")[0].text() for r in drifted) == sorted(
        e.instance_id for e in report.drifted
    )
    assert len(drifted) == 200
    assert [r.find_all("td")[0].text() for r in recovered] == [
        f"i-recovered{n:08d}" for n in range(5)
    ]
    first = [c.text() for c in drifted[0].find_all("td")]
    assert first[1:4] == ["prod", "prod-linux-web", "Critical"]  # most severe first
    assert re.fullmatch(r"2026-11-24 \d\d:\d\d:\d\d UTC", first[5])
    assert first[6] in {"1", "2", "3"}

    svg = root.find("svg")
    bars = svg.find_all("g", class_="bar")
    assert [b.attrs["data-label"] for b in bars] == [
        "prod / prod-linux-web",
        "prod / prod-windows-apps",
        "test / test-linux",
    ]
    counts = [{o: r.attrs["data-count"] for o, r in segments(b).items()} for b in bars]
    assert counts == [{"non-compliant": "160"}, {"non-compliant": "40"}, {"compliant": "5"}]
    label = svg.attrs["aria-label"]
    assert "prod / prod-linux-web: 160 instances, 160 drifted" in label
    assert "prod / prod-windows-apps: 40 instances, 40 drifted" in label
    assert "test / test-linux: 5 instances, 5 recovered" in label
    legend = [t.text() for t in svg.find("g", class_="legend").find_all("text")]
    assert legend == ["recovered (5)", "drifted (200)"]
    assert "200 instances drifted out of compliance and 5 recovered" in root.text()


def test_a_digest_of_recoveries_is_green() -> None:
    root = parse(render_digest_html(digest(drifted=0, recovered=3)))
    assert badge(root).text() == "recovered"
    assert "badge-green" in badge(root).attrs["class"].split()
    assert "None drifted" in root.find("section", id="drifted").text()


def test_digest_escapes_hostile_text() -> None:
    report = DigestReport(
        run_id='digest-"><script>x</script>',
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        entries=[
            DriftEntry(
                instance_id=HOSTILE_ID,
                transition="drifted",
                at=T0,
                environment="<i>prod</i>",
                patch_group=HOSTILE_BATCH,
                severity="<b>critical</b>",
            )
        ],
    )
    page = render_digest_html(report)
    assert "<script" not in page
    assert "<i>" not in page
    root = parse(page)
    metas = {m.attrs.get("name"): m.attrs.get("content") for m in root.find_all("meta")}
    assert metas["fleetpatch-run"] == 'digest-"><script>x</script>'
    cells = [c.text() for c in root.find("section", id="drifted").find("tbody").find_all("td")]
    assert cells[:4] == [HOSTILE_ID, "<i>prod</i>", HOSTILE_BATCH, "<b>critical</b>"]
    [bar] = root.find("svg").find_all("g", class_="bar")
    assert bar.attrs["data-label"] == f"<i>prod</i> / {HOSTILE_BATCH}"


def test_chart_rows() -> None:
    rows = chart_rows(held_wave())
    assert [(r.label, r.note, dict(r.counts), r.total) for r in rows] == [
        ("linux-web", "ran", {"patched": 5, "failed": 1}, 6),
        ("windows-apps", "held", {"not-reached": 3}, 3),
    ]
    assert [r.total for r in chart_rows(digest())] == [160, 40, 5]


def test_a_serving_batch_shows_the_serving_outcome_and_time_out_of_service_under_each() -> None:
    page = render_run_html(serving_wave())
    cells = re.findall(r'<div class="muted serving">([^<]*)</div>', page)
    assert cells == [
        "serving rolled-back, out of service 20m 10s",  # failed first
        "serving patched, out of service 7m 30s",
    ]
    # The instance patched in place has no serving line; without serving the page is as before.
    in_place = serving_wave().model_copy(
        update={
            "batches": [
                b.model_copy(
                    update={
                        "instances": [
                            i.model_copy(update={"serving": None, "out_of_service_seconds": None})
                            for i in b.instances
                        ]
                    }
                )
                for b in serving_wave().batches
            ]
        }
    )
    assert "serving" not in render_run_html(in_place)
