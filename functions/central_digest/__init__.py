"""The central-digest function of the central stack (Lambda imports its module ``app``)."""
