"""The await-ready function (Lambda imports its module ``app``)."""
