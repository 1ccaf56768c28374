"""The program's exit codes: 0 done; 1 an engine failed or an output could not be written;
2 bad input, refused before anything ran; 130 Ctrl-C or SIGTERM. A module of its own so the
entry point can name them before anything else loads."""

EXIT_OK, EXIT_ENGINE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
