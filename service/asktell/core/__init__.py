"""Domain: search space, encoding, trial states, snapshots and errors."""
