"""The hash-chained event log: properties, and tampering caught by ceremony verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceremony.audit.eventlog import Actor, EventLog, check_chain, read_events
from ceremony.errors import InputError
from tests.helpers import run_cli

payloads = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=4,
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=12), payloads), min_size=1, max_size=12),
    st.data(),
)
def test_any_edit_of_any_event_breaks_the_chain(tmp_path_factory, steps, data) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    log = EventLog(path, "c-1", "root", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    for step, payload in steps:
        log.append(step, "step", Actor("A", "witness"), payload)
    events = list(read_events(path))
    assert check_chain(events) == []
    assert EventLog(path, "c-1", "root").events == events

    i = data.draw(st.integers(0, len(events) - 1))
    tampered = [dict(e) for e in events]
    tampered[i]["payload"] = {**tampered[i]["payload"], "edited": True}
    problems = check_chain(tampered)
    assert problems and problems[0].startswith(f"event {i + 1}:")


def _lines(bundle: Path) -> tuple[Path, list[bytes]]:
    path = bundle / "transcripts/001-root/events.jsonl"
    return path, path.read_bytes().splitlines(keepends=True)


def _verify_fails(bundle: Path, *expected: str) -> str:
    r = run_cli("verify", bundle)
    assert r.returncode == 1, r.stdout
    for e in expected:
        assert e in r.stdout, (e, r.stdout)
    return r.stdout


def test_byte_flip_in_an_event_is_caught(bundle_copy: Path) -> None:
    path, lines = _lines(bundle_copy)
    event = json.loads(lines[3])
    event["actor"]["name"] = "Mallory"
    lines[3] = json.dumps(event, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    _verify_fails(bundle_copy, "event 4: content does not match its hash")


def test_raw_byte_flip_is_caught(bundle_copy: Path) -> None:
    path, lines = _lines(bundle_copy)
    data = bytearray(path.read_bytes())
    data[len(lines[0]) + 30] ^= 0x01
    path.write_bytes(bytes(data))
    _verify_fails(bundle_copy, "events.jsonl")


@pytest.mark.parametrize("index", [0, 4, -1])
def test_deleted_event_is_caught(bundle_copy: Path, index: int) -> None:
    path, lines = _lines(bundle_copy)
    del lines[index]
    path.write_bytes(b"".join(lines))
    _verify_fails(bundle_copy, "events.jsonl")


def test_duplicated_event_is_caught(bundle_copy: Path) -> None:
    path, lines = _lines(bundle_copy)
    lines.insert(3, lines[2])
    path.write_bytes(b"".join(lines))
    _verify_fails(bundle_copy, "event 4:")


def test_swapped_events_are_caught(bundle_copy: Path) -> None:
    path, lines = _lines(bundle_copy)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))
    _verify_fails(bundle_copy, "event 3:")


def test_rehashed_edit_is_still_caught_by_the_manifest(bundle_copy: Path) -> None:
    """Even a forger who recomputes every hash in the chain is caught by SHA256SUMS."""
    from ceremony.audit.eventlog import canonical, event_hash

    path, lines = _lines(bundle_copy)
    events = [json.loads(line) for line in lines]
    events[1]["payload"]["clock_utc"] = "1999-01-01T00:00:00Z"
    prev = "0" * 64
    for e in events:
        e["prev"] = prev
        e["hash"] = event_hash(e)
        prev = e["hash"]
    path.write_bytes(b"".join(canonical(e) + b"\n" for e in events))
    _verify_fails(bundle_copy, "events.jsonl does not match its SHA-256")


def test_garbage_line_is_reported_not_a_traceback(bundle_copy: Path) -> None:
    path, lines = _lines(bundle_copy)
    lines.insert(2, b"not json\n")
    path.write_bytes(b"".join(lines))
    out = _verify_fails(bundle_copy, "line 3 is not valid JSON")
    assert "Traceback" not in out


def test_a_damaged_log_cannot_be_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, "c", "root")
    log.append("a", "step", Actor("A", "witness"))
    log.append("b", "step", Actor("A", "witness"))
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[1])
    with pytest.raises(InputError, match="event log is damaged"):
        EventLog(path, "c", "root")
