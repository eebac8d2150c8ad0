"""Deliver: per-recipient messages, transports (maildir, smtp), DKIM, rate limit, retries, scheduling."""
