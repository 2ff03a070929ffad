"""Model-agnostic training: the loop, LR schedules, the metrics log."""
