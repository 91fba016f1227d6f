"""Helpers for tests: real services (WordPress) that tests bring up and stop."""
