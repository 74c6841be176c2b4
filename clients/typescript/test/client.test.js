// Tests of the client against a real `inmem serve`: the binary is
// $INMEM_BIN, or built from the repository with `go build`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { Client, InmemError, MergeConflictError } from "../src/index.js";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(pkg, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "inmem-ts-"));

function binary() {
  if (process.env.INMEM_BIN) return process.env.INMEM_BIN;
  const out = join(tmp, "inmem");
  execFileSync("go", ["build", "-o", out, "./cmd/inmem"], { cwd: repo, stdio: "inherit" });
  return out;
}

/** Starts `inmem serve` on a free port; resolves once it listens. */
function startServer(bin, ...extra) {
  const proc = spawn(bin, ["serve", mkdtempSync(join(tmp, "db-")) + "/db", "--addr", "127.0.0.1:0", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout });
    lines.once("line", (line) => {
      if (!line.startsWith("listening on ")) return reject(new Error(`unexpected: ${line}`));
      resolve({ url: line.split(" ").at(-1), stop: () => { proc.kill("SIGTERM"); return exited; } });
    });
    proc.once("error", reject);
  });
}

let bin, server, db;
before(async () => {
  bin = binary();
  server = await startServer(bin);
  db = new Client(server.url);
});
after(async () => {
  const { code } = await server.stop();
  rmSync(tmp, { recursive: true, force: true });
  assert.equal(code, 0, "serve exits 0 after SIGTERM");
});

test("kv, versions and typed errors", async () => {
  const run = await db.runs.create("kv-test");
  const v = await db.kv.put(run, "a/b", { n: 1 });
  const got = await db.kv.get(run, "a/b");
  assert.deepEqual(got.value, { n: 1 });
  assert.equal(got.version, v);
  assert.deepEqual(await db.kv.list(run, "a/"), ["a/b"]);
  await assert.rejects(db.kv.put(run, "a/b", 2, { ifVersion: v + 100 }), (e) => e instanceof InmemError && e.code === "Conflict" && e.status === 409 && e.actualVersion === v);
  await db.kv.delete(run, "a/b", { ifVersion: v });
  await assert.rejects(db.kv.get(run, "a/b"), (e) => e.code === "NotFound" && e.status === 404);
  await assert.rejects(db.kv.put(run, "_system/x", 1), (e) => e.code === "InvalidKey");
});

test("falsy values are values", async () => {
  const run = await db.runs.create("falsy-test");
  for (const [i, v] of [false, 0, "", null, [], {}].entries()) {
    await db.kv.put(run, `k${i}`, v);
    assert.deepEqual((await db.kv.get(run, `k${i}`)).value, v);
  }
});

test("a batch is atomic", async () => {
  const run = await db.runs.create("batch-test");
  await assert.rejects(db.batch(run, [
    { op: "kv.put", key: "x", value: 1 },
    { op: "event.append", type: "e" },
    { op: "kv.put", key: "y", value: 2, if_version: 7 },
  ]), (e) => e.code === "Conflict" && e.opIndex === 2);
  assert.deepEqual(await db.kv.list(run), []);
  assert.deepEqual(await db.events.range(run), []);
  const res = await db.batch(run, [{ op: "kv.put", key: "x", value: 1 }, { op: "event.append", type: "e" }]);
  assert.equal(res[1].sequence, 0);
  assert.equal((await db.kv.get(run, "x")).version, res[0].version);
});

test("time travel", async () => {
  const run = await db.runs.create("history-test");
  const v1 = await db.kv.put(run, "k", "one");
  await db.kv.put(run, "k", "two");
  assert.equal((await db.kv.get(run, "k", { at: v1 })).value, "one");
  assert.deepEqual((await db.kv.history(run, "k")).map((h) => h.value), ["two", "one"]);
  await db.state.set(run, "s", "a");
  await db.state.set(run, "s", "b");
  assert.equal((await db.state.read(run, "s", { at: 1 })).value, "a");
  const d1 = await db.json.put(run, "d", { x: 1 });
  await db.json.set(run, "d", "/x", 2);
  assert.deepEqual((await db.json.get(run, "d", "", { at: d1 })).value, { x: 1 });
  assert.equal((await db.json.history(run, "d")).length, 2);
});

