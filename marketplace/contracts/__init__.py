"""Contracts: created by an award, signed after the standstill, varied and terminated."""
