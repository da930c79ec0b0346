"""Generated code for the holdfast.v1 contract (proto/holdfast/v1).

The modules here are written by scripts/gen_protos.py during `make build`.
"""
