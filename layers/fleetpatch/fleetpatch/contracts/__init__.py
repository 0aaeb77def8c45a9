"""The contracts that cross a boundary, each with one owner (docs/conventions.md item 14).

* :mod:`~fleetpatch.contracts.keys`: the state table's keys and the TTL rule;
* :mod:`~fleetpatch.contracts.names`: execution names (idempotency keys), window names and
  the resource names the CLI derives from a stage;
* :mod:`~fleetpatch.contracts.s3`: where things live in the artifacts bucket;
* :mod:`~fleetpatch.contracts.tags`: the tags fleetpatch writes (stage, run, snapshot
  retention) and finds its own resources by;
* :mod:`~fleetpatch.contracts.verdict`: what a patch run's evidence says about an instance.

The ASL, which cannot import them, is checked against them by
``tests/unit/test_asl_contracts.py`` and ``tests/unit/test_verdict_contract.py``. No imports
beyond the standard library: any module (and every handler) may use them at no cost.
"""
