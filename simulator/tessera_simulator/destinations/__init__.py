"""Stand-in destinations for tests and the demo."""
