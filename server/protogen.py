"""Regenerate the committed protobuf/gRPC Python code beside every .proto under proto/ (`make proto`)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

from solver.fileio import write_atomic

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
"""The root of the .proto tree; also the import root (`-Iproto`) and where generated code is committed."""

VENDOR_ROOT = PROTO_ROOT / "vendor"
"""The import root of other projects' .proto files copied under proto/ (googleapis' `google/api/field_behavior.proto`
and `google/rpc/*`), so that buf, protoc and every language's tools find the contract's imports under proto/.
Not generated here: Python imports them from googleapis-common-protos, whose copies they must equal."""

GENERATED_SUFFIXES: tuple[str, ...] = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
"""Endings of the files protoc writes; any file under the output tree with one of them is generated."""

_GRPC_SUFFIXES: tuple[str, ...] = ("_pb2_grpc.py", "_pb2_grpc.pyi")


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """Every .proto file of the contract under `root`, relative to it, in a stable order (vendored copies left out)."""
    return sorted(rel for rel in (p.relative_to(root) for p in root.rglob("*.proto")) if rel.parts[0] != "vendor")


def vendored_files(root: Path = VENDOR_ROOT) -> list[Path]:
    """The vendored .proto files (see `VENDOR_ROOT`), relative to their import root."""
    return sorted(p.relative_to(root) for p in root.rglob("*.proto"))


def is_generated(path: Path) -> bool:
    """True for a file protoc (or a protoc plugin) writes."""
    return path.name.endswith(GENERATED_SUFFIXES)


def generated_files(root: Path) -> dict[Path, bytes]:
    """The generated files under `root` (relative path -> content)."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and is_generated(p)}


def _plugin(name: str) -> Path:
    """A protoc plugin installed by mypy-protobuf: in the running interpreter's bin dir, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} nor on PATH; run `make setup` (dev extras)")
    return Path(found)


def _protoc(options: list[str], root: Path) -> None:
    """Run grpc_tools' bundled protoc over every .proto under `root` (well-known types importable).

    In a child process: loading protoc's descriptor pool beside OR-Tools' in one interpreter aborts it
    ("GeneratedDatabase()->Add" check), so the test that regenerates code must not share the test process.
    """
    import subprocess

    well_known = _grpc_tools_proto_dir()
    files = [p.as_posix() for p in proto_files(root)]
    if not files:
        raise FileNotFoundError(f"no .proto files under {root}")
    includes = [f"-I{root}", f"-I{googleapis_proto_dir()}", f"-I{well_known}"]
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *includes, *options, *files],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed with exit code {done.returncode}: {done.stderr.strip()}")


def _grpc_tools_proto_dir() -> Path:
    """grpc_tools' bundled well-known .proto files, found without importing grpc_tools here."""
    import importlib.util

    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("grpcio-tools is not installed (it is a dev dependency: pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "_proto"


def googleapis_proto_dir() -> Path:
    """The import root of googleapis-common-protos' .proto files (`google/api/field_behavior.proto`, `google/rpc/...`),
    the package whose `google.api.field_behavior_pb2` the generated code imports; found without importing it here."""
    import importlib.util

    spec = importlib.util.find_spec("google.api")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("googleapis-common-protos is not installed (a dependency: pip install -e .)")
    for folder in spec.submodule_search_locations:
        if (Path(folder) / "field_behavior.proto").is_file():
            return Path(folder).parent.parent
    raise RuntimeError("googleapis-common-protos ships no google/api/field_behavior.proto")


def _run_protoc(out: Path, descriptor_set: Path, root: Path) -> None:
    options = [
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--mypy_grpc_out=quiet:{out}",
        f"--descriptor_set_out={descriptor_set}",
    ]
    _protoc(options, root)


def describe(root: Path = PROTO_ROOT) -> descriptor_pb2.FileDescriptorSet:
    """The descriptors of every .proto under `root`, with source info (comments, spans); for contract checks."""
    with tempfile.TemporaryDirectory(prefix="protogen-") as tmp:
        out = Path(tmp) / "descriptors.binpb"
        _protoc(["--include_source_info", f"--descriptor_set_out={out}"], root)
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _service_less(descriptor_set: Path) -> list[str]:
    """The .proto files (import paths) that declare no service: they get no *_pb2_grpc files."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    return [f.name for f in fds.file if not f.service]


def generate(into: Path, root: Path = PROTO_ROOT) -> None:
    """Generate Python code for every .proto under `root` into the tree at `into`.

    Writes `*_pb2.py` and `*_pb2.pyi` for every file, `*_pb2_grpc.py` and `*_pb2_grpc.pyi` only for
    files that declare a service, and removes generated files under `into` that no .proto produces
    any more. Files whose content is unchanged are not rewritten.
    """
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="protogen-") as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        descriptor_set = Path(tmp) / "descriptors.binpb"
        _run_protoc(out, descriptor_set, root)
        for name in _service_less(descriptor_set):
            stem = name.removesuffix(".proto")
            for suffix in _GRPC_SUFFIXES:
                (out / f"{stem}{suffix}").unlink(missing_ok=True)
        fresh = generated_files(out)
    for rel in generated_files(into):
        if rel not in fresh:
            (into / rel).unlink()
    for rel, content in fresh.items():
        target = into / rel
        if target.is_file() and target.read_bytes() == content:
            continue
        write_atomic(target, content)  # a half-written module would break every import of the contract


def main() -> int:
    generate(PROTO_ROOT)
    for rel in sorted(generated_files(PROTO_ROOT)):
        print(f"proto/{rel.as_posix()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
