"""The state table's keys: every item's ``pk``/``sk`` (and ``gsi1pk``) is built here.

One table holds every record (template.yaml ``StateTable``). Each kind of item has its own
partition prefix, so the kinds never meet:

============================  =====================================  ==========================
pk                            sk                                     what
============================  =====================================  ==========================
``RUN#<run>``                 ``RUN`` (gsi1 ``RUNS``)                a patch-new-instance run
``WAVE#<run>``                ``RUN`` (gsi1 ``RUNS``)                a gated-wave run
``WAVE#<run>``                ``GATE#<nn>``                          the gate before batch nn
``WAVE#<run>``                ``PLAN#<nn>#<part>``, ``SEND#<nn>#<chunk>``  a batch's plan and sends
``WAVE#<run>``                ``RESUMED``, ``STOPPED#<time>``        an operator's resume, stops
``WAVE#<run>``                ``SERVING#<nn>#<instance>``            a serving instance's outcome
``LEASE#WAVE#<wave>``         ``LEASE``                              the run that holds a wave
``SKIP#WAVE#<wave>``          ``NEXT``, ``LOG#<time>#<action>``      an operator's skip, its audit
``NOTICE#<wave>``             ``<occurrence>#<kind>``                an advance notice, sent once
``BUDGET#<scope>``            ``BUDGET``                             a disruption budget's holders
``BUDGET#HOLDER#<instance>``  ``HOLDER``                             the scopes one instance holds
``COMMAND#<command>``         ``COMMAND`` or ``INSTANCE#<instance>`` a task token's waiter
``WAITING``                   ``<kind>#<subject>#<run>``             a run waiting to be ready
``WATCHER``                   ``LEASE``                              the readiness watcher's lease
``INSTANCE#<instance>``       ``COMPLIANCE`` (gsi1 ``COMPLIANCE``)   its latest compliance
``INSTANCE#<instance>``       ``COMPLIANCE#<time>#<event>``          a compliance change
``DIGEST``                    ``<time>#<instance>``                  an entry for the digest
``DIGEST_PENDING``            ``DIGEST``                             the digest scheduled
``CHURN#<group>``             ``CHURN``                              a group's launch churn
``REPORT#<run>``              ``REPORT`` (gsi1 ``REPORTS``)          a published report
``EXCLUSION#<id>``            ``EXPIRED#<environment>``              the report that said it expired
``IDEMPOTENCY#<function>``    ``<what>#<hash>``                      powertools idempotency
============================  =====================================  ==========================
"""

from __future__ import annotations

from datetime import datetime

Key = dict[str, dict[str, str]]

# --- the TTL rule --------------------------------------------------------------------------------

TTL_ATTRIBUTE = "expires_at"
"""The table's TTL attribute (template.yaml ``TimeToLiveSpecification``)."""
RECORD_TTL_SECONDS = 400 * 24 * 3600
"""How long run, wave, gate and report records live: a year of runs, for reports and audits."""


def expires_at(now: float, seconds: int = RECORD_TTL_SECONDS) -> dict[str, str]:
    """The ``expires_at`` attribute of an item written at ``now`` (epoch seconds)."""
    return {"N": str(int(now) + seconds)}


def _key(pk: str, sk: str) -> Key:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# --- runs (gsi1 RUNS by start time) --------------------------------------------------------------

RUN_SK = "RUN"
RUNS_INDEX = "RUNS"
LAUNCH_RUN_PREFIX = "RUN#"
WAVE_RUN_PREFIX = "WAVE#"


def launch_run_key(run_id: str) -> Key:
    """A patch-new-instance run's record (written by its ASL's RecordRun)."""
    return _key(f"{LAUNCH_RUN_PREFIX}{run_id}", RUN_SK)


def wave_pk(run_id: str) -> str:
    """The partition of a gated-wave run: its record, gates, plans, sends and audit."""
    return f"{WAVE_RUN_PREFIX}{run_id}"


def wave_run_key(run_id: str) -> Key:
    """A gated-wave run's record (written by its ASL's RecordWave)."""
    return _key(wave_pk(run_id), RUN_SK)


