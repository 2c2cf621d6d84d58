"""Swarm services as shipway manages them: desired spec, difference, convergence."""
