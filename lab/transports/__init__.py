"""Transport adapters: each turns hub messages into one wire format, and nothing more."""
