"""The compliance-change function (Lambda imports its module ``app``)."""
