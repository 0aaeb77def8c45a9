"""The await-command function (Lambda imports its module ``app``)."""
