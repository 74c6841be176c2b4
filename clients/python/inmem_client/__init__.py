"""A client for `inmem serve`, the HTTP/JSON face of the in-mem database.

Standard library only. The vocabulary follows the Go API: a Client has one
attribute per primitive (kv, events, state, traces, runs, json, vectors),
every call names its run (a run id, the name of a registered run, or
"global"), and reads return Versioned values. Errors are InmemError with the
database's stable code (NotFound, Conflict, InvalidArgument ...).

    db = Client("http://127.0.0.1:7070")
    run = db.runs.create("agent-1")
    db.kv.put(run, "user", {"name": "Ada"})
    db.kv.get(run, "user").value  # {'name': 'Ada'}
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

__all__ = [
    "Client", "InmemError", "NotFoundError", "ConflictError", "MergeConflictError", "Versioned", "Event", "Batch",
    "GLOBAL",
]

GLOBAL = "global"

_MISSING = object()


class InmemError(Exception):
    """An error answered by the server: code is the database's error code."""

    def __init__(self, code: str, message: str, status: int, op_index: Optional[int] = None,
                 expected_version: Optional[int] = None, actual_version: Optional[int] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.op_index = op_index
        self.expected_version = expected_version
        self.actual_version = actual_version


class MergeConflictError(InmemError):
    """A merge refused because both runs changed the same entities; nothing
    was merged. conflicts lists them (primitive, key, collection, and the
    base, source and target values), at most 1000 of conflicts_total."""

    def __init__(self, *args, conflicts=None, conflicts_total=0):
        super().__init__(*args)
        self.conflicts = conflicts or []
        self.conflicts_total = conflicts_total


class NotFoundError(InmemError):
    """The entity (or run) does not exist."""


class ConflictError(InmemError):
    """A condition or compare-and-set saw another version; nothing was written."""


@dataclass(frozen=True)
class Versioned:
    value: Any
    version: int
    timestamp: int


@dataclass(frozen=True)
class Event:
    sequence: int
    type: str
    payload: Any
    timestamp: int
    hash: str
    prev_hash: str


def _event(d: dict) -> Event:
    return Event(d["sequence"], d["type"], d.get("payload"), d["timestamp"], d["hash"], d["prev_hash"])


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _as_of(as_of=None, as_of_time=None) -> dict:
    """The query fields of a read of the whole run as of a past commit:
    as_of is a commit version, as_of_time a datetime (or RFC 3339 text)."""
    q = {}
    if as_of is not None:
        q["as_of"] = int(as_of)
    if as_of_time is not None:
        if isinstance(as_of_time, datetime.datetime):
            if as_of_time.tzinfo is None:
                as_of_time = as_of_time.replace(tzinfo=datetime.timezone.utc)
            as_of_time = as_of_time.isoformat()
        q["as_of_time"] = as_of_time
    return q


def _query(**fields) -> str:
    """A query string ("" or "?..."); fields that are None are left out."""
    q = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None})
    return "?" + q if q else ""


def _key(s: str) -> str:
    # Keys may contain "/": the server's routes take the rest of the path.
    return urllib.parse.quote(s, safe="/")


