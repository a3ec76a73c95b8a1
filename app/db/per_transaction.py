"""What a transaction remembers of its own reads, in ``session.info``.

A request asks the same small questions several times (the project's current spec, a
membership, a spec version's label keys, a project's watermark): each is read once and kept
under a key made by :func:`per_transaction`. Every such key is dropped from the session when
its outermost transaction ends (commit or rollback; a savepoint's end keeps them), so nothing
remembered outlives the transaction it was read in.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEYS: set[str] = set()


def per_transaction(key: str) -> str:
    """``key``, registered to be forgotten at the end of every outermost transaction."""
    _KEYS.add(key)
    return key


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (not a savepoint)
        for key in _KEYS:
            session.info.pop(key, None)


if not event.contains(Session, "after_transaction_end", _forget):
    event.listen(Session, "after_transaction_end", _forget)
