"""The patch-on-launch function (Lambda imports its module ``app``)."""
