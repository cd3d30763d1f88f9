"""JobSync benchmarks: figures, never pass/fail (see benchmarks/README.md)."""
