"""Data sets of the two tasks: Ising snapshots from Glauber Monte Carlo, and modular addition mod 113."""
