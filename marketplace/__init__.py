"""The NHS innovation marketplace: innovations approved once, centrally, procured the same way."""
