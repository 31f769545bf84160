"""Code that runs inside a release's interpreter (Python 3.7 and later): standard library only.

These files are started by path (`python warm_runner.py ...`), never imported by the host harness.
"""
