"""mentormatch's gRPC service, its proto <-> engine mapping, metrics, and the command line."""

import os

# Before any module of this package imports grpc: gRPC's fork handlers reset its event engine in forked children
# (the solver forks killable children for long flows and model loads; see `solver.stop`), and a variable set after
# grpc is imported may come too late for its core. Set here as well as in `solver.stop`, whichever comes first.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
