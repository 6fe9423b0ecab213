"""repro: experiment definitions, command line and figure pipeline of the reproducibility artifact."""
