"""The snapshot-retention function (Lambda imports its module ``app``)."""
