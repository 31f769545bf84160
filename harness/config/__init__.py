"""Stage 1, configuration: matrix.toml (and its preset) → a typed, validated model. Imports no other stage."""
