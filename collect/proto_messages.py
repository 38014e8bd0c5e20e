"""Protobuf message classes from a table of fields: no protoc run and no generated code to keep in step.

Why: forewarn reads a few messages of formats whose ``.proto`` files it does not ship (Prometheus'
remote write, and in tests its exposition format). The official runtime parses the bytes from a
descriptor built here, in a private pool, so another library that registers the same message names
cannot clash. A field is (name, number, type, label, message type name or "").

>>> key = ("key", 1, FIELD.TYPE_STRING, FIELD.LABEL_OPTIONAL, "")
>>> classes = message_classes("demo.proto", "demo", {"Pair": [key]})
>>> classes["Pair"](key="a").SerializeToString()
b'\\n\\x01a'
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["FIELD", "Field", "message_classes"]

FIELD = descriptor_pb2.FieldDescriptorProto  # its TYPE_* and LABEL_* constants
Field = tuple[str, int, int, int, str]


def message_classes(file_name: str, package: str, shapes: dict[str, list[Field]]) -> dict[str, Any]:
    """A class per message of ``shapes`` (proto3), by its name; type names are ``.package.Name``."""
    proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
    for message, fields in shapes.items():
        described = proto.message_type.add(name=message)
        for name, number, kind, label, type_name in fields:
            field = described.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in shapes
    }
