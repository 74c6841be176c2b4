// Package codec is the seam every persisted payload passes through exactly
// once: WAL record bodies and snapshot section bodies. Framing (lengths,
// checksums) stays outside the codec, and checksums cover the encoded bytes,
// so a damaged payload is detected before it is decoded.
//
// A codec is identified by a stable ID recorded in the MANIFEST and in every
// snapshot header; opening a database with a codec of another ID fails with
// CodecMismatch.
//
// # Contract
//
// Decode(Encode(p)) == p for every payload p. Decode sees bytes whose
// checksum matched, but a codec must still treat them as hostile: a checksum
// protects against damage, not against a file crafted to match it. So Decode
// fails with an error (never panics), bounds its output by maxOut (failing
// with ErrTooLarge rather than allocating past it), and returns memory that
// does not alias src: callers reuse their read buffers while the decoded
// values stay alive.
//
// Identity, the default, stores payloads unchanged.
package codec
