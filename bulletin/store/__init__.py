"""The store: SQLAlchemy tables, sessions and queries. Imports neither render nor web."""
