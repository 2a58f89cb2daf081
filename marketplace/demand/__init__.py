"""Demand: ICB demand signals, the supply that meets them, and national demand against
pre-approved supply."""
