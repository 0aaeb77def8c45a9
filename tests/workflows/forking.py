"""Each workflow test in a fork of one deployed cloud, instead of a deploy per test.

A test that asks for ``deployed`` needs the real template deployed into a fresh local cloud.
The deploy is the same every time (about 1.3 s of CPU, ~320 API calls), and more than a
hundred tests pay it. So each pytest process deploys once, into a cloud it keeps (the
*template*), and runs every such test in a child made by ``fork()``: the child starts with the
template's memory (moto's backends, the simulators, the clock, the stack), copy-on-write, so
no test sees another's changes and the parent's cloud never changes. The child runs pytest's
own protocol for the item (setup, call, teardown, with capture) and sends the reports back
through a pipe; the parent logs them as its own.

Tests that do not ask for ``deployed`` (they build their own clouds, or share a module
fixture) run in the parent as usual, after the template is closed: one cloud per process.

``FLEETPATCH_FORK=off`` turns it off (a debugger, a profiler); so do ``--pdb`` and platforms
other than Linux. Either way each test gets an identical, freshly deployed cloud.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from localcloud.cloud import LocalCloud
from localcloud.deployer.stack import Stack
from localcloud.recorder import Recorder

ENVIRONMENT = "FLEETPATCH_FORK"


@dataclass
class Template:
    cloud: LocalCloud
    stack: Stack
    recorder: Recorder


@dataclass
class _Process:
    template: Template | None = None  # the kept cloud (in a child: the one it was forked from)
    in_child: bool = False


_PROCESS = _Process()


def deploy_fresh() -> Template:
    """A cloud with the stack deployed and every topic recorded (what each test starts with)."""
    cloud = LocalCloud()
    cloud.__enter__()
    try:
        recorder = Recorder(cloud)
        recorder.attach()
        stack = cloud.deploy()
        recorder.subscribe_to_topics()
    except BaseException:
        cloud.__exit__(*sys.exc_info())
        raise
    return Template(cloud, stack, recorder)


def inherited() -> Template | None:
    """The template this test's process was forked from (None when not in a forked child)."""
    return _PROCESS.template if _PROCESS.in_child else None


def enabled(config: pytest.Config) -> bool:
    setting = os.environ.get(ENVIRONMENT, "on").strip().lower()
    if setting in {"off", "0", "false"}:
        return False
    if setting not in {"on", "1", "true", ""}:
        raise pytest.UsageError(f"{ENVIRONMENT} must be 'on' or 'off', not {setting!r}")
    return sys.platform == "linux" and not config.getoption("usepdb", False)


def _ensure_template() -> Template:
    if _PROCESS.template is None:
        _PROCESS.template = deploy_fresh()
        # Its deploy's IAM decisions are the parent's to log, once, not each child's.
        _PROCESS.template.cloud.iam.flush()
        # Keep the template's objects out of every child's collections: a collection would
        # touch (and so copy) every page the child shares with the parent.
        gc.collect()
        gc.freeze()
    return _PROCESS.template


def close_template() -> None:
    """Close the kept cloud (a test that builds its own needs the process's moto to itself)."""
    template = _PROCESS.template
    if template is not None:
        _PROCESS.template = None
        gc.unfreeze()
        template.cloud.__exit__(None, None, None)


def _run_child(item: pytest.Item, nextitem: pytest.Item | None, out: int) -> None:
    _PROCESS.in_child = True
    status = 0
    try:
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
        hook = item.config.hook
        data = [hook.pytest_report_to_serializable(config=item.config, report=r) for r in reports]
        payload = pickle.dumps(data)
        with os.fdopen(out, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # the parent reports the child's death; nothing may escape a fork
        status = 1
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _failed(item: pytest.Item, why: str) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid=item.nodeid,
        location=item.location,
        keywords={name: 1 for name in item.keywords},
        outcome="failed",
        longrepr=why,
        when="call",
        sections=[],
        duration=0.0,
    )


def run_forked(item: pytest.Item, nextitem: pytest.Item | None) -> list[Any]:
    """Run ``item`` in a fork of the template; its reports, as the child made them."""
    # What an earlier test here left set up (a module fixture of a test run in this process)
    # and this one does not need is torn down here, as pytest does between items: the child
    # would find it on its stack and refuse to set up.
    item.session._setupstate.teardown_exact(item)
    _ensure_template()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # pytest-xdist's worker has I/O threads; the child never uses them (nor their locks).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _run_child(item, nextitem, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    # ... and what this process set up that the next item does not need (the module of an
    # earlier test run here) is torn down now, as pytest's teardown with nextitem would:
    # the next item, run here, would find it on the stack and refuse to set up.
    item.session._setupstate.teardown_exact(nextitem)
    if not payload:
        return [_failed(item, f"the forked test process died ({_describe(status)})")]
    hook = item.config.hook
    return [
        hook.pytest_report_from_serializable(config=item.config, data=data)
        for data in pickle.loads(payload)
    ]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
