"""The launch-outcome function (Lambda imports its module ``app``)."""