class Client:
    """A connection to one `inmem serve`."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.kv = KV(self)
        self.events = Events(self)
        self.state = State(self)
        self.traces = Traces(self)
        self.runs = Runs(self)
        self.json = JSON(self)
        self.vectors = Vectors(self)

    def _open(self, method: str, path: str, body: Any = None, headers: Optional[dict] = None, timeout=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout if timeout is None else timeout)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                raise InmemError("Internal", raw.decode(errors="replace"), e.code) from None
            if "conflicts" in err:
                raise MergeConflictError(err["code"], err.get("message", ""), e.code,
                                         conflicts=err["conflicts"], conflicts_total=err.get("conflicts_total", 0)) from None
            cls = {"NotFound": NotFoundError, "RunNotFound": NotFoundError, "Conflict": ConflictError}.get(err["code"], InmemError)
            raise cls(err["code"], err.get("message", ""), e.code, err.get("op_index"),
                      err.get("expected_version"), err.get("actual_version")) from None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        with self._open(method, path, body) as resp:
            text = resp.read()
            if resp.headers.get_content_type() != "application/json":
                return text.decode()
            return json.loads(text)

    def health(self) -> dict:
        return self.request("GET", "/healthz")

    def stats(self) -> dict:
        return self.request("GET", "/v1/admin/stats")

    def metrics(self) -> str:
        return self.request("GET", "/metrics")

    def checkpoint(self) -> dict:
        return self.request("POST", "/v1/admin/checkpoint")

    def compact(self) -> dict:
        return self.request("POST", "/v1/admin/compact")

    def batch(self, run: str = GLOBAL, as_of: Optional[int] = None, as_of_time=None) -> "Batch":
        """Collect operations to apply atomically with commit().

        With as_of (a commit version) or as_of_time, the batch may only
        read, and reads the run as it was then."""
        return Batch(self, run, as_of=_as_of(as_of, as_of_time))


@dataclass
class Batch:
    """Operations applied in one transaction: all commit, or none does.

    Conditions (if_version=, if_absent=) make the whole batch fail with
    ConflictError. Use it as a context manager to commit on exit.
    """

    client: Client
    run: str = GLOBAL
    ops: list = field(default_factory=list)
    as_of: dict = field(default_factory=dict)

    def op(self, op: str, value=_MISSING, **fields) -> "Batch":
        """Adds an operation; fields that are None are left out."""
        o = {"op": op, **{k: v for k, v in fields.items() if v is not None}}
        if value is not _MISSING:
            o["value"] = value
        self.ops.append(o)
        return self

    def kv_put(self, key, value, if_version=None, if_absent=False):
        return self.op("kv.put", key=key, value=value, if_version=if_version, if_absent=if_absent or None)

    def kv_delete(self, key, if_version=None):
        return self.op("kv.delete", key=key, if_version=if_version)

    def event_append(self, type, payload=None):
        return self.op("event.append", type=type, value=payload)

    def state_set(self, name, value, if_version=None, if_absent=False):
        return self.op("state.set", key=name, value=value, if_version=if_version, if_absent=if_absent or None)

    def json_put(self, id, doc, if_version=None, if_absent=False):
        return self.op("json.put", key=id, value=doc, if_version=if_version, if_absent=if_absent or None)

    def trace_record(self, type, body, parent=None, tags=None, metadata=None):
        return self.op("trace.record", type=type, body=body, parent=parent, tags=tags, metadata=metadata)

    def vector_upsert(self, collection, key, embedding, metadata=None):
        return self.op("vector.upsert", collection=collection, key=key, embedding=embedding, metadata=metadata)

    def commit(self) -> list:
        """Apply the operations; returns one result dict per operation."""
        res = self.client.request("POST", "/v1/batch", {"run": self.run, "ops": self.ops, **self.as_of})
        self.ops = []
        return res["results"]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        return False


class _Prim:
    def __init__(self, client: Client):
        self.c = client

    @staticmethod
    def _body(**fields):
        """The JSON body: fields that are None are left out."""
        return {k: v for k, v in fields.items() if v is not None}

    @staticmethod
    def _cond(body, if_version, if_absent):
        if if_version is not None:
            body["if_version"] = if_version
        if if_absent:
            body["if_absent"] = True
        return body


class KV(_Prim):
    """Working memory: keys to JSON values, with versions."""

    def put(self, run, key, value, if_version=None, if_absent=False) -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/kv/{_key(key)}",
                              self._cond({"value": value}, if_version, if_absent))["version"]

    def get(self, run, key, at: Optional[int] = None, as_of: Optional[int] = None, as_of_time=None) -> Versioned:
        """The value of key, or (with at=) the value it had as of version at;
        as_of / as_of_time read it in the run as of a past commit."""
        q = _query(at=at, **_as_of(as_of, as_of_time))
        r = self.c.request("GET", f"/v1/runs/{_q(run)}/kv/{_key(key)}{q}")
        return Versioned(r["value"], r["version"], r["timestamp"])

    def history(self, run, key) -> list:
        """Every retained version, newest first; deletions have deleted=True."""
        return self.c.request("GET", f"/v1/runs/{_q(run)}/kv/{_key(key)}?history=1")["versions"]

    def delete(self, run, key, if_version=None) -> int:
        q = "" if if_version is None else f"?if_version={int(if_version)}"
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}/kv/{_key(key)}{q}")["version"]

    def list(self, run, prefix="", as_of: Optional[int] = None, as_of_time=None) -> list:
        q = _query(prefix=prefix, **_as_of(as_of, as_of_time))
        return self.c.request("GET", f"/v1/runs/{_q(run)}/kv{q}")["keys"]


class Events(_Prim):
    """A run's append-only, hash-chained event log."""

    def append(self, run, type, payload=None) -> int:
        return self.c.request("POST", f"/v1/runs/{_q(run)}/events", {"type": type, "value": payload})["sequence"]

    def read(self, run, seq) -> Event:
        return _event(self.c.request("GET", f"/v1/runs/{_q(run)}/events/{int(seq)}"))

    def range(self, run, from_=0, limit=1000, type=None, as_of: Optional[int] = None, as_of_time=None) -> list:
        q = _query(**{"from": int(from_), "limit": int(limit), "type": type or None}, **_as_of(as_of, as_of_time))
        return [_event(e) for e in self.c.request("GET", f"/v1/runs/{_q(run)}/events{q}")["events"]]

    def follow(self, run, from_=0, timeout=None) -> Iterator[Event]:
        """Yield the events from from_ on, then each new one as it commits.

        The stream is NDJSON; it ends when the server shuts down. timeout
        bounds the wait for each line (None: the client's timeout).
        """
        resp = self.c._open("GET", f"/v1/runs/{_q(run)}/events?follow=1&from={int(from_)}", timeout=timeout)
        with resp:
            for line in resp:
                line = line.strip()
                if not line:
                    continue
                d = json.loads(line)
                if "error" in d:
                    e = d["error"]
                    raise InmemError(e["code"], e.get("message", ""), 200)
                yield _event(d)


