"""Images made by a classifier (Boychev 2023, §3.3–3.5): class seeds and generation, representation inversion,
feature visualisation, the FID and inversion distances of tables 2/3 and 5/6, the figures, and the jobs' I/O."""
