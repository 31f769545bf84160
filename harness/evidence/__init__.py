"""Evidence for ranges: what the recorded cells prove about each demo's declared range (edges.py), the
steps of a bisect (steps.py), and running the probes both need (probes.py, bisector.py, survey.py)."""
