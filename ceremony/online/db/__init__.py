"""Database layer: models (:mod:`.models`), engines and migrations (:mod:`.engine`)."""
