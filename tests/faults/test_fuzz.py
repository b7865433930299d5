"""Property-based fuzzing of the message pipeline (hypothesis), through a real ConnectionHandler.

A minimal raw-socket websocket server (:class:`faultkit.RawWebSocketServer`) writes whatever
hypothesis draws: valid and invalid JSON, non-objects, huge numbers, deep nesting, ids and
sessionIds of every type, answers to pending commands (first, duplicate, unknown), events for
known and unknown sessions, binary and empty frames, invalid UTF-8, fragmented and masked
frames, pings, pongs and reserved opcodes, all in one burst. Invariants after each example:

* the reader thread is the same one and alive (no reconnection happened);
* no exception escaped any thread (a recording ``threading.excepthook``);
* every pending command ended, with the first answer the wire carried for its id;
* events reached the right callback (the connection's or the attached session's) exactly
  once, in wire order; unknown sessions' were dropped;
* every skipped message produced one warning record;
* the next valid command succeeds.

Two shapes also have their own tests (they once killed the reader, fixed since): JSON nested
deeper than the interpreter's recursion limit and unhashable ``sessionId`` values. The
fuzzer keeps its nesting below that limit so that each example stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from faultkit import RawWebSocketServer, encode_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from syncdp import ConnectionHandler

# The budget: 3000 examples (~30 s on an idle core of the reference machine), run as
# hypothesis runs of CHUNK examples until either 3000 ran or 60 s have passed (a loaded
# machine runs fewer; the figure reports how many). SYNCDP_FUZZ_EXAMPLES and
# SYNCDP_FUZZ_SECONDS override the two limits.
MAX_EXAMPLES = int(os.environ.get("SYNCDP_FUZZ_EXAMPLES", "3000"))
MAX_SECONDS = float(os.environ.get("SYNCDP_FUZZ_SECONDS", "60"))
CHUNK = 250
SAFE_DEPTH = 800  # below the interpreter's recursion limit (deeper: its own test below)
EVENT = "Fuzz.event"
SESSION = "FUZZ-SESSION-7c1e"  # the one attached session; any other sessionId is unknown
HOOKED = [  # methods the library itself reacts to on the reader thread
    "Target.attachedToTarget",
    "Target.detachedFromTarget",
    "Target.targetDestroyed",
    "Target.targetCrashed",
    "Inspector.targetCrashed",
    "Network.requestWillBeSent",
    "Page.javascriptDialogOpening",
    "Page.javascriptDialogClosed",
    "Syncdp.disconnected",
]

@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis' caches go to a temporary directory, not ``.hypothesis/`` in the checkout."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


# -- the oracle: what the reader must do with one text message ---------------------------------


def classify(payload: bytes) -> Tuple[str, Any]:
    """("warn" | "answer" | "event" | "dropped", detail) for one complete text message."""
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):
        return "warn", None
    if type(message) is not dict:
        return "warn", None
    command_id = message.get("id")
    if command_id is not None:
        return ("answer", message) if type(command_id) is int else ("warn", None)
    if type(message.get("method")) is not str:
        return "warn", None
    session_id = message.get("sessionId")
    if session_id is None:
        return "event", message
    if type(session_id) is not str:
        return "warn", None
    if session_id == SESSION:
        return "session_event", message
    return "dropped", None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # NaN-safe equality


# -- strategies --------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
hashable_non_null = (
    st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
)
method_names = st.sampled_from([EVENT, "Fuzz.other"] + HOOKED) | st.text(max_size=12)
wrong_ids = (
    st.booleans()
    | st.floats()
    | st.text(max_size=6)
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)
huge_number = st.builds(
    lambda sign, digits, exp: sign + "9" * digits + exp,
    st.sampled_from(["", "-"]),
    st.integers(min_value=1, max_value=6000),
    st.sampled_from(["", "e999", ".5e-999", "e5"]),
)


def _nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def items(draw: Any, n_pending: int) -> Dict[str, Any]:
    """One thing the server writes: {"kind": ..., ...}; payloads are bytes."""
    kind = draw(
        st.sampled_from(
            ["answer", "answer", "error", "unknown_id", "wrong_id", "event", "event",
             "session_event", "known_session", "doc", "dict", "text", "bytes_text", "empty", "binary",
             "deep", "number", "control"]
        )
    )
    if kind in ("answer", "error"):
        slot = draw(st.integers(min_value=0, max_value=n_pending - 1))
        if kind == "answer":
            body: Any = {"result": draw(json_values)}
        else:
            body = {"error": draw(json_values)}
        return {"kind": "answer", "slot": slot, "body": body}
    if kind == "unknown_id":
        cid = draw(st.integers(min_value=-(2**66), max_value=-1) | st.integers(min_value=10**9))
        return {"kind": "text", "payload": json.dumps({"id": cid, "result": draw(json_values)})}
    if kind == "wrong_id":
        doc = {"id": draw(wrong_ids), "result": {}}
        if draw(st.booleans()):
            doc["method"] = EVENT
        return {"kind": "text", "payload": json.dumps(doc)}
    if kind == "event":
        return {"kind": "event", "method": draw(method_names), "params": draw(json_values)}
    if kind == "session_event":
        doc = {"method": draw(method_names), "sessionId": draw(hashable_non_null),
               "params": draw(json_values)}
        return {"kind": "text", "payload": json.dumps(doc)}
    if kind == "known_session":
        doc = {"method": draw(method_names), "sessionId": SESSION, "params": draw(json_values)}
        return {"kind": "text", "payload": json.dumps(doc)}
    if kind == "doc":
        return {"kind": "text", "payload": json.dumps(draw(json_values))}
    if kind == "dict":
        keys = st.sampled_from(["id", "method", "params", "result", "error", "sessionId"])
        doc = draw(st.dictionaries(keys | st.text(max_size=4), json_values, max_size=5))
        if isinstance(doc.get("id"), int) and not isinstance(doc.get("id"), bool):
            doc["id"] = -abs(doc["id"]) - 1  # never one of the pending ids (those are "answer")
        return {"kind": "text", "payload": json.dumps(doc)}
    if kind == "text":
        return {"kind": "text", "payload": draw(st.text(max_size=40))}
    if kind == "bytes_text":
        return {"kind": "raw_text", "payload": draw(st.binary(max_size=40))}
    if kind == "empty":
        return {"kind": "raw_text", "payload": b""}
    if kind == "binary":
        return {"kind": "binary", "payload": draw(st.binary(max_size=64))}
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=SAFE_DEPTH))
        return {"kind": "text", "payload": _nested(depth, draw(st.sampled_from(["list", "dict"])))}
    if kind == "number":
        number = draw(huge_number)
        template = draw(st.sampled_from(['{"id": %s}', "[%s]", '{"method": "Fuzz.n", "x": %s}',
                                         "%s"]))
        return {"kind": "text", "payload": template % number}
    # control frames and reserved opcodes the reader must shrug off
    opcode = draw(st.sampled_from([0x9, 0xA, 0x3, 0x7, 0xB, 0xF]))
    size = 125 if opcode in (0x9, 0xA) else 300
    return {"kind": "control", "opcode": opcode, "payload": draw(st.binary(max_size=size))}


@st.composite
def scenarios(draw: Any) -> Dict[str, Any]:
    n_pending = draw(st.integers(min_value=1, max_value=3))
    return {
        "n_pending": n_pending,
        "items": draw(st.lists(items(n_pending), min_size=1, max_size=16)),
        "fragment": draw(st.lists(st.integers(min_value=0, max_value=4), min_size=16,
                                  max_size=16)),
        "mask": draw(st.booleans()),
        "rsv": draw(st.integers(min_value=0, max_value=7)),
    }


# -- framing -----------------------------------------------------------------------------------


def _masked(frame_payload: bytes, opcode: int, fin: bool, rsv: int, mask: bool) -> bytes:
    if not mask:
        return encode_frame(frame_payload, opcode, fin, rsv)
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(frame_payload))
    frame = bytearray(encode_frame(body, opcode, fin, rsv))
    header = 2 + (2 if frame[1] == 126 else 8 if frame[1] == 127 else 0)
    frame[1] |= 0x80
    return bytes(frame[:header]) + key + bytes(frame[header:])


def frame_message(payload: bytes, opcode: int, pieces: int, rsv: int, mask: bool) -> bytes:
    """One message, split into ``pieces + 1`` fragments with a ping between two of them."""
    if pieces == 0 or len(payload) < 2:
        return _masked(payload, opcode, True, rsv, mask)
    cuts = sorted({max(1, len(payload) * k // (pieces + 1)) for k in range(1, pieces + 1)})
    parts = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
    out = []
    for index, part in enumerate(parts):
        first, last = index == 0, index == len(parts) - 1
        out.append(_masked(part, opcode if first else 0x0, last, rsv if first else 0, mask))
        if index == 0:
            out.append(encode_frame(b"mid", 0x9))  # a control frame inside a fragmented message
    return b"".join(out)


# -- the property ------------------------------------------------------------------------------


class _SkipCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("skipping"):
            self.count += 1


class _Rig:
    """A raw server and a handler, rebuilt if an example ever kills the connection."""

    def __init__(self, server: RawWebSocketServer) -> None:
        self.server = server
        self.conn: Optional[ConnectionHandler] = None
        self.reader: Optional[threading.Thread] = None
        self.events: List[Dict[str, Any]] = []
        self.session_events: List[Dict[str, Any]] = []
        server.responders["Target.attachToTarget"] = self._attach

    @staticmethod
    def _attach(command: Dict[str, Any]) -> List[Dict[str, Any]]:
        info = {"targetId": command["params"]["targetId"], "type": "page", "url": ""}
        return [
            {"method": "Target.attachedToTarget",
             "params": {"sessionId": SESSION, "targetInfo": info, "waitingForDebugger": False}},
            {"id": command["id"], "result": {"sessionId": SESSION}},
        ]

    def ensure(self) -> ConnectionHandler:
        if self.conn is not None and self.reader is not None and self.reader.is_alive() \
                and self.conn.connection_count == 1:
            return self.conn
        self.close()
        self.events = []
        self.session_events = []
        conn = ConnectionHandler(self.server.url, connect_timeout=5)
        before = {t for t in threading.enumerate() if t.name.startswith("syncdp-reader-")}
        conn.connect()
        self.reader = next(t for t in threading.enumerate()
                           if t.name.startswith("syncdp-reader-") and t not in before)
        conn.register_callback(EVENT, self.events.append)
        session = conn.attach("FUZZ-TARGET")
        assert session.session_id == SESSION
        session.register_callback(EVENT, self.session_events.append)
        self.conn = conn
        return conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


@pytest.mark.scenario("F", "fuzz: arbitrary frames and sequences into a real ConnectionHandler")
@pytest.mark.timeout(300)
def test_fuzz_message_pipeline(excepthook_records: List[Any], figure: Any) -> None:
    counter = _SkipCounter()
    # Skipped frames are reported where they are found: binary ones by the transport,
    # the rest by the router.
    skip_loggers = [logging.getLogger("syncdp.connection.router"),
                    logging.getLogger("syncdp.transports.websocket")]
    for skip_logger in skip_loggers:
        skip_logger.addHandler(counter)
    examples = [0]
    frames_sent = [0]
    started = time.monotonic()
    with RawWebSocketServer() as server:
        server.auto_answer = "Sync."
        rig = _Rig(server)

        @settings(
            max_examples=min(CHUNK, MAX_EXAMPLES),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(scenarios())
        def run(case: Dict[str, Any]) -> None:
            examples[0] += 1
            conn = rig.ensure()
            reader = rig.reader
            assert reader is not None
            rig.events.clear()
            rig.session_events.clear()
            while not server.commands.empty():
                server.commands.get_nowait()
            futures = [conn.submit({"method": "Fuzz.cmd", "params": {"k": k}})
                       for k in range(case["n_pending"])]
            ids = [server.commands.get(timeout=5)["id"] for _ in futures]
            counter.count = 0
            expected_warnings = 0
            first_answer: Dict[int, Any] = {}
            expected_events: List[str] = []
            expected_session_events: List[str] = []
            burst = []
            for index, item in enumerate(case["items"]):
                kind = item["kind"]
                if kind == "control":
                    burst.append(encode_frame(item["payload"], item["opcode"]))
                    continue
                if kind == "binary":
                    burst.append(encode_frame(item["payload"], 0x2))
                    expected_warnings += 1
                    continue
                if kind == "answer":
                    payload = json.dumps(dict(item["body"], id=ids[item["slot"]])).encode()
                elif kind == "event":
                    payload = json.dumps({"method": item["method"],
                                          "params": item["params"]}).encode()
                elif kind == "raw_text":
                    payload = item["payload"]
                else:
                    payload = item["payload"].encode("utf-8", "surrogatepass")
                verdict, detail = classify(payload)
                if verdict == "warn":
                    expected_warnings += 1
                elif verdict == "answer":
                    first_answer.setdefault(detail["id"], detail)
                elif verdict == "event" and detail["method"] == EVENT:
                    expected_events.append(canonical(detail))
                elif verdict == "session_event" and detail["method"] == EVENT:
                    expected_session_events.append(canonical(detail))
                pieces = case["fragment"][index % len(case["fragment"])]
                burst.append(frame_message(payload, 0x1, pieces, case["rsv"], case["mask"]))
            for cid in ids:  # then a proper answer for each (a duplicate if answered above)
                final = {"id": cid, "result": {"final": cid}}
                first_answer.setdefault(cid, final)
                burst.append(encode_frame(json.dumps(final).encode()))
            server.send(b"".join(burst))
            frames_sent[0] += len(burst)

            # The next valid command succeeds; on the wire it comes after the whole burst.
            assert conn.send("Sync.ping", {"n": examples[0]}, timeout=5) == {"n": examples[0]}
            for cid, future in zip(ids, futures):
                assert future.done(), "a pending command did not end"
                assert canonical(future.result(0)) == canonical(first_answer[cid])
            deadline = time.monotonic() + 5
            while (
                len(rig.events) < len(expected_events)
                or len(rig.session_events) < len(expected_session_events)
            ) and time.monotonic() < deadline:
                time.sleep(0.001)  # the dispatcher runs callbacks after the reader queued them
            assert [canonical(e) for e in rig.events] == expected_events
            assert [canonical(e) for e in rig.session_events] == expected_session_events
            assert counter.count == expected_warnings
            assert reader.is_alive() and conn.connection_count == 1
            assert conn.pending_commands == 0
            assert excepthook_records == []

        try:
            while examples[0] < MAX_EXAMPLES and time.monotonic() - started < MAX_SECONDS:
                run()  # one hypothesis run of CHUNK examples (fresh random seed each)
        finally:
            rig.close()
            for skip_logger in skip_loggers:
                skip_logger.removeHandler(counter)
    took = time.monotonic() - started
    figure.note("%d examples (budget %d or %gs), %d frames, %.1f s"
                % (examples[0], MAX_EXAMPLES, MAX_SECONDS, frames_sent[0], took))


# -- the two shapes the fuzzer leaves out: known bugs ------------------------------------------


def _one_bad_message(payload: str, excepthook_records: List[Any],
                     caplog: pytest.LogCaptureFixture, warns: bool) -> None:
    caplog.set_level(logging.WARNING, logger="syncdp")
    with RawWebSocketServer() as server, ConnectionHandler(server.url) as conn:
        before = {t for t in threading.enumerate() if t.name.startswith("syncdp-reader-")}
        conn.connect()
        reader = next(t for t in threading.enumerate()
                      if t.name.startswith("syncdp-reader-") and t not in before)
        future = conn.submit({"method": "Fuzz.cmd"})
        cid = server.commands.get(timeout=5)["id"]
        server.send_text(payload)
        server.send_json({"id": cid, "result": {"ok": True}})
        error = future.exception(timeout=5)
        assert error is None, "the pending command failed: %r" % (error,)
        assert future.result(0) == {"id": cid, "result": {"ok": True}}
        assert reader.is_alive() and conn.connection_count == 1
        if warns:  # malformed JSON: skipped with a warning like any other
            assert any(r.getMessage().startswith("skipping") for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert excepthook_records == []


@pytest.mark.scenario("F", "fuzz shape: JSON nested 100,000 deep is skipped, reader survives")
@pytest.mark.timeout(30)
def test_deeply_nested_json_is_skipped(
    excepthook_records: List[Any], caplog: pytest.LogCaptureFixture
) -> None:
    _one_bad_message("[" * 100_000 + "]" * 100_000, excepthook_records, caplog, warns=True)


@pytest.mark.scenario("F", "fuzz shape: event with a list/dict sessionId is dropped")
@pytest.mark.timeout(30)
def test_unhashable_session_id_is_dropped(
    excepthook_records: List[Any], caplog: pytest.LogCaptureFixture
) -> None:
    _one_bad_message('{"method": "Fuzz.event", "sessionId": [1], "params": {}}',
                     excepthook_records, caplog, warns=True)
