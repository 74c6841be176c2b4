// @ts-check
/**
 * A client for `inmem serve`, the HTTP/JSON face of the in-mem database.
 * Node 20+ (global fetch), no dependencies. The vocabulary follows the Go
 * API: one property per primitive (kv, events, state, traces, runs, json,
 * vectors); every call names its run (a run id, a registered run's name, or
 * "global"); reads return {value, version, timestamp}. Errors are
 * InmemError with the database's stable code.
 *
 * @example
 * const db = new Client("http://127.0.0.1:7070");
 * const run = await db.runs.create("agent-1");
 * await db.kv.put(run, "user", { name: "Ada" });
 * (await db.kv.get(run, "user")).value; // { name: "Ada" }
 */

export const GLOBAL = "global";

/** An error answered by the server; `code` is the database's error code. */
export class InmemError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} status
   * @param {{opIndex?: number, expectedVersion?: number, actualVersion?: number}} [extra]
   */
  constructor(code, message, status, extra = {}) {
    super(`${code}: ${message}`);
    this.name = "InmemError";
    this.code = code;
    this.status = status;
    this.opIndex = extra.opIndex;
    this.expectedVersion = extra.expectedVersion;
    this.actualVersion = extra.actualVersion;
  }
}

/**
 * A merge refused because both runs changed the same entities; nothing was
 * merged. `conflicts` lists them ({primitive, key, collection?, base,
 * source, target}), at most 1000 of `conflictsTotal`.
 */
export class MergeConflictError extends InmemError {
  /**
   * @param {string} code @param {string} message @param {number} status
   * @param {any[]} conflicts @param {number} conflictsTotal
   */
  constructor(code, message, status, conflicts, conflictsTotal) {
    super(code, message, status);
    this.name = "MergeConflictError";
    this.conflicts = conflicts;
    this.conflictsTotal = conflictsTotal;
  }
}

/**
 * @typedef {{value: any, version: number, timestamp: number}} Versioned
 * @typedef {{sequence: number, type: string, payload: any, timestamp: number, hash: string, prev_hash: string}} Event
 * @typedef {{op: string, [field: string]: any}} Op
 */

const q = encodeURIComponent;
/** Keys may hold "/": the routes take the rest of the path. */
const key = (/** @type {string} */ s) => s.split("/").map(encodeURIComponent).join("/");
/**
 * A query string ("" or "?..."); undefined fields are left out.
 * @param {Record<string, any>} o
 */
const qs = (o) => {
  const p = new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  const s = p.toString();
  return s ? `?${s}` : "";
};
/**
 * The fields of a read of the whole run as of a past commit: asOf is a
 * commit version, asOfTime a Date or RFC 3339 text.
 * @typedef {{asOf?: number, asOfTime?: Date | string}} AsOf
 * @param {AsOf} o
 */
