"""The resource creators, one module per AWS service family; :mod:`..registry` lists them."""
