// Package benchkit holds the workloads of `inmem bench` and of the bench/
// module's peer comparison, so that in-mem, its floors and every peer are
// measured by the same code at the same key and value sizes.
//
// An Engine is a store behind a minimal key/value face; a Spec names one
// and says which durability modes it offers. Run interleaves the engines
// within each repetition (so a noisy neighbour or a warming disk cache
// hurts all of them alike), verifies every engine's put count after its
// run, and reports medians and spreads. The package imports no store: the
// in-mem adapter lives in inmemengine, and the peers live in the bench/
// module so that their dependencies never enter the library's go.mod.
package benchkit
