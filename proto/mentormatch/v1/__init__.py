"""mentormatch.v1: generated code; regenerate with `make proto`."""
