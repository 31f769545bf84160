"""The version-matrix harness: matrix.toml → envs per release → cells → report.

It never imports the package under test; it drives it in other interpreters.
"""

__version__ = "0.7.0"
