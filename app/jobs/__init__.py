"""Background jobs: the broker, the one outbox actor, the relay and the in-process worker.

Nothing here holds global state: :class:`app.jobs.worker.JobSystem` builds its own broker and
actors, so an app, a CLI worker and each test can have their own.
"""
