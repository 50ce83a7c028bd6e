"""Evaluation: the attribute judge, translation metrics and benchmarks."""
