"""Stage 3, planning: the release snapshot, interpreters, and which (release, Python) sessions run which demos."""
