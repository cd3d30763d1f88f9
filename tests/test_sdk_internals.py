"""singer-sdk still behaves as jobsync_common/sdk_internals.py relies on: one test per touch.

Each test drives a tiny in-memory tap or target through singer-sdk itself and checks the one
behaviour a touch depends on. When an SDK upgrade changes it, the test of that touch fails,
naming it, before any connector misbehaves.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import typing as t

import pytest
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.sinks import BatchSink

from jobsync_common import sdk_internals as internals

SCHEMA = th.PropertiesList(th.Property("id", th.IntegerType), th.Property("pid", th.IntegerType)).to_dict()


class Parent(internals.StreamInternals):
    name = "parents"
    path = "/parents"
    url_base = "http://127.0.0.1:9"  # never called: records come from memory
    schema = SCHEMA
    primary_keys: t.ClassVar[list[str]] = ["id"]

    def request_records(self, context: t.Any) -> t.Iterator[dict[str, t.Any]]:
        yield from ({"id": i} for i in (1, 2))

    def get_child_context(self, record: dict[str, t.Any], context: t.Any) -> dict[str, t.Any]:
        return {"pid": record["id"]}


class Child(internals.StreamInternals):
    name = "children"
    path = "/children"
    url_base = "http://127.0.0.1:9"
    schema = SCHEMA
    parent_stream_type = Parent
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def request_records(self, context: t.Any) -> t.Iterator[dict[str, t.Any]]:
        yield {"id": context["pid"] * 10, "pid": context["pid"]}


def run_tap(
    capsys: pytest.CaptureFixture[str], parent: type[Parent] = Parent, child: type[Child] = Child
) -> list[dict]:
    # singer-sdk finds a child's parent by its exact class.
    child = type(child.__name__, (child,), {"parent_stream_type": parent})

    class MiniTap(internals.TapInternals):
        name = "tap-mini"
        config_jsonschema: t.ClassVar[dict[str, t.Any]] = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[t.Any]:
            return [parent(self), child(self)]

    MiniTap(config={}).sync_all()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def of(messages: list[dict], kind: str, stream: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind and m.get("stream") == stream]


# -- tap streams -----------------------------------------------------------------------------------------


def test_touch_1_the_schema_is_written_through_the_hook_once_per_sync_so_per_parent_for_a_child(capsys):
    assert len(of(run_tap(capsys), "SCHEMA", "children")) == 2, "singer-sdk writes a child's SCHEMA per parent sync"

    class OnceChild(Child):
        written = False

        def should_write_schema(self) -> bool:
            first, OnceChild.written = not OnceChild.written, True
            return first

    assert len(of(run_tap(capsys, child=OnceChild), "SCHEMA", "children")) == 1


def test_touch_2_every_record_becomes_messages_through_the_hook(capsys):
    class Marked(Parent):
        def record_messages(self, record: dict[str, t.Any]) -> t.Iterator[t.Any]:
            for message in self.sdk_record_messages(record):
                message.record["marked"] = True
                yield message

    records = of(run_tap(capsys, parent=Marked), "RECORD", "parents")
    assert [r["record"] for r in records] == [{"id": 1, "marked": True}, {"id": 2, "marked": True}]


def test_touch_3_and_4_the_table_version_is_stamped_on_records_and_activated(capsys):
    class Versioned(Parent):
        def sync_whole(self, context: t.Any, sync: t.Callable[[t.Any], None]) -> None:
            self.table_version = 1234
            sync(context)
            self.write_activate_version(1234)

    messages = run_tap(capsys, parent=Versioned)
    assert {m["version"] for m in of(messages, "RECORD", "parents")} == {1234}
    assert [m["version"] for m in of(messages, "ACTIVATE_VERSION", "parents")] == [1234]


def test_touch_5_sync_whole_wraps_the_whole_sync_children_included(capsys):
    seen: list[str] = []

    class Wrapped(Parent):
        def sync_whole(self, context: t.Any, sync: t.Callable[[t.Any], None]) -> None:
            seen.append("before")
            sync(context)
            seen.append("after")

    class Counted(Child):
        def request_records(self, context: t.Any) -> t.Iterator[dict[str, t.Any]]:
            seen.append(f"child {context['pid']}")
            yield from super().request_records(context)

    run_tap(capsys, parent=Wrapped, child=Counted)
    assert seen == ["before", "child 1", "child 2", "after"]


def test_touch_6_the_private_helpers_answer_as_the_fast_record_path_expects():
    logger = logging.getLogger("test")
    schema = {
        "properties": {
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "at": {"type": "string", "format": "date-time"},
        }
    }
    conformed = internals.conform_record_data_types(
        "s", {"n": 1, "b": 1}, schema, TypeConformanceLevel.RECURSIVE, logger
    )
    assert conformed == {"n": 1, "b": True}
    assert internals.is_datetime_type(schema["properties"]["at"]) is True
    assert internals.is_exclusive_boolean_type({"type": "boolean"}) is True
    assert internals.is_object_type({"type": "object", "properties": {}}) is True
    assert internals.is_uniform_list({"type": "array", "items": {"type": "string"}}) is True
    assert internals.conform_primitive_property(1, {"type": "boolean"}) is True
    assert internals.utc_now().tzinfo is not None
    record = {"a": 1, "b": 2}
    mask = {(): True, ("properties", "a"): True, ("properties", "b"): False}
    internals.pop_deselected_record_properties(record, {"properties": {"a": {}, "b": {}}}, mask)  # type: ignore[arg-type]
    assert record == {"a": 1}


# -- plugins ----------------------------------------------------------------------------------------------


def test_touch_7_the_stop_signal_handler_singer_sdk_installs_calls_the_hook():
    received: list[int] = []

    class MiniTap(internals.TapInternals):
        name = "tap-mini"
        config_jsonschema: t.ClassVar[dict[str, t.Any]] = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[t.Any]:
            return []

        def on_stop_signal(self, signum: int) -> None:
            received.append(signum)

    previous = signal.getsignal(signal.SIGTERM)
    try:
        MiniTap(config={})
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler), "singer-sdk installs a SIGTERM handler when a plugin is created"
        handler(signal.SIGTERM, None)
        target_handler = _mini_target_class(received)(config={})
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # type: ignore[operator]
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert received == [signal.SIGTERM, signal.SIGINT]
    assert target_handler is not None


class Sink(BatchSink):
    max_size = 2

    def process_batch(self, context: dict[str, t.Any]) -> None:
        self.written = getattr(self, "written", 0) + len(context.get("records", []))


def _mini_target_class(signals: list[int] | None = None, calls: list[str] | None = None, confirm: bool = True) -> t.Any:
    class MiniTarget(internals.TargetInternals):
        name = "target-mini"
        config_jsonschema: t.ClassVar[dict[str, t.Any]] = th.PropertiesList().to_dict()
        default_sink_class = Sink

        def on_stop_signal(self, signum: int) -> None:
            assert signals is not None
            signals.append(signum)

        def after_state_message(self) -> None:
            assert calls is not None
            calls.append("state message")

        def may_confirm(self, state: dict[str, t.Any]) -> bool:
            assert calls is not None
            calls.append(f"may confirm {state}")
            return confirm

        def state_confirmed(self, state: dict[str, t.Any]) -> None:
            assert calls is not None
            calls.append(f"confirmed {state}")

        def drain_sink(self, sink: t.Any, drain: t.Callable[[t.Any], None]) -> None:
            assert calls is not None
            calls.append(f"drain {sink.stream_name}")
            drain(sink)

    return MiniTarget


def target_input(records: int) -> io.StringIO:
    lines = [
        {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": ["id"]},
        *({"type": "RECORD", "stream": "things", "record": {"id": i}} for i in range(records)),
        {"type": "STATE", "value": {"bookmarks": {"things": {"n": records}}}},
    ]
    return io.StringIO("".join(json.dumps(line) + "\n" for line in lines))


def test_touch_8_and_9_a_state_passes_the_hooks_and_is_printed_only_when_allowed(capsys):
    calls: list[str] = []
    _mini_target_class(calls=calls)(config={}).listen(target_input(1))
    state = {"bookmarks": {"things": {"n": 1}}}
    assert "state message" in calls
    assert f"may confirm {state}" in calls and f"confirmed {state}" in calls
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [state]

    refused: list[str] = []
    _mini_target_class(calls=refused, confirm=False)(config={}).listen(target_input(1))
    assert capsys.readouterr().out == ""
    assert not [c for c in refused if c.startswith("confirmed")]


def test_touch_10_every_drain_passes_the_hook_a_full_sink_included(capsys):
    calls: list[str] = []
    _mini_target_class(calls=calls)(config={}).listen(target_input(3))  # max_size 2: drained when full, then at the end
    drains = [c for c in calls if c.startswith("drain")]
    assert len(drains) >= 2, calls
    assert calls.index("drain things") < calls.index("may confirm {'bookmarks': {'things': {'n': 3}}}")
    capsys.readouterr()


def test_touch_11_a_command_line_run_passes_the_hook_before_its_first_message(capsys):
    seen: list[str] = []

    class Counted(Parent):
        def request_records(self, context: t.Any) -> t.Iterator[dict[str, t.Any]]:
            seen.append("records")
            yield from super().request_records(context)

    class MiniTap(internals.TapInternals):
        name = "tap-mini"
        config_jsonschema: t.ClassVar[dict[str, t.Any]] = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[t.Any]:
            return [Counted(self)]

        def before_sync_all(self) -> None:
            seen.append(f"hook, {len(capsys.readouterr().out)} characters written before it")

    MiniTap.invoke()  # what `tap-mini` runs, once click has parsed its options
    assert seen == ["hook, 0 characters written before it", "records"]
    assert len(of([json.loads(line) for line in capsys.readouterr().out.splitlines()], "RECORD", "parents")) == 2


def test_touch_12_a_message_of_unknown_type_reaches_the_readers_hook():
    seen: list[dict[str, t.Any]] = []

    class Reader(internals.ReaderInternals):
        def unknown_message(self, message_dict: dict[str, t.Any]) -> None:
            seen.append(message_dict)

    class MiniTarget(_mini_target_class(calls=[])):  # type: ignore[misc]
        message_reader_class = Reader

    MiniTarget(config={}).listen(io.StringIO('{"type": "NOT_A_TYPE", "stream": "x"}\n'))
    assert seen == [{"type": "NOT_A_TYPE", "stream": "x"}]
