"""The app's screens: the scenario picker, the live dashboard, and two small dialogs."""
