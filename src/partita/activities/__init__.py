"""The activities layer: one module per activity kind (its ``run`` and ``check``)."""
