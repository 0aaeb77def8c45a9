"""The Lambda functions, one package each: ``functions/<name>/app.py`` is what Lambda imports."""
