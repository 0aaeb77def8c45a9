"""The serve-instance function (Lambda imports its module ``app``)."""
