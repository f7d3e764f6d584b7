"""Generated protobuf and gRPC code for the mentormatch contract (see proto/mentormatch/v1/*.proto)."""