const asOf = (o) => ({ as_of: o.asOf, as_of_time: o.asOfTime instanceof Date ? o.asOfTime.toISOString() : o.asOfTime });
/** Drops undefined fields (false, 0, "" and null are values). */
const body = (/** @type {Record<string, any>} */ o) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export class Client {
  /**
   * @param {string} baseURL e.g. "http://127.0.0.1:7070"
   * @param {{token?: string}} [opts]
   */
  constructor(baseURL, opts = {}) {
    this.baseURL = baseURL.replace(/\/+$/, "");
    this.token = opts.token;
    this.kv = new KV(this);
    this.events = new Events(this);
    this.state = new State(this);
    this.traces = new Traces(this);
    this.runs = new Runs(this);
    this.json = new JSONDocs(this);
    this.vectors = new Vectors(this);
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {any} [payload]
   * @param {AbortSignal} [signal]
   * @returns {Promise<Response>}
   */
  async fetch(method, path, payload, signal) {
    /** @type {Record<string, string>} */
    const headers = {};
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    const resp = await fetch(this.baseURL + path, {
      method, headers, signal, redirect: "error", body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    if (!resp.ok) {
      const text = await resp.text();
      let err;
      try { err = JSON.parse(text).error; } catch { /* not our JSON */ }
      if (!err) throw new InmemError("Internal", text, resp.status);
      if (err.conflicts) throw new MergeConflictError(err.code, err.message, resp.status, err.conflicts, err.conflicts_total ?? 0);
      throw new InmemError(err.code, err.message, resp.status, {
        opIndex: err.op_index, expectedVersion: err.expected_version, actualVersion: err.actual_version,
      });
    }
    return resp;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {any} [payload]
   * @returns {Promise<any>}
   */
  async request(method, path, payload) {
    const resp = await this.fetch(method, path, payload);
    const type = resp.headers.get("content-type") ?? "";
    return type.startsWith("application/json") ? resp.json() : resp.text();
  }

  health() { return this.request("GET", "/healthz"); }
  stats() { return this.request("GET", "/v1/admin/stats"); }
  /** @returns {Promise<string>} Prometheus text */
  metrics() { return this.request("GET", "/metrics"); }
  checkpoint() { return this.request("POST", "/v1/admin/checkpoint"); }
  compact() { return this.request("POST", "/v1/admin/compact"); }

  /**
   * Applies operations atomically: all commit or none does. Conditions
   * (if_version, if_absent) fail the whole batch with code "Conflict".
   * With asOf (a commit version) or asOfTime the operations may only read,
   * and read the run as it was then.
   * @param {string} run
   * @param {Op[]} ops
   * @param {AsOf} [opts]
   * @returns {Promise<any[]>} one result per operation
   */
  async batch(run, ops, opts = {}) {
    return (await this.request("POST", "/v1/batch", body({ run, ops, ...asOf(opts) }))).results;
  }
}

class Prim {
  /** @param {Client} c */
  constructor(c) { this.c = c; }
}

export class KV extends Prim {
  /** @param {string} run @param {string} k @param {any} value @param {{ifVersion?: number, ifAbsent?: boolean}} [cond] @returns {Promise<number>} */
  async put(run, k, value, cond = {}) {
    return (await this.c.request("PUT", `/v1/runs/${q(run)}/kv/${key(k)}`, body({ value, if_version: cond.ifVersion, if_absent: cond.ifAbsent || undefined }))).version;
  }
  /**
   * The value of k, or (with at) the value it had as of version at; asOf /
   * asOfTime read it in the run as of a past commit.
   * @param {string} run @param {string} k @param {{at?: number} & AsOf} [opts] @returns {Promise<Versioned>}
   */
  get(run, k, opts = {}) { return this.c.request("GET", `/v1/runs/${q(run)}/kv/${key(k)}${qs({ at: opts.at, ...asOf(opts) })}`); }
  /** Every retained version, newest first; deletions have deleted: true. @param {string} run @param {string} k @returns {Promise<(Versioned & {deleted: boolean})[]>} */
  async history(run, k) { return (await this.c.request("GET", `/v1/runs/${q(run)}/kv/${key(k)}?history=1`)).versions; }
  /** @param {string} run @param {string} k @param {{ifVersion?: number}} [cond] */
  async delete(run, k, cond = {}) {
    const qs = cond.ifVersion === undefined ? "" : `?if_version=${cond.ifVersion}`;
    return (await this.c.request("DELETE", `/v1/runs/${q(run)}/kv/${key(k)}${qs}`)).version;
  }
  /** @param {string} run @param {string} [prefix] @param {AsOf} [opts] @returns {Promise<string[]>} */
  async list(run, prefix = "", opts = {}) { return (await this.c.request("GET", `/v1/runs/${q(run)}/kv${qs({ prefix, ...asOf(opts) })}`)).keys; }
}

export class Events extends Prim {
  /** @param {string} run @param {string} type @param {any} [payload] @returns {Promise<number>} the sequence */
  async append(run, type, payload) {
    return (await this.c.request("POST", `/v1/runs/${q(run)}/events`, { type, value: payload ?? null })).sequence;
  }
  /** @param {string} run @param {number} seq @returns {Promise<Event>} */
  read(run, seq) { return this.c.request("GET", `/v1/runs/${q(run)}/events/${seq}`); }
  /** @param {string} run @param {{from?: number, limit?: number, type?: string} & AsOf} [opts] @returns {Promise<Event[]>} */
  async range(run, opts = {}) {
    const p = qs({ from: opts.from, limit: opts.limit, type: opts.type, ...asOf(opts) });
    return (await this.c.request("GET", `/v1/runs/${q(run)}/events${p}`)).events;
  }
  /**
   * Yields the events from `from` on, then each new one as it commits
   * (NDJSON). Break out of the loop, or abort `signal`, to stop.
   * @param {string} run
   * @param {{from?: number, signal?: AbortSignal}} [opts]
   * @returns {AsyncGenerator<Event>}
   */
  async *follow(run, opts = {}) {
    const ctl = new AbortController();
    opts.signal?.addEventListener("abort", () => ctl.abort());
    const resp = await this.c.fetch("GET", `/v1/runs/${q(run)}/events?follow=1&from=${opts.from ?? 0}`, undefined, ctl.signal);
    if (!resp.body) return;
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of resp.body) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const d = JSON.parse(line);
          if (d.error) throw new InmemError(d.error.code, d.error.message, 200);
          yield d;
        }
      }
    } finally {
      ctl.abort();
    }
  }
}

