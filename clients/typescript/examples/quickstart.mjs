import { Client, InmemError } from "inmem-client";

const db = new Client(process.env.INMEM_URL ?? "http://127.0.0.1:7070");

const run = await db.runs.create("research-agent-7", { tags: ["demo"] });
await db.kv.put(run, "user/name", "Ada");
await db.events.append(run, "tool_result", { tool: "search", hits: 3 });
await db.traces.record(run, "thought", { content: "the user wants a summary" });
await db.json.put(run, "plan", { steps: ["search"], done: false });
await db.json.patch(run, "plan", [{ op: "replace", path: "/done", value: true }]);
await db.vectors.createCollection(run, "notes", 3);
await db.vectors.upsert(run, "notes", "n1", [0.1, 0.9, 0], { topic: "billing" });

// Several writes, one atomic commit; the condition guards all of them.
const phase = await db.state.init(run, "phase", "planning");
await db.batch(run, [
  { op: "state.set", key: "phase", value: "acting", if_version: phase },
  { op: "event.append", type: "phase_changed", value: { to: "acting" } },
]);
try { // a stale counter: nothing in this batch is written
  await db.batch(run, [
    { op: "state.set", key: "phase", value: "done", if_version: phase },
    { op: "kv.put", key: "x", value: 1 },
  ]);
} catch (e) {
  if (!(e instanceof InmemError)) throw e;
  console.log("conflict:", e.code);
}

console.log((await db.kv.get(run, "user/name")).value);
console.log((await db.events.range(run)).map((e) => e.type).join(","));
console.log((await db.vectors.search(run, "notes", [0.1, 0.8, 0.1], { k: 1 }))[0].key);
await db.runs.complete(run);
