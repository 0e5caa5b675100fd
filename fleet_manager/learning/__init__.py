"""Learning from the store's history: training tables, ETA and customs-delay models."""
