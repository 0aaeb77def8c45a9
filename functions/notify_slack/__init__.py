"""The notify-slack function (Lambda imports its module ``app``)."""
