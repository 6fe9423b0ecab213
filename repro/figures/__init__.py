"""The paper's figures, Table 1 and the claims report, drawn from the results stores (README.md here)."""
