"""The app's widgets, one per file, each named for what it shows."""