class State(_Prim):
    """Coordination cells whose version is a per-cell counter."""

    def read(self, run, name, at: Optional[int] = None, as_of: Optional[int] = None, as_of_time=None) -> Versioned:
        """The cell, or (with at=) the value it held with counter at; as_of /
        as_of_time read it in the run as of a past commit."""
        q = _query(at=at, **_as_of(as_of, as_of_time))
        r = self.c.request("GET", f"/v1/runs/{_q(run)}/state/{_key(name)}{q}")
        return Versioned(r["value"], r["version"], r["timestamp"])

    def history(self, run, name) -> list:
        return self.c.request("GET", f"/v1/runs/{_q(run)}/state/{_key(name)}?history=1")["versions"]

    def set(self, run, name, value) -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/state/{_key(name)}", {"value": value})["version"]

    def init(self, run, name, value) -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/state/{_key(name)}", {"value": value, "if_absent": True})["version"]

    def cas(self, run, name, expected: int, value) -> int:
        """Write value if the cell's counter is expected (0: must not exist)."""
        body = {"value": value, "if_absent": True} if expected == 0 else {"value": value, "if_version": expected}
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/state/{_key(name)}", body)["version"]

    def delete(self, run, name) -> None:
        self.c.request("DELETE", f"/v1/runs/{_q(run)}/state/{_key(name)}")

    def list(self, run, prefix="", as_of: Optional[int] = None, as_of_time=None) -> list:
        q = _query(prefix=prefix, **_as_of(as_of, as_of_time))
        return self.c.request("GET", f"/v1/runs/{_q(run)}/state{q}")["keys"]


class Traces(_Prim):
    """Reasoning traces: tool_call, decision, query, thought, error, custom:<name>."""

    def record(self, run, type, body, parent=None, tags=None, metadata=None) -> int:
        return self.c.request("POST", f"/v1/runs/{_q(run)}/traces",
                              self._body(type=type, body=body, parent=parent, tags=tags, metadata=metadata))["id"]

    def get(self, run, id) -> dict:
        return self.c.request("GET", f"/v1/runs/{_q(run)}/traces/{int(id)}")

    def list(self, run, type=None, tag=None) -> list:
        q = urllib.parse.urlencode(self._body(type=type, tag=tag))
        return self.c.request("GET", f"/v1/runs/{_q(run)}/traces?{q}")["traces"]


class Runs(_Prim):
    """The run index: names, tags, metadata and the status lifecycle."""

    def create(self, name, parent=None, tags=None, metadata=None) -> str:
        return self.c.request("POST", "/v1/runs", self._body(name=name, parent_run=parent, tags=tags, metadata=metadata))["id"]

    def get(self, run) -> dict:
        return self.c.request("GET", f"/v1/runs/{_q(run)}")

    def list(self, status=None, tag=None) -> list:
        q = urllib.parse.urlencode(self._body(status=status, tag=tag))
        return self.c.request("GET", f"/v1/runs?{q}")["runs"]

    def set_status(self, run, status, error=None) -> int:
        return self.c.request("POST", f"/v1/runs/{_q(run)}/status", self._body(status=status, error=error))["version"]

    def complete(self, run) -> int:
        return self.set_status(run, "completed")

    def fail(self, run, error) -> int:
        return self.set_status(run, "failed", error)

    def delete(self, run) -> int:
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}")["version"]

    def fork(self, run, at: Optional[int] = None, name=None, tags=None, metadata=None) -> dict:
        """Fork run as of commit version at (default: the newest) into a new
        run that starts with all its data; returns the new run's record
        (id, name, parent, forked_at ...)."""
        return self.c.request("POST", f"/v1/runs/{_q(run)}/fork",
                              self._body(at=at, name=name, tags=tags, metadata=metadata))

    def diff_page(self, run, with_=None, at: Optional[int] = None, with_at: Optional[int] = None,
                  after: int = 0, limit: Optional[int] = None) -> dict:
        """One page of the differences between run (as of at) and with_ (as
        of with_at; default: run itself). The answer names the versions it
        read (at, with_at) and, when more follow, next: pass all three back
        to read the next page of the same two snapshots."""
        q = _query(**{"with": with_, "at": at, "with_at": with_at, "after": after or None, "limit": limit})
        return self.c.request("GET", f"/v1/runs/{_q(run)}/diff{q}")

    def diff(self, run, with_=None, at: Optional[int] = None, with_at: Optional[int] = None,
             page_size: int = 1000) -> Iterator[dict]:
        """Every change between the two sides, fetched page by page.

        Each change has kind (added, removed, changed), primitive, key,
        a and b (value, version, timestamp, or None), patch for documents,
        and events ({common, a_count, b_count, a, b}: the first 1000 events of each side past the common prefix) for the event logs."""
        after = 0
        while True:
            p = self.diff_page(run, with_, at, with_at, after, page_size)
            yield from p["changes"]
            if p.get("next") is None:
                return
            at, with_at, after = p["at"], p["with_at"], p["next"]

    def merge(self, source, into, strategy: str = "fail-on-conflict") -> dict:
        """Merge source's changes since the fork into into (its fork parent or
        fork). strategy: fail-on-conflict (raise MergeConflictError, merge
        nothing), source-wins or target-wins. Returns version, applied,
        events, traces and the conflicts it resolved."""
        return self.c.request("POST", f"/v1/runs/{_q(source)}/merge", {"into": into, "strategy": strategy})


