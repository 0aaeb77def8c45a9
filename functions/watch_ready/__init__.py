"""The watch-ready function (Lambda imports its module ``app``)."""
