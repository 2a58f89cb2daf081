"""HTTP conventions shared by every endpoint: errors, auth, pagination, idempotency, ETags."""
