"""Vision stages: each a small module with one job and a typed, frozen result."""
