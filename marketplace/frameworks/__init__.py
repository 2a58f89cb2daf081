"""Frameworks, lots and framework awards: the gate every trust's route checks before a
call-off."""
