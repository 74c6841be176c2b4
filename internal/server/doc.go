// Package server puts an in-mem database behind HTTP/JSON and the Model
// Context Protocol, so that agents written in any language can use it.
//
// One process owns the database directory (Open takes its lock), so every
// commit passes through this package. That is what makes the change feed
// cheap and exact: after each commit the server wakes the followers waiting
// on a condition, and they read what is new from a fresh snapshot — no
// polling and no hook inside the engine.
//
// Every request becomes a list of operations (Op) applied in one db.Update
// (or db.View when nothing writes). A single-resource route is a batch of
// one; POST /v1/batch sends many, with optional conditions (if_version,
// if_absent) that make the whole batch fail with Conflict and write nothing.
// Errors are the database's typed *Error codes in a JSON body, mapped to a
// 4xx status for anything a client can cause.
//
// adapter.go is the only file that calls the primitives of package inmem;
// the HTTP, MCP and feed layers speak Op and result maps.
package server
