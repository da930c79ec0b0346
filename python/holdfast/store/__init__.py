"""The durable store: the core's journal in an SQLite file.

- :mod:`holdfast.store.schema` owns the tables (the events table is the
  journal, the audit trail and the feed's outbox at once);
- :mod:`holdfast.store.sqlite` is the synchronous SQLite access, used only by
  the writer thread and at start-up;
- :mod:`holdfast.store.group_commit` is the bounded commit queue between the
  event loop and the writer thread.
"""
