"""Inventories: which workstations a run targets (lab.py from a YAML host list, local.py, sim.py)."""
