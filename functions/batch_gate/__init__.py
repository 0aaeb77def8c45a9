"""The batch-gate function (Lambda imports its module ``app``)."""
