"""Bounces and complaints: VERP return paths, ingestion of DSN and ARF reports, the list-cleaning policy."""
