"""The figure pipeline: every figure of the paper drawn from the results stores and the measures."""
