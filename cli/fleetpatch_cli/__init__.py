"""fleetpatch: the operators' command-line tool (not shipped in the Lambda layer)."""
