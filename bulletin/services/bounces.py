"""Reading bounces and complaints back into the lists (`bulletin bounces ingest`)."""

from __future__ import annotations

from collections.abc import Iterable

from bulletin.bounces.ingest import IngestSummary, ingest as ingest_messages
from bulletin.services.store import Store


def ingest(store: Store, cfg, messages: Iterable, **options) -> IngestSummary:
    """Apply the [bounces] policy to every message of a source, one transaction each."""
    return ingest_messages(store.engine, cfg, messages, **options)
