"""Analyses across methods: Etmann et al.'s alignment against robustness, the methods × metrics matrix, their
figures (with the robustness curves), and the jobs' I/O."""
