"""Open contracting data: each tender's history as OCDS 1.1 releases and records."""
