"""issue 22: what a member shares with the organization's central account, and where it lands.

* the events a member puts on its default bus (``source`` and ``detail-type``), which its
  forwarding rule (template.yaml ``CentralForwardingRule``, only with ``CentralEventBusArn``)
  sends to the central bus; their detail is ``fleetpatch.shared_events``';
* where a member's reports go in the central bucket: ``accounts/<account>/<region>/`` and
  then the key the report has in the member's own bucket;
* the central stack (``central/template.yaml``): its default name and output names, which
  ``fleetpatch runs|report|compliance|status --org`` read;
* the org index's keys (the central stack's ``OrgIndexTable``).

Standard library only, like every contract (``fleetpatch.contracts``).
"""

from __future__ import annotations

# --- the events ----------------------------------------------------------------------------------

SOURCE = "fleetpatch"
"""The ``source`` of every event fleetpatch puts on a bus (PutEvents' ``Source``)."""
RUN_FINISHED = "Run Finished"
"""A run's report was published (launch, wave, emergency, remediation)."""
COMPLIANCE_SUMMARY = "Compliance Summary"
"""An account and region's compliance counts per environment and patch group."""
SHARED_DETAIL_TYPES = (RUN_FINISHED, COMPLIANCE_SUMMARY)

# --- the central bucket --------------------------------------------------------------------------

ACCOUNTS_PREFIX = "accounts/"


def central_prefix(account: str, region: str) -> str:
    """A member's folder in the central bucket: ``accounts/<account>/<region>/``.

    The central bucket's policy lets an organization member put under
    ``accounts/${aws:PrincipalAccount}/`` only, so the account part is enforced by S3.
    """
    return f"{ACCOUNTS_PREFIX}{account}/{region}/"


def central_key(account: str, region: str, member_key: str) -> str:
    """Where a member's object (``reports/YYYY/MM/DD/<run>.json``) is copied centrally."""
    return f"{central_prefix(account, region)}{member_key}"


# --- the central stack ---------------------------------------------------------------------------


def central_stack_name(stage: str) -> str:
    """The central stack's name by convention (``fleetpatch-<stage>-central``)."""
    return f"fleetpatch-{stage}-central"


OUTPUT_EVENT_BUS_ARN = "EventBusArn"
OUTPUT_REPORTS_BUCKET = "ReportsBucketName"
OUTPUT_REPORTS_KEY_ARN = "ReportsKeyArn"
OUTPUT_ORG_INDEX_TABLE = "OrgIndexTableName"

# --- the org index (central stack's OrgIndexTable) -----------------------------------------------
#
# ===================================  ==========  ===========================================
# pk                                   sk          what
# ===================================  ==========  ===========================================
# ``RUN#<account>#<region>#<run>``     ``RUN``     a member's run (gsi1 ``RUNS`` by end time)
# ``COMPLIANCE#<account>#<region>``    ``SUMMARY`` its latest compliance (gsi1 ``COMPLIANCE``)
# ===================================  ==========  ===========================================

Key = dict[str, dict[str, str]]

ORG_RUNS_INDEX = "RUNS"
ORG_COMPLIANCE_INDEX = "COMPLIANCE"


def org_run_key(account: str, region: str, run_id: str) -> Key:
    """A member's run: run ids are unique per account and region only."""
    return {"pk": {"S": f"RUN#{account}#{region}#{run_id}"}, "sk": {"S": "RUN"}}


def org_run_order(ended_at: str, account: str, region: str, run_id: str) -> str:
    """gsi1sk of a run: by end time (ISO text, UTC), then where, then the run."""
    return f"{ended_at}#{account}#{region}#{run_id}"


def org_compliance_key(account: str, region: str) -> Key:
    return {"pk": {"S": f"COMPLIANCE#{account}#{region}"}, "sk": {"S": "SUMMARY"}}


# --- the organization's compliance digest (central stack's digest schedule) ----------------------
#
# ``ORGDIGEST#<YYYY-MM-DD>`` / ``DIGEST``: one per UTC day (gsi1 ``ORGDIGEST`` by day), put
# under a condition by the first delivery of the day's schedule tick, with what it says; its
# ``message_id`` once it was published.

ORG_DIGESTS_INDEX = "ORGDIGEST"


def org_digest_key(day: str) -> Key:
    """The organization's digest of ``day`` (``YYYY-MM-DD``, UTC)."""
    return {"pk": {"S": f"ORGDIGEST#{day}"}, "sk": {"S": "DIGEST"}}
