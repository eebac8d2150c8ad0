"""Bulletin: Markdown issues to responsive email, delivered to subscriber lists."""

__version__ = "0.1.0"
