"""The benchmark: `python -m lab.bench` (see __main__.py and README.md "Benchmark")."""
