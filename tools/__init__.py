"""Controller-side programs: the offline bundle, the fleet report, benchmarks."""
