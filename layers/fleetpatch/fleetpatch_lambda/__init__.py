"""Lambda wiring for fleetpatch handlers: observability and the event edge.

Kept apart from the ``fleetpatch`` domain package so the domain stays free of
Lambda-specific imports and can be used by the CLI and tests as plain Python.
"""