export class State extends Prim {
  /** The cell, or (with at) the value it held with counter at; asOf / asOfTime read it in the run as of a past commit. @param {string} run @param {string} name @param {{at?: number} & AsOf} [opts] @returns {Promise<Versioned>} */
  read(run, name, opts = {}) { return this.c.request("GET", `/v1/runs/${q(run)}/state/${key(name)}${qs({ at: opts.at, ...asOf(opts) })}`); }
  /** @param {string} run @param {string} name */
  async history(run, name) { return (await this.c.request("GET", `/v1/runs/${q(run)}/state/${key(name)}?history=1`)).versions; }
  /** @param {string} run @param {string} name @param {any} value @returns {Promise<number>} the new counter */
  async set(run, name, value) { return (await this.c.request("PUT", `/v1/runs/${q(run)}/state/${key(name)}`, { value })).version; }
  /** @param {string} run @param {string} name @param {any} value */
  async init(run, name, value) { return (await this.c.request("PUT", `/v1/runs/${q(run)}/state/${key(name)}`, { value, if_absent: true })).version; }
  /**
   * Writes value if the cell's counter is `expected` (0: it must not exist).
   * @param {string} run @param {string} name @param {number} expected @param {any} value
   */
  async cas(run, name, expected, value) {
    const b = expected === 0 ? { value, if_absent: true } : { value, if_version: expected };
    return (await this.c.request("PUT", `/v1/runs/${q(run)}/state/${key(name)}`, b)).version;
  }
  /** @param {string} run @param {string} name */
  async delete(run, name) { await this.c.request("DELETE", `/v1/runs/${q(run)}/state/${key(name)}`); }
  /** @param {string} run @param {string} [prefix] @param {AsOf} [opts] @returns {Promise<string[]>} */
  async list(run, prefix = "", opts = {}) { return (await this.c.request("GET", `/v1/runs/${q(run)}/state${qs({ prefix, ...asOf(opts) })}`)).keys; }
}

export class Traces extends Prim {
  /**
   * @param {string} run
   * @param {string} type tool_call, decision, query, thought, error or custom:<name>
   * @param {Record<string, any>} traceBody
   * @param {{parent?: number, tags?: string[], metadata?: any}} [opts]
   * @returns {Promise<number>} the trace id
   */
  async record(run, type, traceBody, opts = {}) {
    return (await this.c.request("POST", `/v1/runs/${q(run)}/traces`, body({ type, body: traceBody, ...opts }))).id;
  }
  /** @param {string} run @param {number} id */
  get(run, id) { return this.c.request("GET", `/v1/runs/${q(run)}/traces/${id}`); }
  /** @param {string} run @param {{type?: string, tag?: string}} [opts] @returns {Promise<any[]>} */
  async list(run, opts = {}) {
    return (await this.c.request("GET", `/v1/runs/${q(run)}/traces?${new URLSearchParams(body(opts))}`)).traces;
  }
}

