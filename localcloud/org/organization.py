"""An organization's accounts and regions as local clouds, one running at a time.

moto keeps every account's and region's state in its own backends, keyed by account and
region, and answers a request as the account in ``MOTO_ACCOUNT_ID``. So one moto state can
hold a whole organization: the :class:`Organization` starts moto once (with
``mock_aws``, reset once), creates the organization in moto's Organizations as the
management account, and gives each (account, region) its own :class:`LocalCloud` on that
shared state (``LocalCloud.start(shared_moto=True)``). The process-wide parts (the registry,
the environment, the IAM hook, the simulated clock in force) belong to one cloud at a time:
:meth:`Organization.using` suspends the running cloud, starts or resumes the asked one, and
on leaving suspends it and resumes the previous one. A suspended cloud keeps its
simulators, its Lambda runtime and its clock, whose time stands still (discrete clocks,
time factor 0) until it runs again.

What crosses clouds: moto's state itself (a bucket policy, a bus policy, an object put by
a member into the central bucket), IAM evaluated across accounts
(:mod:`localcloud.core.iam.policy`), and events a rule forwards to a bus of another
account or region: queued here for that cloud and delivered when it next runs
(``localcloud.adapters.events.BUS_FORWARDER``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from localcloud.adapters import events
from localcloud.cloud import LOCAL_ENVIRONMENT, REPO_ROOT, LocalCloud
from localcloud.core import clock as sim
from localcloud.core.iam.principal import acting_as
from localcloud.org.stacksets import StackSets

MANAGEMENT_ACCOUNT = "000000000000"


class Organization:
    """AWS Organizations (root, OUs, accounts) and a LocalCloud per (account, region)."""

    def __init__(
        self,
        *,
        management_account: str = MANAGEMENT_ACCOUNT,
        start: datetime = sim.DEFAULT_START,
        repo_root: Path = REPO_ROOT,
        iam: bool | None = None,
    ) -> None:
        self.management_account = management_account
        self.start_time = start
        self.repo_root = repo_root
        self.iam = iam
        self.id = ""
        self.root_id = ""
        self.clouds: dict[tuple[str, str], LocalCloud] = {}
        self.stack_sets = StackSets(self)
        self._started: set[tuple[str, str]] = set()
        self._running: list[tuple[str, str]] = []
        self._inbox: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        self._mock: Any = None
        self._saved: dict[str, str | None] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Organization:
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        with self.as_management() as organizations:
            self.id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
            self.root_id = organizations.list_roots()["Roots"][0]["Id"]
        return self

    def stop(self) -> None:
        while self._running:
            self.clouds[self._running.pop()].suspend()
        for key in list(self._started):
            self.clouds[key].stop()
        self._started.clear()
        self.stack_sets.close()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> Organization:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- AWS Organizations ----------------------------------------------------------------------

    @contextmanager
    def as_management(self) -> Iterator[Any]:
        """An Organizations client of the management account (the harness: no IAM check)."""
        overlay = {**LOCAL_ENVIRONMENT, "MOTO_ACCOUNT_ID": self.management_account}
        saved = {key: os.environ.get(key) for key in overlay}
        os.environ.update(overlay)
        try:
            with acting_as(None):
                yield boto3.client("organizations", region_name="us-east-1")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def create_organizational_unit(self, name: str, parent_id: str | None = None) -> str:
        with self.as_management() as organizations:
            unit = organizations.create_organizational_unit(
                ParentId=parent_id or self.root_id, Name=name
            )["OrganizationalUnit"]
        return str(unit["Id"])

    def create_account(self, name: str, ou_id: str | None = None) -> str:
        """A new member account (in ``ou_id``, else the root); StackSets auto-deploy to it."""
        with self.as_management() as organizations:
            status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")[
                "CreateAccountStatus"
            ]
            account = str(status["AccountId"])
            if ou_id is not None:
                organizations.move_account(
                    AccountId=account, SourceParentId=self.root_id, DestinationParentId=ou_id
                )
        self.stack_sets.account_joined(account)
        return account

    def move_account(self, account: str, ou_id: str) -> None:
        """Move ``account`` into ``ou_id``; StackSets targeting that OU auto-deploy to it."""
        with self.as_management() as organizations:
            [parent] = organizations.list_parents(ChildId=account)["Parents"]
            organizations.move_account(
                AccountId=account, SourceParentId=parent["Id"], DestinationParentId=ou_id
            )
        self.stack_sets.account_joined(account)

    def ancestors(self, account: str) -> list[str]:
        """The account's parent OU, its parents, ..., the root."""
        chain: list[str] = []
        child = account
        with self.as_management() as organizations:
            while child != self.root_id:
                [parent] = organizations.list_parents(ChildId=child)["Parents"]
                chain.append(str(parent["Id"]))
                child = parent["Id"]
        return chain

    def accounts(self) -> list[str]:
        """Every active account of the organization, the management account included."""
        with self.as_management() as organizations:
            pages = organizations.get_paginator("list_accounts").paginate()
            return [a["Id"] for page in pages for a in page["Accounts"] if a["Status"] == "ACTIVE"]

    # --- the clouds ---------------------------------------------------------------------------

    def cloud(self, account: str, region: str) -> LocalCloud:
        """The cloud of ``account`` in ``region`` (created on first use, not running)."""
        key = (account, region)
        if key not in self.clouds:
            self.clouds[key] = LocalCloud(
                account_id=account,
                region=region,
                start=self.start_time,
                repo_root=self.repo_root,
                iam=self.iam,
                organization_id=self.id,
            )
        return self.clouds[key]

    @contextmanager
    def using(self, account: str, region: str) -> Iterator[LocalCloud]:
        """Run the cloud of ``account`` in ``region`` for the block (the others wait)."""
        key = (account, region)
        if self._running and self._running[-1] == key:
            yield self.clouds[key]
            return
        if self._running:
            self.clouds[self._running[-1]].suspend()
        cloud = self.cloud(account, region)
        if key in self._started:
            cloud.resume()
        else:
            cloud.start(shared_moto=True)
            self._started.add(key)
            events.BUS_FORWARDER.set(self._forward)
        self._running.append(key)
        try:
            self._deliver_inbox(key)
            yield cloud
        finally:
            self._running.pop()
            cloud.suspend()
            if self._running:
                self.clouds[self._running[-1]].resume()

    @property
    def running(self) -> LocalCloud | None:
        return self.clouds[self._running[-1]] if self._running else None

    # --- events between accounts ----------------------------------------------------------------

    def _forward(self, bus_arn: str, event: dict[str, Any]) -> None:
        """An event EventBridge may put on another account's or region's bus: queue it there."""
        _, _, _, region, account, _ = bus_arn.split(":", 5)
        self._inbox.setdefault((account, region), []).append((bus_arn, event))

    def pending(self, account: str, region: str) -> list[dict[str, Any]]:
        """Events forwarded to a bus of ``account`` in ``region``, not yet delivered there."""
        return [event for _, event in self._inbox.get((account, region), [])]

    def _deliver_inbox(self, key: tuple[str, str]) -> None:
        for bus_arn, event in self._inbox.pop(key, []):
            events.arrive(bus_arn, event)
