"""Errors of the models package. The CLI shows their message as one line."""


class ModelError(Exception):
    """Base class for a problem with loading, training or running a model, phrased for the user."""
