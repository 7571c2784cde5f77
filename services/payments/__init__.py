"""payments: charges a simulated card gateway for each placed order, exactly once."""
