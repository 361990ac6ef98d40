"""The benchmark: `python -m tools.bench` (see __main__.py and README.md "Benchmark")."""