class JSON(_Prim):
    """JSON documents addressed by JSON Pointer or dotted paths."""

    def put(self, run, id, doc, if_version=None, if_absent=False) -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/json/{_key(id)}",
                              self._cond({"value": doc}, if_version, if_absent))["version"]

    def create(self, run, id, doc) -> int:
        return self.put(run, id, doc, if_absent=True)

    def set(self, run, id, path, value) -> int:
        return self.c.request("POST", f"/v1/runs/{_q(run)}/json/{_key(id)}", {"path": path, "value": value})["version"]

    def get(self, run, id, path="", at: Optional[int] = None, as_of: Optional[int] = None, as_of_time=None) -> Versioned:
        """The value at path, or (with at=) the whole document as of version
        at; as_of / as_of_time read it in the run as of a past commit."""
        q = _query(path=path, at=at, **_as_of(as_of, as_of_time))
        r = self.c.request("GET", f"/v1/runs/{_q(run)}/json/{_key(id)}{q}")
        return Versioned(r["value"], r["version"], r["timestamp"])

    def history(self, run, id) -> list:
        return self.c.request("GET", f"/v1/runs/{_q(run)}/json/{_key(id)}?history=1")["versions"]

    def patch(self, run, id, ops: list) -> int:
        return self.c.request("PATCH", f"/v1/runs/{_q(run)}/json/{_key(id)}", {"patch": ops})["version"]

    def merge(self, run, id, patch) -> int:
        return self.c.batch(run).op("json.merge", key=id, value=patch).commit()[0]["version"]

    def delete(self, run, id, path) -> int:
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}/json/{_key(id)}?path={_q(path)}")["version"]

    def destroy(self, run, id) -> int:
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}/json/{_key(id)}")["version"]

    def list(self, run, prefix="", as_of: Optional[int] = None, as_of_time=None) -> list:
        q = _query(prefix=prefix, **_as_of(as_of, as_of_time))
        return self.c.request("GET", f"/v1/runs/{_q(run)}/json{q}")["keys"]


class Vectors(_Prim):
    """Collections of embeddings (yours) with exact k-nearest-neighbour search."""

    def create_collection(self, run, name, dim, metric="cosine") -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/vectors/{_q(name)}", {"dim": dim, "metric": metric})["version"]

    def delete_collection(self, run, name) -> int:
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}/vectors/{_q(name)}")["version"]

    def collections(self, run) -> list:
        return self.c.request("GET", f"/v1/runs/{_q(run)}/vectors")["collections"]

    def upsert(self, run, collection, key, embedding, metadata=None) -> int:
        return self.c.request("PUT", f"/v1/runs/{_q(run)}/vectors/{_q(collection)}/items/{_key(key)}",
                              self._body(embedding=list(embedding), metadata=metadata))["version"]

    def get(self, run, collection, key) -> dict:
        return self.c.request("GET", f"/v1/runs/{_q(run)}/vectors/{_q(collection)}/items/{_key(key)}")

    def delete(self, run, collection, key) -> int:
        return self.c.request("DELETE", f"/v1/runs/{_q(run)}/vectors/{_q(collection)}/items/{_key(key)}")["version"]

    def search(self, run, collection, embedding, k=10, filter=None) -> list:
        return self.c.request("POST", f"/v1/runs/{_q(run)}/vectors/{_q(collection)}/search",
                              self._body(embedding=list(embedding), k=k, filter=filter))["hits"]
