"""The command line (``python -m robinterp <command>``): argument parsing and dispatch, one module per stage."""
