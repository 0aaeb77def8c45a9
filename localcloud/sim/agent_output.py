"""What the simulated SSM agent writes: AWS-RunPatchBaseline's standard output, and where
a document's output goes (S3 URLs as SSM accepts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote, urlparse

from localcloud.sim.patch_catalogue import Patch
from localcloud.sim.run_command import Invocation, PatchReport, iso_timestamp


def s3_location(url: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://`` URL or an S3 HTTPS URL (path or virtual-host style)."""
    parsed = urlparse(url)
    path = unquote(parsed.path).lstrip("/")
    if parsed.scheme == "s3" and parsed.netloc and path:
        return parsed.netloc, path
    host = parsed.netloc
    if parsed.scheme == "https" and host.endswith(".amazonaws.com"):
        if host.startswith("s3.") or host.startswith("s3-"):
            bucket, _, key = path.partition("/")
            if bucket and key:
                return bucket, key
        elif ".s3." in host or ".s3-" in host:
            return host.split(".s3", 1)[0], path
    raise ValueError(f"{url!r} is not an s3:// or https://s3 URL of an object")


def patch_summary(
    invocation: Invocation,
    report: PatchReport,
    patches: Sequence[Patch],
    *,
    installed: bool,
    rebooted: bool = False,
) -> str:
    """Standard output like AWS-RunPatchBaseline's: the run, then the patch summary."""
    instance = invocation.instance
    lines = [
        f"Patch group: {report.patch_group}",
        f"Operation type: {report.operation}",
        f"Snapshot Id: {report.snapshot_id}",
        f"Instance Id: {instance.instance_id}",
        f"Loading patch baseline {report.baseline_id}",
    ]
    if report.operation == "Install":
        verb = "Installed" if installed else "Failed to install"
        lines.append(f"Installing {len(patches)} update(s)")
        lines += [f"{verb} {p.title}" for p in patches]
        if rebooted:
            lines.append("Rebooting the instance to finish the installation")
    lines += [
        "",
        f"Patch Summary for {instance.instance_id}",
        f"PatchGroup          : {report.patch_group}",
        f"BaselineId          : {report.baseline_id}",
        f"SnapshotId          : {report.snapshot_id}",
        "OwnerInformation    :",
        f"OperationType       : {report.operation}",
        f"OperationStartTime  : {iso_timestamp(report.started)}",
        f"OperationEndTime    : {iso_timestamp(report.ended)}",
        f"InstalledCount      : {report.count('INSTALLED')}",
        f"InstalledRejectedCount : {report.count('INSTALLED_REJECTED')}",
        f"InstalledPendingRebootCount : {report.count('INSTALLED_PENDING_REBOOT')}",
        f"InstalledOtherCount : {report.count('INSTALLED_OTHER')}",
        f"FailedCount         : {report.count('FAILED')}",
        f"MissingCount        : {report.count('MISSING')}",
        "NotApplicableCount  : 0",
        "",
    ]
    return "\n".join(lines)
