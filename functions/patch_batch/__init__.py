"""The patch-batch function (Lambda imports its module ``app``)."""
