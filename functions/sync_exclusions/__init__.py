"""The sync-exclusions function (Lambda imports its module ``app``)."""
