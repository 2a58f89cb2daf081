"""Reading the append-only audit trail (the unit of work writes it)."""
