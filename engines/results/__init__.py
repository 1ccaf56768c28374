"""What a run produced: the results document, verdicts (parity, speed-up), fairness, repeats,
the mode matrix, inference latency, the saved-run store and the diff of two runs."""
