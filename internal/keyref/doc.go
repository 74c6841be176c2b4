// Package keyref turns the engine keys of the seven primitives back into
// readable entity references, for tools that show stored data (the WAL
// dump, inspection commands).
//
// Each primitive stores its entities, and the indexes it keeps beside them,
// under engine keys of its own layout: a tag byte, then fixed-width
// big-endian numbers and length-prefixed or trailing text. The primitives
// (in the root package) encode those keys; this package is the one place
// that decodes them. A test in the root package encodes keys with the
// primitives' own functions and checks that Describe decodes every one, so
// the two cannot drift apart.
//
// Keys are read as hostile: a key that fits no layout is described as
// unknown, with its bytes escaped, and never causes a panic.
package keyref
