"""The state machines as Amazon States Language files (package data, read by definitions.py)."""
