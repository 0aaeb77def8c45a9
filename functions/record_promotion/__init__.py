"""The record-promotion function (Lambda imports its module ``app``)."""
