"""Training: the loop, checkpoints and hooks."""
