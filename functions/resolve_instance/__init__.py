"""The resolve-instance function (Lambda imports its module ``app``)."""
