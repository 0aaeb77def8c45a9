"""Reading the report pages in tests (a strict little DOM) and the reports rendered in them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)

HOSTILE_ID = 'i-<script>alert("id")</script>'
HOSTILE_REASON = "<img src=x onerror=alert(1)> & 'quoted'"
HOSTILE_BATCH = 'linux"><script>alert(2)</script>'
BUCKET = "s3://fleetpatch-artifacts-123456789012/run-command/cmd-1"

# --- a small DOM: html.parser, strict about nesting ------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.walk()
            if n.tag == tag
            and all(
                (v in n.attrs.get(k, "").split()) if k == "class" else n.attrs.get(k) == v
                for k, v in wanted.items()
            )
        ]

    def find(self, tag: str, **attrs: str) -> Node:
        [found] = self.find_all(tag, **attrs)
        return found


class StrictParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.errors: list[str] = []
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void element {tag}")
        elif self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert [n.tag for n in parser.stack] == ["#document"], "unclosed elements"
    assert parser.doctype is not None
    assert parser.doctype.lower() == "doctype html"
    for tag in ("html", "head", "body", "main", "style", "header", "footer"):
        assert len(parser.root.find_all(tag)) == 1, tag
    assert len(parser.root.find("head").find_all("title")) == 1
    # self-contained: nothing loaded, nothing run
    for tag in ("script", "img", "link", "iframe", "object", "embed"):
        assert parser.root.find_all(tag) == [], tag
    return parser.root


# --- reports ------------------------------------------------------------------------------------


def instance(
    instance_id: str,
    outcome: str,
    *,
    group: str = "prod-linux-web",
    reason: str | None = None,
    installed: int | None = 12,
    missing: int | None = 0,
    failed: int | None = 0,
    output: bool = True,
) -> InstanceResult:
    ran = outcome != "not-reached"
    return InstanceResult(
        instance_id=instance_id,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        patch_group=group,
        command_id="cmd-1" if ran else None,
        command_status=("Failed" if outcome == "failed" else "Success") if ran else None,
        operation="Install" if ran else None,
        installed=installed if ran else None,
        pending_reboot=0 if ran else None,
        missing=missing if ran else None,
        failed=failed if ran else None,
        reboot_option="RebootIfNeeded" if ran else None,
        started_at=T0 + timedelta(minutes=1) if ran else None,
        ended_at=T0 + timedelta(minutes=7, seconds=13) if ran else None,
        output=f"{BUCKET}/{instance_id}/" if ran and output else None,
    )


def held_wave(linux: int = 6, windows: int = 3, batch_name: str = "linux-web") -> RunReport:
    """Six Linux instances, the fourth failed; the gate held the Windows batch."""
    linux_instances = [
        instance(
            f"i-0a1b2c3d4e5f6{n:04d}",
            "failed" if n == 3 else "patched",
            reason="AWS-RunPatchBaseline ended Failed" if n == 3 else None,
            installed=0 if n == 3 else 10 + n,
            missing=3 if n == 3 else 0,
            failed=2 if n == 3 else 0,
        )
        for n in range(linux)
    ]
    windows_instances = [
        instance(
            f"i-0f9e8d7c6b5a4{n:04d}",
            "not-reached",
            group="prod-windows-apps",
            reason="its batch was held by a gate",
        )
        for n in range(windows)
    ]
    return RunReport(
        kind="wave",
        run_id="wave-prod-20261124T0400Z",
        title="prod wave",
        outcome="held",
        reason="gate before windows-apps failed",
        summary="prod wave held before windows-apps: 1 of 6 instances failed.",
        environment="prod",
        trigger="schedule",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=21, seconds=5),
        execution_arn="arn:aws:states:eu-central-1:123456789012:execution:wave:run-1",
        window_execution_id="e7a1c0d2-3b4c-4d5e-9f60-718293a4b5c6",
        batches=[
            BatchResult(
                name=batch_name,
                patch_groups=["prod-linux-web"],
                status="ran",
                instances=linux_instances,
            ),
            BatchResult(
                name="windows-apps",
                patch_groups=["prod-windows-apps"],
                status="held",
                gate=GateSummary(
                    passed=False,
                    reasons=["1 of 6 instances failed; the gate allows 0"],
                    checked=[batch_name],
                ),
                instances=windows_instances,
            ),
        ],
    )


def launch(outcome: str = "patched", instance_outcome: str = "patched") -> RunReport:
    return RunReport(
        kind="launch",
        run_id="launch-i-0abc-20261124T0412Z",
        title="launch of i-0abcdef1234567890",
        outcome=outcome,
        summary="i-0abcdef1234567890 was patched before it entered service.",
        environment="prod",
        trigger="autoscaling lifecycle hook",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=9, seconds=2),
        batches=[
            BatchResult(
                name="launch",
                status="ran",
                instances=[
                    instance("i-0abcdef1234567890", instance_outcome, installed=27, output=True)
                ],
            )
        ],
    )


def digest(drifted: int = 200, recovered: int = 5) -> DigestReport:
    entries = []
    for n in range(drifted):
        linux = n % 5 != 0  # 160 Linux, 40 Windows
        entries.append(
            DriftEntry(
                instance_id=f"i-{n:017x}",
                transition="drifted",
                at=T0 + timedelta(seconds=n),
                environment="prod",
                patch_group="prod-linux-web" if linux else "prod-windows-apps",
                severity=["Critical", "High", "Medium"][n % 3],
                baseline_id="pb-0c10e65780EXAMPLE",
                changes=1 + n % 3,
            )
        )
    entries += [
        DriftEntry(
            instance_id=f"i-recovered{n:08d}",
            transition="recovered",
            at=T0 + timedelta(hours=1, minutes=n),
            environment="test",
            patch_group="test-linux",
        )
        for n in range(recovered)
    ]
    return DigestReport(
        run_id="digest-20261124T0600Z",
        started_at=T0,
        ended_at=T0 + timedelta(hours=2),
        entries=entries,
    )


def segments(bar: Node) -> dict[str, Node]:
    return {r.attrs["data-outcome"]: r for r in bar.find_all("rect", class_="seg")}


def badge(root: Node) -> Node:
    return root.find("span", id="outcome")
