"""The command-status function (Lambda imports its module ``app``)."""
