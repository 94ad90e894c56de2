"""CLI command groups. Each module defines ``register(app)`` and keeps its heavy imports inside commands."""