test("reads as of a past commit", async () => {
  const run = await db.runs.create("as-of-test");
  await db.kv.put(run, "a", 1);
  await db.events.append(run, "one");
  const v = await db.json.put(run, "d", { x: 1 });
  await db.kv.put(run, "b", 2);
  await db.kv.put(run, "a", 9);
  await db.events.append(run, "two");
  await db.json.set(run, "d", "/x", 2);
  assert.deepEqual(await db.kv.list(run, "", { asOf: v }), ["a"]);
  assert.equal((await db.kv.get(run, "a", { asOf: v })).value, 1);
  assert.deepEqual((await db.events.range(run, { asOf: v })).map((e) => e.type), ["one"]);
  assert.deepEqual((await db.json.get(run, "d", "", { asOf: v })).value, { x: 1 });
  assert.deepEqual(await db.json.list(run, "", { asOf: v }), ["d"]);
  assert.deepEqual(await db.state.list(run, "", { asOf: v }), []);
  const res = await db.batch(run, [{ op: "kv.get", key: "a" }, { op: "kv.list" }], { asOf: v });
  assert.deepEqual([res[0].value, res[1].keys], [1, ["a"]]);
  await assert.rejects(db.batch(run, [{ op: "kv.put", key: "a", value: 3 }], { asOf: v }), (e) => e.code === "InvalidArgument" && e.status === 400);
  await assert.rejects(db.kv.list(run, "", { asOf: 2 ** 50 }), (e) => e.code === "InvalidArgument");
  await assert.rejects(db.kv.list(run, "", { asOfTime: "whenever" }), (e) => e.code === "InvalidArgument");
});

test("fork, diff and merge", async () => {
  const src = await db.runs.create("fork-src");
  await db.kv.put(src, "plan", "a");
  await db.kv.put(src, "keep", 1);
  await db.json.put(src, "doc", { x: 1 });
  const child = await db.runs.fork(src, { name: "fork-child" });
  assert.equal(child.name, "fork-child");
  assert.equal(child.parent, src);
  assert.equal((await db.kv.get("fork-child", "plan")).value, "a");
  await db.kv.put("fork-child", "plan", "b");
  await db.kv.put("fork-child", "new", true);
  await db.json.set("fork-child", "doc", "/x", 2);
  await db.kv.delete("fork-child", "keep");
  const changes = [];
  for await (const c of db.runs.diff(src, { with: "fork-child", pageSize: 1 })) changes.push(c);
  const by = Object.fromEntries(changes.map((c) => [`${c.primitive}:${c.key}`, c]));
  assert.equal(changes.length, 4);
  assert.equal(by["kv:plan"].kind, "changed");
  assert.equal(by["kv:new"].kind, "added");
  assert.equal(by["kv:keep"].kind, "removed");
  assert.deepEqual(by["json:doc"].patch, [{ op: "replace", path: "/x", value: 2 }]);
  const page = await db.runs.diffPage(src, { with: "fork-child", limit: 3 });
  assert.deepEqual([page.changes.length, page.next], [3, 3]);
  const v = await db.kv.put(src, "plan", "c");
  const overTime = [];
  for await (const c of db.runs.diff(src, { at: v - 1 })) overTime.push(c.key);
  assert.deepEqual(overTime, ["plan"]);
  await assert.rejects(db.runs.merge("fork-child", src), (e) => e instanceof MergeConflictError && e.code === "ConstraintViolation" &&
    e.status === 409 && e.conflictsTotal === 1 && e.conflicts[0].key === "plan" && e.conflicts[0].source.value === "b" && e.conflicts[0].target.value === "c");
  assert.equal((await db.kv.get(src, "plan")).value, "c");
  const res = await db.runs.merge("fork-child", src, "source-wins");
  assert.deepEqual([res.applied, res.conflicts_total], [4, 1]);
  assert.equal((await db.kv.get(src, "plan")).value, "b");
  await assert.rejects(db.runs.merge("fork-child", src, "sideways"), (e) => e.code === "InvalidArgument");
  await assert.rejects(db.runs.fork("no-such-run"), (e) => e.code === "RunNotFound" && e.status === 404);
});

