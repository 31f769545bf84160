"""Stage 4, execution: build a release's env, start its services and warm runner, run its cells, record them."""
