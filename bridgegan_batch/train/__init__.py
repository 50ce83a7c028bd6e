"""Training: target sampling, losses, EMA, schedules, data streams, the loop, checkpoints."""
