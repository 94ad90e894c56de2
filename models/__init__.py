"""Bullish / bearish / neutral classifiers: load any model, batch inference, train, evaluate."""
from models.labels import LABELS

__all__ = ["LABELS"]
