"""Generate the Python code and type stubs for proto/holdfast/v1 (one script).

    .venv/bin/python scripts/gen_protos.py

Writes python/holdfast/v1/*_pb2.py, *_pb2_grpc.py and their .pyi stubs
(mypy-protobuf). The generated files are not committed: `make build` runs this
script, so a fresh clone generates them before anything imports them.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
OUT = ROOT / "python"


def include_dirs() -> list[str]:
    # google/protobuf/*.proto ship with grpcio-tools; google/rpc/*.proto with
    # googleapis-common-protos (a dependency of grpcio-status).
    import google.rpc

    well_known = resources.files("grpc_tools") / "_proto"
    googleapis = Path(google.rpc.__path__[0]).parent.parent
    return [str(PROTO), str(well_known), str(googleapis)]


def main() -> int:
    sources = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    bin_dir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        *(f"--proto_path={d}" for d in include_dirs()),
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed ({code})", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
