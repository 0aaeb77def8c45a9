"""The evaluate-gate function (Lambda imports its module ``app``)."""
