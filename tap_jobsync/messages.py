"""Turning records into Singer messages fast: the per-record costs the benchmarks found.

Profiling ``benchmarks/bench_tap_throughput.py`` showed the tap spending most of
its CPU per record in three places, all replaced here with equivalents:

- ``conform_record_data_types`` walks the schema for every value of every
  record; :class:`RecordConformer` classifies each schema property once and
  hands the SDK's own function only what it would change (unknown properties,
  floats, datetimes, booleans sent as numbers);
- ``pop_deselected_record_properties`` looks up every property in the selection
  mask; it is skipped when the catalog deselects nothing;
- ``simplejson`` serialisation plus a flush per message: :class:`JobSyncMessageWriter`
  is singer-sdk's msgspec writer, flushing only after messages that are not RECORDs.
"""

from __future__ import annotations

import sys
import typing as t
from dataclasses import dataclass, field

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding import SingerMessageType

from jobsync_common.sdk_internals import (
    conform_primitive_property,
    is_exclusive_boolean_type,
    is_object_type,
    is_uniform_list,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Record
    from singer_sdk.singerlib.catalog import SelectionMask
    from singer_sdk.singerlib.encoding.simple import Message


class JobSyncMessageWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer, without a flush (a write system call) after every RECORD.

    RECORDs are flushed with the next STATE (or any other message) and at exit, so a
    STATE never reaches the target before the records it covers.
    """

    #: The last STATE written (re-emitted when a stop signal ends the run).
    last_state: Message | None = None

    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()
            if message.type == SingerMessageType.STATE:
                self.last_state = message


# Types the SDK's conformance returns unchanged (a boolean-only property turns an int or str into a bool).
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


@dataclass
class _Plan:
    """How the SDK conforms values of one schema node, decided once instead of per value."""

    schema: dict[str, t.Any]
    boolean_only: bool = False
    #: Set for an object node with properties (the SDK recurses into dicts).
    properties: dict[str, _Plan] | None = None
    keep_unknown: bool = False
    #: Set for a uniform array (the SDK conforms each item with this plan).
    items: _Plan | None = None
    #: For array items: the SDK recurses into dict items only when the item schema is an object.
    item_is_object: bool = field(default=False)


def _object_plan(schema: dict[str, t.Any]) -> _Plan:
    return _Plan(
        schema,
        properties={name: _property_plan(prop) for name, prop in schema.get("properties", {}).items()},
        keep_unknown=bool(schema.get("additionalProperties")),
    )


def _property_plan(schema: dict[str, t.Any]) -> _Plan:
    plan = _Plan(schema, boolean_only=is_exclusive_boolean_type(schema))
    if is_uniform_list(schema):
        item_schema = schema["items"]
        item_is_object = bool(is_object_type(item_schema))
        plan.items = _object_plan(item_schema) if item_is_object else _property_plan(item_schema)
        plan.item_is_object = item_is_object
    if is_object_type(schema) and "properties" in schema:
        nested = _object_plan(schema)
        plan.properties, plan.keep_unknown = nested.properties, nested.keep_unknown
    return plan


class _UnknownPropertyError(Exception):
    """A record holds a property the schema does not know (the SDK's own function handles that record)."""


class RecordConformer:
    """``conform_record_data_types`` (level RECURSIVE) for one schema, planned once.

    Returns exactly what the SDK's function returns. A record holding a property the
    schema does not know is left to the SDK function itself, which drops it and logs
    its one warning.
    """

    def __init__(self, schema: dict[str, t.Any]) -> None:
        self.plan = _object_plan(schema)

    def conform(self, record: Record) -> Record | None:
        """The conformed record, or None when it holds a property the schema does not know."""
        try:
            return self._object(record, self.plan)
        except _UnknownPropertyError:
            return None

    def _object(self, record: Record, plan: _Plan) -> Record:
        properties = plan.properties or {}
        out: Record = {}
        for name, value in record.items():
            prop = properties.get(name)
            if prop is None:
                if not plan.keep_unknown:
                    raise _UnknownPropertyError
                out[name] = value
            else:
                out[name] = self._value(value, prop)
        return out

    def _value(self, value: t.Any, plan: _Plan) -> t.Any:
        if type(value) in _PLAIN_TYPES and (not plan.boolean_only or value is None or type(value) is bool):
            return value
        if isinstance(value, list) and plan.items is not None:
            items = plan.items
            if plan.item_is_object:
                return [
                    self._object(v, items) if isinstance(v, dict) else conform_primitive_property(v, items.schema)
                    for v in value
                ]
            return [self._primitive(v, items) for v in value]
        if isinstance(value, dict) and plan.properties is not None:
            return self._object(value, plan)
        return self._primitive(value, plan)

    @staticmethod
    def _primitive(value: t.Any, plan: _Plan) -> t.Any:
        if type(value) in _PLAIN_TYPES and (not plan.boolean_only or value is None or type(value) is bool):
            return value
        return conform_primitive_property(value, plan.schema)


class RecordPlan:
    """What a stream decides once per schema and selection, not once per record."""

    def __init__(self, schema: dict[str, t.Any], mask: SelectionMask) -> None:
        self.schema = schema
        self.mask = mask
        self.conformer = RecordConformer(schema)
        #: No property is deselected: ``pop_deselected_record_properties`` would remove nothing.
        self.selects_everything = all(mask.values())

    def built_for(self, schema: dict[str, t.Any], mask: SelectionMask) -> bool:
        return schema is self.schema and mask is self.mask
