"""Render a run report (or a compliance digest) as HTML and screenshot it with headless Chromium,
at desktop and phone widths.

    python tools/screenshot_reports.py REPORT.json --desktop report.png --phone phone.png
    python tools/screenshot_reports.py --sample \
        --desktop docs/img/report-desktop.png --phone docs/img/report-phone.png

REPORT.json is a stored report: a RunReport, or a DigestReport when its "kind" is
"compliance-digest". ``--sample`` builds a representative held wave in code instead (names
and operating systems, one instance gone since, output locations). The desktop shot is
1280 px wide, the phone's 390 px (an iPhone's CSS width) and tall enough for the header,
the chart and the first instance cards.

The PNG is then checked with the standard library alone (the IDAT chunks inflated and
unfiltered): the chart's bars must be in the image, in the colours of the outcomes the
report has. A legend swatch is not enough: a colour counts only where it fills a run at
least BAR_RUN pixels tall, which only a bar does.

Exit status: 0 when the screenshot shows the chart, 1 when it does not (or Chromium made
no image), 2 when Chromium is missing or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "fleetpatch"))

from fleetpatch.instance_facts import InstanceFacts  # noqa: E402
from fleetpatch.report_chart import (  # noqa: E402 - the layer is put on the path above
    OUTCOME_COLOURS,
    chart_rows,
)
from fleetpatch.report_html import render_digest_html, render_run_html  # noqa: E402
from fleetpatch.reports import (  # noqa: E402
    BatchResult,
    DigestReport,
    GateSummary,
    InstanceResult,
    RunReport,
    with_instance_facts,
)

CHROMIUM = "/usr/bin/chromium"
DESKTOP = (1280, 1640)
PHONE = (390, 1900)
PROG = "screenshot_reports"
TIMEOUT_SECONDS = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAR_RUN = 20  # pixels: taller than a legend swatch (14), shorter than a bar (30)
TOLERANCE = 3  # per channel: colour management may move a value by a step or two


def sample_report() -> RunReport:
    """A held wave: six Linux instances patched but one failed, so the Windows batch held."""
    start = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    linux = []
    for n in range(6):
        began = start + timedelta(minutes=2, seconds=17 * n)
        failed = n == 3
        linux.append(
            InstanceResult(
                instance_id=f"i-0a1b2c3d4e5f6{n:04d}",
                outcome="failed" if failed else "patched",
                reason="AWS-RunPatchBaseline ended Failed" if failed else None,
                patch_group="prod-linux-web",
                command_id="9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f",
                command_status="Failed" if failed else "Success",
                operation="Install",
                state="ready",
                installed=0 if failed else 12 + n,
                installed_by_run=0 if failed else 3 + n % 2,
                installed_other=310,
                pending_reboot=0,
                missing=3 if failed else 0,
                failed=2 if failed else 0,
                reboot_option="RebootIfNeeded",
                started_at=began,
                ended_at=began + timedelta(minutes=6, seconds=40 + 11 * n),
                output=(
                    "s3://fleetpatch-artifacts-123456789012/run-command/"
                    f"9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f/i-0a1b2c3d4e5f6{n:04d}/"
                ),
            )
        )
    windows = [
        InstanceResult(
            instance_id=f"i-0f9e8d7c6b5a4{n:04d}",
            outcome="not-reached",
            reason="its batch was held by a gate",
            state="ready",
            patch_group="prod-windows-apps",
        )
        for n in range(3)
    ]
    report = RunReport(
        kind="wave",
        run_id="wave-prod-20261124T0400Z",
        title="prod wave",
        outcome="held",
        reason="gate before windows-apps failed",
        summary=(
            "prod wave held before windows-apps: 1 of 6 Linux instances failed to patch "
            "and the gate allows none."
        ),
        environment="prod",
        trigger="schedule: prod-tuesday-0400",
        started_at=start,
        ended_at=start + timedelta(minutes=21, seconds=5),
        execution_arn=(
            "arn:aws:states:eu-central-1:123456789012:execution:fleetpatch-gated-wave:"
            "wave-prod-20261124T0400Z"
        ),
        window_execution_id="e7a1c0d2-3b4c-4d5e-9f60-718293a4b5c6",
        installed_by_run=sum(i.installed_by_run or 0 for i in linux),
        batches=[
            BatchResult(
                name="linux-web",
                patch_groups=["prod-linux-web"],
                status="ran",
                gate=None,
                instances=linux,
            ),
            BatchResult(
                name="windows-apps",
                patch_groups=["prod-windows-apps"],
                status="held",
                gate=GateSummary(
                    passed=False,
                    reasons=["1 of 6 instances failed; the gate allows 0"],
                    checked=["linux-web"],
                ),
                instances=windows,
            ),
        ],
    )
    facts = {
        i.instance_id: InstanceFacts(f"web-{n + 1}", "Amazon Linux 2023")
        for n, i in enumerate(linux)
    }
    facts |= {
        i.instance_id: InstanceFacts(f"app-{n + 1}", "Microsoft Windows Server 2022 Datacenter")
        for n, i in enumerate(windows[:2])  # the third was terminated since: nothing known
    }
    return with_instance_facts(report, facts)


def load_report(path: Path) -> RunReport | DigestReport:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if isinstance(data, dict) and data.get("kind") == "compliance-digest":
        return DigestReport.model_validate_json(text)
    return RunReport.model_validate_json(text)


def render(report: RunReport | DigestReport) -> str:
    if isinstance(report, DigestReport):
        return render_digest_html(report)
    return render_run_html(report)


def screenshot(page: Path, out: Path, window: tuple[int, int]) -> None:
    """Headless Chromium with a fresh profile; raises RuntimeError when it made no PNG."""
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="fleetpatch-chromium-") as profile:
        command = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # colours as written in the page, whatever the machine's display profile
            "--force-color-profile=srgb",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={window[0]},{window[1]}",
            f"--screenshot={out}",
            page.as_uri(),
        ]
        result = subprocess.run(  # noqa: S603 - a fixed binary on our own temp file
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(
            f"chromium exited {result.returncode} without writing {out}:\n{result.stderr[-2000:]}"
        )


# --- reading the PNG (standard library only) ---------------------------------------------------


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        yield kind, data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IEND":
            return
    raise ValueError("truncated PNG (no IEND chunk)")


def png_rows(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit RGB(A) or grey PNG."""
    header = b""
    compressed = bytearray()
    for kind, body in png_chunks(data):
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
    if len(header) != 13:
        raise ValueError("PNG without an IHDR chunk")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
        )
    raw = zlib.decompress(bytes(compressed))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG image data has the wrong size")
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def _unfilter(kind: int, line: bytearray, up: bytearray, bpp: int) -> None:
    n = len(line)
    if kind == 0:
        return
    if kind == 1:
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(n):
            line[i] = (line[i] + up[i]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + up[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = line[i - bpp] if i >= bpp else 0
            b = up[i]
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF
    else:
        raise ValueError(f"bad PNG filter type {kind}")


def _colour_lookup(colours: dict[str, str]) -> dict[bytes, str]:
    """Each RGB value within TOLERANCE of a named colour, mapped to the first such name."""
    lookup: dict[bytes, str] = {}
    for name, hex_colour in colours.items():
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        span = range(-TOLERANCE, TOLERANCE + 1)
        for key in ((r + dr, g + dg, b + db) for dr in span for dg in span for db in span):
            if all(0 <= v <= 255 for v in key):
                lookup.setdefault(bytes(key), name)
    return lookup


def find_colours(
    image: tuple[int, int, int, list[bytes]], colours: dict[str, str]
) -> dict[str, tuple[int, int]]:
    """Per named colour in a decoded image (``png_rows``): (pixels of that colour, tallest
    vertical run of it in one column)."""
    width, _, channels, rows = image
    if channels < 3:
        return {name: (0, 0) for name in colours}
    lookup = _colour_lookup(colours)
    pixels = dict.fromkeys(colours, 0)
    tallest = dict.fromkeys(colours, 0)
    run_name: list[str | None] = [None] * width
    run_length = [0] * width
    for row in rows:
        for x in range(width):
            at = x * channels
            found = lookup.get(row[at : at + 3])
            if found is None:
                run_name[x] = None
                continue
            pixels[found] += 1
            if run_name[x] == found:
                run_length[x] += 1
            else:
                run_name[x], run_length[x] = found, 1
            tallest[found] = max(tallest[found], run_length[x])
    return {name: (pixels[name], tallest[name]) for name in colours}


def expected_outcomes(report: RunReport | DigestReport, *, sample: bool) -> list[str]:
    """The outcomes whose bars must show: every outcome the chart has, failed and patched
    always for the sample."""
    present: set[str] = set()
    for row in chart_rows(report):
        present.update(o for o, n in row.counts.items() if n)
    if sample:
        present.update(("failed", "patched"))
    return [o for o in OUTCOME_COLOURS if o in present]


def verify(png: Path, outcomes: Iterable[str]) -> list[str]:
    """Problems with the screenshot (none when every expected bar colour is in it)."""
    data = png.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return [f"{png} is not a PNG"]
    image = png_rows(data)
    width, height, _, _ = image
    found = find_colours(image, dict(OUTCOME_COLOURS))
    print(f"{png}: {width}x{height} PNG, {len(data) // 1024} KB")
    for name, (count, run) in found.items():
        print(f"  {name:<14} {OUTCOME_COLOURS[name]}  {count:>7} px, tallest run {run} px")
    problems = []
    for outcome in outcomes:
        count, run = found[outcome]
        if run < BAR_RUN:
            problems.append(
                f"no {outcome} bar ({OUTCOME_COLOURS[outcome]}) in the image: "
                f"{count} px, tallest run {run} px (a bar is at least {BAR_RUN})"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("report", nargs="?", type=Path, help="a stored report (JSON)")
    source.add_argument("--sample", action="store_true", help="a representative held wave")
    parser.add_argument(
        "--desktop", type=Path, help=f"the desktop shot ({DESKTOP[0]} px wide) goes here"
    )
    parser.add_argument("--phone", type=Path, help=f"the phone shot ({PHONE[0]} px wide) goes here")
    parser.add_argument("--html", type=Path, help="also keep the rendered page here")
    args = parser.parse_args(argv)
    shots = [(path, size) for path, size in ((args.desktop, DESKTOP), (args.phone, PHONE)) if path]
    if not shots:
        parser.error("say where the shots go: --desktop PNG and/or --phone PNG")

    if shutil.which(CHROMIUM) is None:
        print(
            f"{PROG}: {CHROMIUM} not found; install it with "
            "`apt-get install chromium` (or run `make report-screenshot`)",
            file=sys.stderr,
        )
        return 2
    try:
        report = sample_report() if args.sample else load_report(args.report)
    except (OSError, ValueError) as exc:
        print(f"{PROG}: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    page_html = render(report)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fleetpatch-report-") as workdir:
        page = Path(workdir) / f"{report.run_id.replace('/', '_')}.html"
        page.write_text(page_html, encoding="utf-8")
        if args.html:
            args.html.write_text(page_html, encoding="utf-8")
        for path, size in shots:
            out: Path = path.resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                screenshot(page, out, size)
                problems += verify(out, expected_outcomes(report, sample=args.sample))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                problems.append(f"{out}: {exc}")
    for problem in problems:
        print(f"{PROG}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{PROG}: the chart is in {', '.join(str(p) for p, _ in shots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
