"""mentormatch's matching engine: a pure library (no gRPC): ingest, validate, candidates, scores, solve, explain."""
