"""Pure domain rules (no Flask, no database): state machines and evidence arithmetic."""
