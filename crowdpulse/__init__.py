"""crowdpulse: read what trading crowds write, score it, and test it against the market."""
__version__ = "0.1.0"
