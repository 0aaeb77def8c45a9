"""The monthly-export function (Lambda imports its module ``app``)."""
