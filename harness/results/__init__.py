"""Stage 2, the journal: outcomes, cell records, where they are stored, and how two runs differ."""
