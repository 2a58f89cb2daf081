"""Funding: pots, allocations and their superseding changes, drawdown by orders."""
