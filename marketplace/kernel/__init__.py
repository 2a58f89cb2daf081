"""Shared machinery of every business area: database base, clock, unit of work, errors,
the acting party, the state machine and the scheduler. Nothing here knows an area."""