export class Runs extends Prim {
  /** @param {string} name @param {{parent?: string, tags?: string[], metadata?: any}} [opts] @returns {Promise<string>} the run id */
  async create(name, opts = {}) {
    return (await this.c.request("POST", "/v1/runs", body({ name, parent_run: opts.parent, tags: opts.tags, metadata: opts.metadata }))).id;
  }
  /** @param {string} run */
  get(run) { return this.c.request("GET", `/v1/runs/${q(run)}`); }
  /** @param {{status?: string, tag?: string}} [opts] @returns {Promise<any[]>} */
  async list(opts = {}) { return (await this.c.request("GET", `/v1/runs?${new URLSearchParams(body(opts))}`)).runs; }
  /** @param {string} run @param {string} status @param {string} [error] */
  async setStatus(run, status, error) {
    return (await this.c.request("POST", `/v1/runs/${q(run)}/status`, body({ status, error }))).version;
  }
  /** @param {string} run */
  complete(run) { return this.setStatus(run, "completed"); }
  /** @param {string} run @param {string} error */
  fail(run, error) { return this.setStatus(run, "failed", error); }
  /** @param {string} run */
  async delete(run) { return (await this.c.request("DELETE", `/v1/runs/${q(run)}`)).version; }
  /**
   * Forks run as of commit version `at` (default: the newest) into a new run
   * that starts with all its data; resolves to the new run's record (id,
   * name, parent, forked_at ...).
   * @param {string} run @param {{at?: number, name?: string, tags?: string[], metadata?: any}} [opts]
   */
  fork(run, opts = {}) { return this.c.request("POST", `/v1/runs/${q(run)}/fork`, body(opts)); }
  /**
   * One page of the differences between run (as of at) and `with` (as of
   * withAt; default: run itself). The answer names the versions it read
   * (at, with_at) and, when more follow, next: pass all three back for the
   * next page of the same two snapshots.
   * @param {string} run
   * @param {{with?: string, at?: number, withAt?: number, after?: number, limit?: number}} [opts]
   * @returns {Promise<{run: string, at: number, with: string, with_at: number, changes: any[], next?: number}>}
   */
  diffPage(run, opts = {}) {
    return this.c.request("GET", `/v1/runs/${q(run)}/diff${qs({ with: opts.with, at: opts.at, with_at: opts.withAt, after: opts.after, limit: opts.limit })}`);
  }
  /**
   * Every change between the two sides, fetched page by page: kind (added,
   * removed, changed), primitive, key, a and b ({value, version, timestamp}
   * or null), patch for documents, events ({common, a_count, b_count, a, b}: the first 1000 events of each side past the common prefix) for event logs.
   * @param {string} run
   * @param {{with?: string, at?: number, withAt?: number, pageSize?: number}} [opts]
   * @returns {AsyncGenerator<any>}
   */
  async *diff(run, opts = {}) {
    let { at, withAt } = opts;
    let after = 0;
    for (;;) {
      const p = await this.diffPage(run, { with: opts.with, at, withAt, after, limit: opts.pageSize });
      yield* p.changes;
      if (p.next === undefined) return;
      ({ at, with_at: withAt, next: after } = p);
    }
  }
  /**
   * Merges source's changes since the fork into `into` (its fork parent or
   * fork). strategy: "fail-on-conflict" (default; rejects with
   * MergeConflictError and merges nothing), "source-wins" or "target-wins".
   * Resolves to {version, applied, events, traces, conflicts, conflicts_total}.
   * @param {string} source @param {string} into @param {string} [strategy]
   */
  merge(source, into, strategy = "fail-on-conflict") {
    return this.c.request("POST", `/v1/runs/${q(source)}/merge`, { into, strategy });
  }
}

