"""The run's one-file HTML report: every table beside the paper's numbers, every figure, config and versions."""
