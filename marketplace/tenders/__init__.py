"""Tenders: an ICB competes a need among innovators, from its notice to its award."""