test("state CAS", async () => {
  const run = await db.runs.create("state-test");
  assert.equal(await db.state.cas(run, "lock", 0, "me"), 1);
  await assert.rejects(db.state.cas(run, "lock", 0, "you"), (e) => e.code === "Conflict");
  assert.equal(await db.state.cas(run, "lock", 1, "free"), 2);
  assert.equal((await db.state.read(run, "lock")).value, "free");
});

test("json, traces, vectors, runs", async () => {
  const run = await db.runs.create("misc-test", { tags: ["t"] });
  await db.json.create(run, "doc", { a: { b: 1 } });
  await db.json.set(run, "doc", "a.c", 2);
  await db.json.patch(run, "doc", [{ op: "remove", path: "/a/b" }]);
  await db.json.merge(run, "doc", { z: true });
  assert.deepEqual((await db.json.get(run, "doc")).value, { a: { c: 2 }, z: true });
  const root = await db.traces.record(run, "tool_call", { tool: "search", duration_ms: 2 });
  await db.traces.record(run, "thought", { content: "hmm" }, { parent: root, tags: ["inner"] });
  assert.equal((await db.traces.list(run, { tag: "inner" }))[0].parent, root);
  await db.vectors.createCollection(run, "c", 2);
  await db.vectors.upsert(run, "c", "x", [1, 0], { k: "a" });
  await db.vectors.upsert(run, "c", "y", [0, 1], { k: "b" });
  const hits = await db.vectors.search(run, "c", [1, 0.2], { k: 2, filter: [{ field: "k", op: "eq", value: "b" }] });
  assert.deepEqual(hits.map((h) => h.key), ["y"]);
  await db.runs.fail(run, "boom");
  assert.equal((await db.runs.get("misc-test")).error, "boom");
  await assert.rejects(db.kv.put(run, "late", 1), (e) => e.code === "RunClosed");
});

test("follow streams events as they commit", async () => {
  const run = await db.runs.create("follow-test");
  await db.events.append(run, "first", 0);
  const seen = [];
  for await (const e of db.events.follow(run)) {
    seen.push(e);
    if (seen.length === 4) break;
    await db.events.append(run, "next", seen.length);
  }
  assert.deepEqual(seen.map((e) => e.sequence), [0, 1, 2, 3]);
  assert.equal(seen[3].payload, 3);
});

test("maintenance, health and metrics", async () => {
  assert.equal((await db.health()).status, "ok");
  await db.checkpoint();
  await db.compact();
  assert.ok((await db.stats()).commits > 0);
  assert.match(await db.metrics(), /inmem_commits_total \d+/);
});

test("the README example runs", () => {
  const example = readFileSync(join(pkg, "examples", "quickstart.mjs"), "utf8");
  assert.ok(readFileSync(join(repo, "README.md"), "utf8").includes(example), "README's TypeScript example differs from clients/typescript/examples/quickstart.mjs");
  const out = execFileSync(process.execPath, [join(pkg, "examples", "quickstart.mjs")], { env: { ...process.env, INMEM_URL: server.url }, encoding: "utf8" });
  assert.deepEqual(out.trim().split("\n"), ["conflict: Conflict", "Ada", "tool_result,phase_changed", "n1"]);
});

test("a token is required when configured", async () => {
  const tok = join(tmp, "token");
  writeFileSync(tok, "s3cret\n");
  const s = await startServer(bin, "--token-file", tok);
  try {
    await assert.rejects(new Client(s.url).kv.put("global", "k", 1), (e) => e.status === 401 && e.code === "Unauthenticated");
    await new Client(s.url, { token: "s3cret" }).kv.put("global", "k", 1);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});
