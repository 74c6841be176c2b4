// Package inmemengine puts in-mem behind the benchkit.Engine face, through
// the public API a user calls (KV Put and Get as single-operation
// transactions), so the benchmark measures what users see.
package inmemengine
