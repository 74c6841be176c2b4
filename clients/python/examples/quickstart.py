import os
from inmem_client import Client, ConflictError

db = Client(os.environ.get("INMEM_URL", "http://127.0.0.1:7070"))

run = db.runs.create("support-agent-42", tags=["demo"])
db.kv.put(run, "user/name", "Ada")
db.events.append(run, "tool_result", {"tool": "search", "hits": 3})
db.traces.record(run, "decision", {"choice": "answer", "options": ["answer", "ask"]})
db.json.put(run, "plan", {"steps": ["search"], "done": False})
db.json.set(run, "plan", "/done", True)
db.vectors.create_collection(run, "notes", dim=3)
db.vectors.upsert(run, "notes", "n1", [0.1, 0.9, 0.0], {"topic": "billing"})

# Several writes, one atomic commit; the condition guards all of them.
phase = db.state.init(run, "phase", "planning")
with db.batch(run) as b:
    b.state_set("phase", "acting", if_version=phase)
    b.event_append("phase_changed", {"to": "acting"})

try:  # a stale counter: nothing in this batch is written
    db.batch(run).state_set("phase", "done", if_version=phase).kv_put("x", 1).commit()
except ConflictError as e:
    print("conflict:", e.code)

print(db.kv.get(run, "user/name").value)
print([e.type for e in db.events.range(run)])
print(db.vectors.search(run, "notes", [0.1, 0.8, 0.1], k=1)[0]["key"])
db.runs.complete(run)
