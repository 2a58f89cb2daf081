"""The unit of work: one database transaction holding a change, its audit rows and its events.

Services mutate state through ``uow.session`` and record what happened with
``uow.audit`` and ``uow.emit``; the entry point (an HTTP request or a CLI
command) commits. The outbox row, the audit row, the idempotency record and the
change therefore commit together or not at all: no event is ever sent for a
change that rolled back, and none is lost for one that committed.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from events.outbox import append_event
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent, diff
from marketplace.kernel.clock import Clock, utcnow
from marketplace.kernel.outbox import outbox_tables
from marketplace.kernel.settings import Settings
from schemas.events import registry
from schemas.events.registry import EventType

#: What another area does, in the same transaction, when an event is emitted: called with
#: the unit of work and the event's wire payload (``marketplace.bootstrap`` wires them).
Reaction = Callable[["UnitOfWork", dict[str, Any]], None]


class UnitOfWork:
    def __init__(
        self,
        session_factory: sessionmaker,
        actor: Actor,
        *,
        clock: Clock = utcnow,
        event_source: str = "/marketplace",
        request_id: str | None = None,
        reactions: Mapping[str, Sequence[Reaction]] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.actor = actor
        self.clock = clock
        self.event_source = event_source
        self.request_id = request_id
        self.reactions = reactions or {}
        #: The running marketplace's configuration (services that need a key or a switch
        #: read it here; None in bare units of work).
        self.settings = settings
        self.session: Session
        self._last_event_time: datetime | None = None

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def now(self) -> datetime:
        return self.clock()

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: str | int,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        subject_organisation_id: int | None = None,
    ) -> AuditEvent:
        """Append an audit row in this transaction (rolled back with the change)."""
        row = AuditEvent(
            at=self.now(),
            actor_id=self.actor.id,
            actor_role=str(self.actor.role),
            actor_organisation_id=self.actor.organisation_id,
            subject_organisation_id=subject_organisation_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            changes=json.loads(json.dumps(diff(before, after), default=str)),
            request_id=self.request_id,
        )
        self.session.add(row)
        return row

    def emit(self, event: EventType | str, data: dict[str, Any], *,
             subject: str | None = None) -> str:
        """Validate ``data`` against the contract and append it to the outbox; returns the ce_id.

        ``event`` is a registered type (an area's ``events`` module names its types through
        the registry) or its ``ce_type``. Other areas' reactions to it (by event name, wired
        by the bootstrap) run next, in this same transaction.
        """
        spec = event if isinstance(event, EventType) else registry.get(event)
        ce_type = spec.ce_type
        payload = registry.dump(ce_type, data)
        self.session.flush()
        event_id = str(uuid.uuid4())
        at = self._event_time()
        append_event(
            self.session.connection(),
            outbox_tables,
            event_id=event_id,
            topic=spec.topic,
            aggregate_key=spec.aggregate_ref(payload),
            record_key=spec.key(payload),
            ce_type=ce_type,
            ce_source=self.event_source,
            ce_subject=subject or spec.key(payload),
            ce_time=at,
            data=payload,
        )
        for react in self.reactions.get(spec.name, ()):
            react(self, payload)
        return event_id

    def _event_time(self) -> datetime:
        """``ce_time`` of the next event: now, but always after the previous event of this
        unit of work. Consumers merge partitions by ``ce_time`` (the trust adapters do), so
        a cause emitted before its effect (a contract signed, then an order under it) must
        never share its instant, even under a clock that stands still (tests, replays)."""
        at = self.now()
        if self._last_event_time is not None and at <= self._last_event_time:
            at = self._last_event_time + timedelta(microseconds=1)
        self._last_event_time = at
        return at

    def notify(self, name: str, data: dict[str, Any]) -> None:
        """Run other areas' reactions to a fact that has no event on the wire (a published
        clarification answer, say), in this same transaction; nothing goes to the outbox."""
        if any(spec.name == name for spec in registry.REGISTRY.values()):
            raise ValueError(f"{name} is an event: emit it")
        self.session.flush()
        for react in self.reactions.get(name, ()):
            react(self, data)
