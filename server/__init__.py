"""mentormatch's gRPC service, its proto <-> engine mapping, metrics, and the command line."""
