"""Right Now Lab: one stock-price feed served by five HTTP transports at once."""

__version__ = "0.1.0"