export class JSONDocs extends Prim {
  /** @param {string} run @param {string} id @param {any} doc @param {{ifVersion?: number, ifAbsent?: boolean}} [cond] */
  async put(run, id, doc, cond = {}) {
    return (await this.c.request("PUT", `/v1/runs/${q(run)}/json/${key(id)}`, body({ value: doc, if_version: cond.ifVersion, if_absent: cond.ifAbsent || undefined }))).version;
  }
  /** @param {string} run @param {string} id @param {any} doc */
  create(run, id, doc) { return this.put(run, id, doc, { ifAbsent: true }); }
  /** @param {string} run @param {string} id @param {string} path @param {any} value */
  async set(run, id, path, value) { return (await this.c.request("POST", `/v1/runs/${q(run)}/json/${key(id)}`, { path, value })).version; }
  /** The value at path, or (with at) the whole document as of version at; asOf / asOfTime read it in the run as of a past commit. @param {string} run @param {string} id @param {string} [path] @param {{at?: number} & AsOf} [opts] @returns {Promise<Versioned>} */
  get(run, id, path = "", opts = {}) { return this.c.request("GET", `/v1/runs/${q(run)}/json/${key(id)}${qs({ path, at: opts.at, ...asOf(opts) })}`); }
  /** @param {string} run @param {string} id */
  async history(run, id) { return (await this.c.request("GET", `/v1/runs/${q(run)}/json/${key(id)}?history=1`)).versions; }
  /** @param {string} run @param {string} id @param {any[]} ops RFC 6902 operations */
  async patch(run, id, ops) { return (await this.c.request("PATCH", `/v1/runs/${q(run)}/json/${key(id)}`, { patch: ops })).version; }
  /** @param {string} run @param {string} id @param {any} patch an RFC 7396 merge patch */
  async merge(run, id, patch) { return (await this.c.batch(run, [{ op: "json.merge", key: id, value: patch }]))[0].version; }
  /** @param {string} run @param {string} id */
  async destroy(run, id) { return (await this.c.request("DELETE", `/v1/runs/${q(run)}/json/${key(id)}`)).version; }
  /** @param {string} run @param {string} [prefix] @param {AsOf} [opts] @returns {Promise<string[]>} */
  async list(run, prefix = "", opts = {}) { return (await this.c.request("GET", `/v1/runs/${q(run)}/json${qs({ prefix, ...asOf(opts) })}`)).keys; }
}

export class Vectors extends Prim {
  /** @param {string} run @param {string} name @param {number} dim @param {string} [metric] */
  async createCollection(run, name, dim, metric = "cosine") {
    return (await this.c.request("PUT", `/v1/runs/${q(run)}/vectors/${q(name)}`, { dim, metric })).version;
  }
  /** @param {string} run @param {string} name */
  async deleteCollection(run, name) { return (await this.c.request("DELETE", `/v1/runs/${q(run)}/vectors/${q(name)}`)).version; }
  /** @param {string} run @returns {Promise<any[]>} */
  async collections(run) { return (await this.c.request("GET", `/v1/runs/${q(run)}/vectors`)).collections; }
  /** @param {string} run @param {string} coll @param {string} k @param {number[]} embedding @param {any} [metadata] */
  async upsert(run, coll, k, embedding, metadata) {
    return (await this.c.request("PUT", `/v1/runs/${q(run)}/vectors/${q(coll)}/items/${key(k)}`, body({ embedding, metadata }))).version;
  }
  /** @param {string} run @param {string} coll @param {string} k */
  get(run, coll, k) { return this.c.request("GET", `/v1/runs/${q(run)}/vectors/${q(coll)}/items/${key(k)}`); }
  /** @param {string} run @param {string} coll @param {string} k */
  async delete(run, coll, k) { return (await this.c.request("DELETE", `/v1/runs/${q(run)}/vectors/${q(coll)}/items/${key(k)}`)).version; }
  /**
   * @param {string} run @param {string} coll @param {number[]} embedding
   * @param {{k?: number, filter?: {field: string, op?: string, value: any}[]}} [opts]
   * @returns {Promise<{key: string, score: number, metadata: any}[]>}
   */
  async search(run, coll, embedding, opts = {}) {
    return (await this.c.request("POST", `/v1/runs/${q(run)}/vectors/${q(coll)}/search`, body({ embedding, k: opts.k, filter: opts.filter }))).hits;
  }
}
