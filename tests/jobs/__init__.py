"""Job tests: the outbox domain, the recount, and workers on the embedded and real brokers."""
