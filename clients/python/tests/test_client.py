"""Tests of the Python client against a real `inmem serve`.

The binary is $INMEM_BIN, or built from the repository with `go build`.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = pathlib.Path(__file__).resolve().parent
PKG = HERE.parent
REPO = PKG.parent.parent
sys.path.insert(0, str(PKG))

from inmem_client import Client, ConflictError, InmemError, MergeConflictError, NotFoundError  # noqa: E402


def inmem_binary(tmp):
    b = os.environ.get("INMEM_BIN")
    if b:
        return b
    out = os.path.join(tmp, "inmem")
    subprocess.run(["go", "build", "-o", out, "./cmd/inmem"], cwd=REPO, check=True)
    return out


class Server:
    """A running `inmem serve` on a free loopback port."""

    def __init__(self, binary, *extra):
        self.dir = tempfile.mkdtemp(prefix="inmem-py-")
        self.proc = subprocess.Popen([binary, "serve", os.path.join(self.dir, "db"), "--addr", "127.0.0.1:0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError("server did not start: %r %s" % (line, self.proc.stderr.read()))
        self.url = line.split()[-1]

    def stop(self):
        """SIGTERM and wait: the graceful path."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="inmem-bin-")
        cls.binary = inmem_binary(cls.tmp)
        cls.server = Server(cls.binary)
        cls.db = Client(cls.server.url)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, "serve exited %d after SIGTERM" % code

    def test_kv_and_errors(self):
        db = self.db
        run = db.runs.create("kv-test")
        v = db.kv.put(run, "a/b", {"n": 1})
        got = db.kv.get(run, "a/b")
        self.assertEqual(got.value, {"n": 1})
        self.assertEqual(got.version, v)
        self.assertEqual(db.kv.list(run, "a/"), ["a/b"])
        with self.assertRaises(ConflictError) as cm:
            db.kv.put(run, "a/b", 2, if_version=v + 100)
        self.assertEqual(cm.exception.status, 409)
        self.assertEqual(cm.exception.actual_version, v)
        db.kv.put(run, "a/b", 2, if_version=v)
        db.kv.delete(run, "a/b")
        with self.assertRaises(NotFoundError) as cm:
            db.kv.get(run, "a/b")
        self.assertEqual(cm.exception.code, "NotFound")
        with self.assertRaises(InmemError) as cm:
            db.kv.put(run, "_system/x", 1)
        self.assertEqual(cm.exception.code, "InvalidKey")

    def test_falsy_values_are_values(self):
        db = self.db
        run = db.runs.create("falsy-test")
        for i, v in enumerate([False, 0, "", None, [], {}]):
            db.kv.put(run, f"k{i}", v)
            self.assertEqual(db.kv.get(run, f"k{i}").value, v)
        db.batch(run).kv_put("b", False).state_set("s", 0).commit()
        self.assertEqual(db.kv.get(run, "b").value, False)
        self.assertEqual(db.state.read(run, "s").value, 0)

    def test_batch_atomic(self):
        db = self.db
        run = db.runs.create("batch-test")
        with self.assertRaises(ConflictError) as cm:
            db.batch(run).kv_put("x", 1).event_append("e").kv_put("y", 2, if_version=7).commit()
        self.assertEqual(cm.exception.op_index, 2)
        self.assertEqual(db.kv.list(run), [])
        self.assertEqual(db.events.range(run), [])
        res = db.batch(run).kv_put("x", 1).event_append("e", {"k": 1}).commit()
        self.assertEqual(res[1]["sequence"], 0)
        self.assertEqual(db.kv.get(run, "x").version, res[0]["version"])

    def test_time_travel(self):
        db = self.db
        run = db.runs.create("history-test")
        v1 = db.kv.put(run, "k", "one")
        db.kv.put(run, "k", "two")
        self.assertEqual(db.kv.get(run, "k", at=v1).value, "one")
        self.assertEqual([h["value"] for h in db.kv.history(run, "k")], ["two", "one"])
        db.state.set(run, "s", "a")
        db.state.set(run, "s", "b")
        self.assertEqual(db.state.read(run, "s", at=1).value, "a")
        d1 = db.json.put(run, "d", {"x": 1})
        db.json.set(run, "d", "/x", 2)
        self.assertEqual(db.json.get(run, "d", at=d1).value, {"x": 1})
        self.assertEqual(len(db.json.history(run, "d")), 2)

    def test_as_of(self):
        db = self.db
        run = db.runs.create("as-of-test")
        db.kv.put(run, "a", 1)
        db.events.append(run, "one")
        v = db.json.put(run, "d", {"x": 1})
        db.kv.put(run, "b", 2)
        db.kv.put(run, "a", 9)
        db.events.append(run, "two")
        db.json.set(run, "d", "/x", 2)
        self.assertEqual(db.kv.list(run, as_of=v), ["a"])
        self.assertEqual(db.kv.get(run, "a", as_of=v).value, 1)
        self.assertEqual([e.type for e in db.events.range(run, as_of=v)], ["one"])
        self.assertEqual(db.json.get(run, "d", as_of=v).value, {"x": 1})
        self.assertEqual(db.json.list(run, as_of=v), ["d"])
        self.assertEqual(db.state.list(run, as_of=v), [])
        res = db.batch(run, as_of=v).op("kv.get", key="a").op("kv.list").commit()
        self.assertEqual((res[0]["value"], res[1]["keys"]), (1, ["a"]))
        with self.assertRaises(InmemError) as cm:
            db.batch(run, as_of=v).kv_put("a", 3).commit()
        self.assertEqual(cm.exception.code, "InvalidArgument")
        with self.assertRaises(InmemError) as cm:
            db.kv.list(run, as_of=1 << 60)
        self.assertEqual((cm.exception.code, cm.exception.status), ("InvalidArgument", 400))

    def test_fork_diff_merge(self):
        db = self.db
        src = db.runs.create("fork-src")
        db.kv.put(src, "plan", "a")
        db.kv.put(src, "keep", 1)
        db.json.put(src, "doc", {"x": 1})
        child = db.runs.fork(src, name="fork-child")
        self.assertEqual((child["name"], child["parent"]), ("fork-child", src))
        self.assertEqual(db.kv.get("fork-child", "plan").value, "a")
        db.kv.put("fork-child", "plan", "b")
        db.kv.put("fork-child", "new", True)
        db.json.set("fork-child", "doc", "/x", 2)
        db.kv.delete("fork-child", "keep")
        changes = list(db.runs.diff(src, "fork-child", page_size=1))
        by = {(c["primitive"], c.get("key")): c for c in changes}
        self.assertEqual(len(changes), 4)
        self.assertEqual(by[("kv", "plan")]["kind"], "changed")
        self.assertEqual(by[("kv", "new")]["kind"], "added")
        self.assertEqual(by[("kv", "keep")]["kind"], "removed")
        self.assertEqual(by[("json", "doc")]["patch"], [{"op": "replace", "path": "/x", "value": 2}])
        page = db.runs.diff_page(src, "fork-child", limit=3)
        self.assertEqual((len(page["changes"]), page["next"]), (3, 3))
        # A forked run at an older version, and one run at two versions.
        v = db.kv.put(src, "plan", "c")
        self.assertEqual([c["key"] for c in db.runs.diff(src, at=v - 1)], ["plan"])
        with self.assertRaises(MergeConflictError) as cm:
            db.runs.merge("fork-child", src)
        e = cm.exception
        self.assertEqual((e.code, e.status, e.conflicts_total), ("ConstraintViolation", 409, 1))
        self.assertEqual((e.conflicts[0]["key"], e.conflicts[0]["source"]["value"], e.conflicts[0]["target"]["value"]),
                         ("plan", "b", "c"))
        self.assertEqual(db.kv.get(src, "plan").value, "c")
        res = db.runs.merge("fork-child", src, "source-wins")
        self.assertEqual((res["applied"], res["conflicts_total"]), (4, 1))
        self.assertEqual(db.kv.get(src, "plan").value, "b")
        with self.assertRaises(InmemError) as cm:
            db.runs.merge("fork-child", src, "sideways")
        self.assertEqual(cm.exception.code, "InvalidArgument")
        with self.assertRaises(NotFoundError):
            db.runs.fork("no-such-run")

    def test_state_cas(self):
        db = self.db
        run = db.runs.create("state-test")
        self.assertEqual(db.state.cas(run, "lock", 0, "me"), 1)
        with self.assertRaises(ConflictError):
            db.state.cas(run, "lock", 0, "you")
        self.assertEqual(db.state.cas(run, "lock", 1, "free"), 2)
        self.assertEqual(db.state.read(run, "lock").value, "free")

    def test_json_traces_vectors_runs(self):
        db = self.db
        run = db.runs.create("misc-test", tags=["t"], metadata={"owner": "py"})
        db.json.create(run, "doc", {"a": {"b": 1}})
        db.json.set(run, "doc", "a.c", 2)
        db.json.patch(run, "doc", [{"op": "remove", "path": "/a/b"}])
        db.json.merge(run, "doc", {"z": True})
        self.assertEqual(db.json.get(run, "doc").value, {"a": {"c": 2}, "z": True})
        self.assertEqual(db.json.get(run, "doc", "/a/c").value, 2)
        root = db.traces.record(run, "tool_call", {"tool": "search", "input": {"q": "x"}, "duration_ms": 3})
        db.traces.record(run, "thought", {"content": "hmm"}, parent=root, tags=["inner"])
        self.assertEqual([t["type"] for t in db.traces.list(run)], ["tool_call", "thought"])
        self.assertEqual(db.traces.list(run, tag="inner")[0]["parent"], root)
        db.vectors.create_collection(run, "c", 2)
        db.vectors.upsert(run, "c", "x", [1, 0], {"k": "a"})
        db.vectors.upsert(run, "c", "y", [0, 1], {"k": "b"})
        hits = db.vectors.search(run, "c", [1, 0.2], k=2, filter=[{"field": "k", "op": "eq", "value": "b"}])
        self.assertEqual([h["key"] for h in hits], ["y"])
        db.runs.fail(run, "boom")
        self.assertEqual(db.runs.get("misc-test")["error"], "boom")
        with self.assertRaises(InmemError) as cm:
            db.kv.put(run, "late", 1)
        self.assertEqual(cm.exception.code, "RunClosed")

    def test_follow(self):
        db = self.db
        run = db.runs.create("follow-test")
        db.events.append(run, "first", 0)
        got = []
        stream = db.events.follow(run, timeout=60)
        got.append(next(stream))
        for i in range(1, 4):
            db.events.append(run, "next", i)
            got.append(next(stream))
        stream.close()
        self.assertEqual([e.sequence for e in got], [0, 1, 2, 3])
        self.assertEqual(got[3].payload, 3)

    def test_maintenance(self):
        db = self.db
        self.assertEqual(db.health()["status"], "ok")
        db.checkpoint()
        db.compact()
        self.assertGreater(db.stats()["commits"], 0)
        self.assertIn("inmem_commits_total", db.metrics())

    def test_readme_example(self):
        example = (PKG / "examples" / "quickstart.py").read_text()
        readme = (REPO / "README.md").read_text()
        self.assertIn(example, readme, "README's Python example differs from clients/python/examples/quickstart.py")
        out = subprocess.run([sys.executable, str(PKG / "examples" / "quickstart.py")], check=True, capture_output=True, text=True,
                             env={**os.environ, "INMEM_URL": self.server.url, "PYTHONPATH": str(PKG)})
        self.assertEqual(out.stdout.splitlines(), ["conflict: Conflict", "Ada", "['tool_result', 'phase_changed']", "n1"])


class TokenTest(unittest.TestCase):
    def test_token_required(self):
        tmp = tempfile.mkdtemp(prefix="inmem-tok-")
        try:
            tok = os.path.join(tmp, "token")
            with open(tok, "w") as f:
                f.write("s3cret\n")
            srv = Server(ClientTest.binary if hasattr(ClientTest, "binary") else inmem_binary(tmp), "--token-file", tok)
            try:
                with self.assertRaises(InmemError) as cm:
                    Client(srv.url).kv.put("global", "k", 1)
                self.assertEqual(cm.exception.status, 401)
                Client(srv.url, token="s3cret").kv.put("global", "k", 1)
            finally:
                self.assertEqual(srv.stop(), 0)
                srv.cleanup()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
