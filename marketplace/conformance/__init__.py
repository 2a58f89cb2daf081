"""Trust conformance: which trust adapters are current, lagging or diverged from the
central state."""
