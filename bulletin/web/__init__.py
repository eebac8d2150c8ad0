"""The public web pages: one-click unsubscribe, double opt-in subscribe and the archive of sent issues."""
