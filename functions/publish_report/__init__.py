"""The publish-report function (Lambda imports its module ``app``)."""
