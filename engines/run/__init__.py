"""Running a comparison: the runner and its turn-taking, the live run state, telemetry and the
machine's description."""