GATE_PREFIX = "GATE#"
PLAN_PREFIX = "PLAN#"
SEND_PREFIX = "SEND#"
RESUMED_SK = "RESUMED"
STOPPED_PREFIX = "STOPPED#"


def gate_sk(step: int) -> str:
    """The gate decision (or approval) before batch ``step``."""
    return f"{GATE_PREFIX}{step:02d}"


def batch_prefix(prefix: str, step: int) -> str:
    """The sort-key prefix of batch ``step``'s plan parts or sends (PLAN_PREFIX, SEND_PREFIX)."""
    return f"{prefix}{step:02d}#"


def plan_sk(step: int, part: int) -> str:
    return f"{batch_prefix(PLAN_PREFIX, step)}{part:04d}"


def send_sk(step: int, chunk: int) -> str:
    return f"{batch_prefix(SEND_PREFIX, step)}{chunk:05d}"


def stopped_sk(at: datetime) -> str:
    """One ``wave stop`` of a run, at ``at``."""
    return f"{STOPPED_PREFIX}{at.isoformat()}"


SERVING_PREFIX = "SERVING#"


def serving_sk(step: int, instance_id: str) -> str:
    """A serving instance's outcome in batch ``step`` (drain, health, time out of service)."""
    return f"{batch_prefix(SERVING_PREFIX, step)}{instance_id}"


# --- the wave lease ------------------------------------------------------------------------------

LEASE_PREFIX = "LEASE#WAVE#"
LEASE_SK = "LEASE"


def lease_key(wave: str) -> Key:
    """The one item that says which run holds a wave."""
    return _key(f"{LEASE_PREFIX}{wave}", LEASE_SK)


# --- emergency runs (fleetpatch.emergency) --------------------------------------------------------

EMERGENCY_PREFIX = "EMERGENCY#"
FINDING_PREFIX = "FINDING#"


def emergency_pk(cve: str) -> str:
    """Every finding (or request) recorded for one CVE: which instance, since when."""
    return f"{EMERGENCY_PREFIX}{cve}"


def finding_key(cve: str, instance_id: str) -> Key:
    return _key(emergency_pk(cve), f"{FINDING_PREFIX}{instance_id}")


# --- an operator's skip of a wave's next occurrence (fleetpatch.wave_skip) -------------------

SKIP_PREFIX = "SKIP#WAVE#"
SKIP_NEXT_SK = "NEXT"
SKIP_LOG_PREFIX = "LOG#"


def skip_key(wave: str) -> Key:
    """The skip of ``wave``'s next occurrence (pending, or taken by the run it skipped)."""
    return _key(f"{SKIP_PREFIX}{wave}", SKIP_NEXT_SK)


def skip_log_key(wave: str, at: datetime, action: str) -> Key:
    """One audited action on ``wave``'s skip (requested, cancelled, applied)."""
    return _key(f"{SKIP_PREFIX}{wave}", f"{SKIP_LOG_PREFIX}{at.isoformat()}#{action}")


def notice_key(wave: str, occurrence: datetime, kind: str) -> Key:
    """An advance notice of ``wave``'s ``occurrence`` (kind days or hour): sent once."""
    return _key(f"NOTICE#{wave}", f"{occurrence.isoformat()}#{kind}")


# --- disruption budgets ---------------------------------------------------------------------------

BUDGET_PREFIX = "BUDGET#"
BUDGET_SK = "BUDGET"
BUDGET_HOLDER_PREFIX = "BUDGET#HOLDER#"
BUDGET_HOLDER_SK = "HOLDER"


def budget_key(scope: str) -> Key:
    """The holders of one budget scope (``auto-scaling-group:web``, ``availability-zone:...``)."""
    return _key(f"{BUDGET_PREFIX}{scope}", BUDGET_SK)


def budget_holder_key(instance_id: str) -> Key:
    """Which scopes ``instance_id`` holds while it is out of service."""
    return _key(f"{BUDGET_HOLDER_PREFIX}{instance_id}", BUDGET_HOLDER_SK)


# --- command waiters -----------------------------------------------------------------------------

COMMAND_PREFIX = "COMMAND#"
WHOLE_COMMAND_SK = "COMMAND"


