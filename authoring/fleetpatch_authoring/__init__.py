"""fleetpatch's build-time package: the fleet policy file's schema, checks and renderer.

Used by the CLI, ``make policy``, the tools and the local cloud; never shipped in the
Lambda layer, which holds only the compiled form it reads (``fleetpatch.policy``).
"""
