"""The tap's planned record conformance gives exactly what singer-sdk's ``conform_record_data_types`` gives.

``tap_jobsync.messages.RecordConformer`` replaces the SDK's per-value schema walk
(the tap's largest per-record cost, see benchmarks/README.md); these properties
hold it to the SDK's output for every stream schema and for any JSON-like record.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.helpers._typing import (
    _conform_record_data_types,
    conform_record_data_types,
)
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_jobsync.messages import RecordConformer

SCHEMA_FILES = sorted((Path(__file__).parent.parent / "tap_jobsync").glob("*/schemas/*.json"))
# What the stream schemas do not show: boolean-only and integer properties, arrays of
# objects, nested objects with and without additionalProperties.
SYNTHETIC = {
    "type": "object",
    "properties": {
        "flag": {"type": ["boolean", "null"]},
        "count": {"type": ["integer", "null"]},
        "ratio": {"type": "number"},
        "when": {"type": ["string", "null"], "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "boolean"}},
        "rows": {
            "type": "array",
            "items": {"type": "object", "properties": {"on": {"type": "boolean"}, "n": {"type": "integer"}}},
        },
        "open": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": True},
        "closed": {"type": ["object", "null"], "properties": {"y": {"type": ["boolean", "null"]}}},
        "free": {"type": ["object", "null"]},
    },
}
SCHEMAS = {path.stem: json.loads(path.read_text()) for path in SCHEMA_FILES} | {"synthetic": SYNTHETIC}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "on", "n", "z"]), inner, max_size=3)
    ),
    max_leaves=8,
)


def records_for(schema: dict) -> st.SearchStrategy[dict]:
    names = [*sorted(schema["properties"]), "not_in_schema"]
    return st.dictionaries(st.sampled_from(names), json_values, max_size=len(names))


def sdk_conform(record: dict, schema: dict) -> tuple[dict, list[str]]:
    return _conform_record_data_types(record, schema, TypeConformanceLevel.RECURSIVE, None)


def same(left: object, right: object) -> bool:
    """Equality that treats NaN as equal to itself (both sides keep the same float object)."""
    return json.dumps(left, sort_keys=True, default=str) == json.dumps(right, sort_keys=True, default=str)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_conformed_records_equal_the_sdks_and_unknown_properties_go_back_to_the_sdk(name, data):
    schema = SCHEMAS[name]
    record = data.draw(records_for(schema))
    expected, unmapped = sdk_conform(record, schema)
    conformed = RecordConformer(schema).conform(record)
    if unmapped:
        assert conformed is None, f"{name}: the SDK drops {unmapped}; the planned conformer must hand it over"
    else:
        assert conformed is not None and same(conformed, expected)


def test_a_boolean_sent_as_a_number_becomes_a_boolean_as_the_sdk_makes_it():
    conformed = RecordConformer(SYNTHETIC).conform({"flag": 1, "rows": [{"on": 0, "n": 3}], "closed": {"y": None}})
    # Compared as JSON: in Python 1 == True, on the wire `1` is not `true`.
    assert json.dumps(conformed) == '{"flag": true, "rows": [{"on": false, "n": 3}], "closed": {"y": null}}'


def test_a_stream_record_with_an_unknown_property_is_left_to_the_sdk_which_warns_once(caplog):
    schema = SCHEMAS["jobcase_jobs"]
    record = {"id": 1, "surprise": "new API field"}
    assert RecordConformer(schema).conform(record) is None
    with caplog.at_level(logging.WARNING):
        assert conform_record_data_types(
            "jobcase_jobs", record, schema, TypeConformanceLevel.RECURSIVE, logging.getLogger("t")
        ) == {"id": 1}
    assert "surprise" in caplog.text