def command_key(command_id: str, instance_id: str | None) -> Key:
    """The waiter of one invocation, or (``instance_id`` None) of the whole command."""
    sk = WHOLE_COMMAND_SK if instance_id is None else instance_pk(instance_id)
    return _key(f"{COMMAND_PREFIX}{command_id}", sk)


# --- readiness waiters (fleetpatch.readiness) ----------------------------------------------------

WAITING_PK = "WAITING"
"""Every run waiting for a condition without an event (an agent Online): one partition, read by
the watcher with one Query."""
WATCHER_KEY: Key = {"pk": {"S": "WATCHER"}, "sk": {"S": "LEASE"}}


def waiting_key(kind: str, subject: str, run_id: str) -> Key:
    return _key(WAITING_PK, f"{kind}#{subject}#{run_id}")


# --- compliance and the digest -------------------------------------------------------------------

INSTANCE_PREFIX = "INSTANCE#"
COMPLIANCE_SK = "COMPLIANCE"
COMPLIANCE_INDEX = "COMPLIANCE"
"""gsi1pk of every instance's latest compliance: the fleet's view."""
DIGEST_PK = "DIGEST"


def instance_pk(instance_id: str) -> str:
    return f"{INSTANCE_PREFIX}{instance_id}"


def instance_of(pk: str) -> str:
    """The instance id of an ``INSTANCE#<id>`` partition key."""
    return pk.removeprefix(INSTANCE_PREFIX)


def compliance_key(instance_id: str) -> Key:
    """An instance's latest compliance state."""
    return _key(instance_pk(instance_id), COMPLIANCE_SK)


def compliance_history_key(instance_id: str, event_time: datetime, event_id: str) -> Key:
    """One change of an instance's compliance."""
    return _key(instance_pk(instance_id), f"{COMPLIANCE_SK}#{event_time.isoformat()}#{event_id}")


def compliance_history_time(sk: str) -> str:
    """The event time (ISO 8601) of a ``COMPLIANCE#<time>#<event>`` sort key."""
    return sk.split("#", 2)[1]


def digest_entry_key(event_time: datetime, instance_id: str) -> Key:
    """An entry the next digest sends (sorted by when the change happened)."""
    return _key(DIGEST_PK, f"{event_time.isoformat()}#{instance_id}")


def digest_entry_time(sk: str) -> datetime:
    """When a digest entry's change happened, from its sort key."""
    return datetime.fromisoformat(sk.rsplit("#", 1)[0])


DIGEST_PENDING_KEY: Key = _key("DIGEST_PENDING", DIGEST_PK)
"""The marker that a digest is scheduled (one at a time)."""


# --- launch churn --------------------------------------------------------------------------------

CHURN_PREFIX = "CHURN#"
CHURN_SK = "CHURN"


def churn_key(group: str) -> Key:
    """An Auto Scaling group's launch-churn streak."""
    return _key(f"{CHURN_PREFIX}{group}", CHURN_SK)


# --- reports (gsi1 REPORTS by end time) ----------------------------------------------------------

REPORT_PREFIX = "REPORT#"
REPORT_SK = "REPORT"
REPORTS_INDEX = "REPORTS"


def report_key(run_id: str) -> Key:
    """A published report's index entry."""
    return _key(f"{REPORT_PREFIX}{run_id}", REPORT_SK)


def by_time(at: str, run_id: str) -> str:
    """gsi1sk of a run or report: its time (ISO 8601, UTC), then its id."""
    return f"{at}#{run_id}"


# --- policy exclusions --------------------------------------------------------------------------

EXCLUSION_PREFIX = "EXCLUSION#"
EXCLUSION_EXPIRED_PREFIX = "EXPIRED#"


def exclusion_expiry_key(exclusion_id: str, environment: str) -> Key:
    """The run whose report says a policy exclusion expired in an environment (once)."""
    return _key(f"{EXCLUSION_PREFIX}{exclusion_id}", f"{EXCLUSION_EXPIRED_PREFIX}{environment}")


# --- powertools idempotency ----------------------------------------------------------------------

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
