"""The OpenAPI document (``document``), its schemas from protobuf (``protoschema``), and ``/docs``."""
