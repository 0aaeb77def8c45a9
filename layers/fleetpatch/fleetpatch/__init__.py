"""fleetpatch: the domain package of the patch control plane.

Pure domain code (event contract, routing, policy, gates, reports and AWS adapters).
Nothing here imports Lambda-specific tooling or touches AWS at import time; the
Lambda wiring lives in ``fleetpatch_lambda``.
"""
