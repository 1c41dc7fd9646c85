"""The server under test: booting it, watching it, the machine-speed reference."""
