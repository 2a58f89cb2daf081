"""The catalogue: innovation listings, their lifecycle, evidence files, categories and
search."""
