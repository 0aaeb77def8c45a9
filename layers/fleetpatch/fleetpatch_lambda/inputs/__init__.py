"""What each function takes: its configuration (environment) and request models, one module per
function (``functions/<name>`` -> ``fleetpatch_lambda.inputs.<name>``).

Pydantic models, so apart from the handlers: a handler's import loads no pydantic (cold start,
issue 19); its first invocation imports its module here. Being in the layer, a model names
the domain types it validates into directly (no forward references left to resolve).
"""
