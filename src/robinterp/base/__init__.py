"""What every stage shares and nothing of ours is imported into: errors, file I/O, config sections → settings,
the seeds of random streams, the long table format with the paper's numbers, and figure helpers."""
