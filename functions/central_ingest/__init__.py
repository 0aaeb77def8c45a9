"""The central-ingest function of the central stack (Lambda imports its module ``app``)."""
