"""Protobuf and gRPC stubs of the TaaS API, private to taas_client.

The modules next to this file are written by client/python/gen_stubs.py
(protoc + grpc_python_plugin) and committed. Their descriptors live in POOL,
not in protobuf's default pool, so they never clash with other stubs of the
same .proto files loaded in the same process.
"""

from google.protobuf import descriptor_pool as _descriptor_pool

POOL = _descriptor_pool.DescriptorPool()
