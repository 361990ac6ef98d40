"""The fleet report: `python -m tools.report INVENTORY [--json]`, read-only."""
