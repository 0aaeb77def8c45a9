"""The emergency function (Lambda imports its module ``app``)."""
