"""Bundled cohorts and what-if scenarios, and the seeded generator that made them."""
