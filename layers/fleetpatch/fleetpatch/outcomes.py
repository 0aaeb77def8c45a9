"""One vocabulary for what happened to an instance, and one way to count it.

Every format (the SNS subject and e-mail body, Slack, the HTML page) and the gate's reasons
name an instance's outcome with these words and count a batch or a run with :class:`Tally`,
so a held wave cannot say "1 of 5 failed" in one place and "5 of 5" in another.

* ``patched``: this run's patch command succeeded and the instance is compliant after it;
* ``compliant``: this run scanned it and found nothing to install;
* ``non-compliant``: the command succeeded but patches are missing, failed (after a Scan)
  or wait for a reboot, or no patch state came after it;
* ``failed``: the command failed (or an Install left patches that failed to install);

The verdict on one instance is ``fleetpatch.contracts.verdict``'s.
* ``not-reached``: a member no patch command reached: stopped, not managed, the batch
  stopped sending at its ``max_errors``, the window did not reach it, or its batch was held
  by a gate. A gate counts it as failed;
* ``busy``: another run is still patching it: not counted;
* ``joined``: it joined the batch after it was sent and no run of its own patched it yet:
  not counted;
* ``terminated``: gone since the batch was sent: not counted;
* ``skipped-by-exception``: its ``fleetpatch:skip`` exception applied (``fleetpatch.skip_tag``):
  not sent, not counted, listed with its reason and date.

Instances whose patch group tags disagree are in no batch: they are *excluded*, counted and
listed apart, never as members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Outcome = Literal[
    "patched",
    "compliant",
    "non-compliant",
    "failed",
    "not-reached",
    "busy",
    "joined",
    "terminated",
    "skipped-by-exception",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
"""Every outcome, in the order every format lists and charts them."""

JUDGED: frozenset[str] = frozenset(
    {"patched", "compliant", "non-compliant", "failed", "not-reached"}
)
"""The outcomes a gate judges; the others are members it does not count."""
FAILING: tuple[Outcome, ...] = ("failed", "not-reached")
"""What a gate's ``max_failed`` counts."""
PROBLEMS: tuple[Outcome, ...] = ("failed", "not-reached", "non-compliant")
"""What a report lists first and a person should look at."""


def label(outcome: str) -> str:
    """The outcome as words: ``not-reached`` reads "not reached"; the others as they are."""
    if outcome == "skipped-by-exception":
        return "skipped by exception"
    return "not reached" if outcome == "not-reached" else outcome


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Tally:
    """How many instances ended in each outcome, and how many the tag rule excluded."""

    counts: Mapping[str, int] = field(default_factory=dict)
    excluded: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[str], excluded: int = 0) -> Tally:
        found = Counter(outcomes)
        unknown = set(found) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"outcome: {sorted(unknown)} not in {list(OUTCOMES)}")
        return cls({o: found[o] for o in OUTCOMES if found[o]}, excluded)

    def __getitem__(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)

    @property
    def total(self) -> int:
        """Members, whatever their outcome (excluded instances are not members)."""
        return sum(self.counts.values())

    @property
    def judged(self) -> int:
        return sum(n for o, n in self.counts.items() if o in JUDGED)

    @property
    def failing(self) -> int:
        return sum(self[o] for o in FAILING)

    @property
    def problems(self) -> int:
        return sum(self[o] for o in PROBLEMS)

    def describe(self, only: Iterable[str] | None = None) -> str:
        """'2 patched, 1 failed, 3 not reached; 1 excluded' (``only``: just these outcomes)."""
        wanted = set(OUTCOMES if only is None else only)
        parts = [f"{n} {label(o)}" for o, n in self.counts.items() if o in wanted]
        text = ", ".join(parts) or "no instances"
        if only is None and self.excluded:
            text += f"; {self.excluded} excluded"
        return text

    def sentence(self) -> str:
        """'6 instances: 2 patched, 1 failed, 3 not reached; 1 excluded': the one headline."""
        if not self.total:
            return "no instances" + (f"; {self.excluded} excluded" if self.excluded else "")
        return f"{plural(self.total, 'instance')}: {self.describe()}"

    def failing_phrase(self, amount: str | None = None) -> str:
        """'3 of 5 instances failed or were not reached (1 failed, 2 not reached)'.

        ``amount`` replaces the count (a gate's percentage, '60%'). What a gate counts
        against its allowance, in the words the report uses for the same instances.
        """
        head = f"{amount or self.failing} of {self.judged} instances failed"
        if not self["not-reached"]:
            return head
        return f"{head} or were not reached ({self.describe(FAILING)})"
