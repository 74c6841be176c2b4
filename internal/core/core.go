package core

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// RunID identifies an agent run: a 128-bit UUID. The all-zero RunID is the
// reserved global run, which holds the run index and database-wide system
// entries.
type RunID [16]byte

// GlobalRun is the reserved run that holds database-wide entries.
var GlobalRun RunID

// NewRunID returns a random (version 4) RunID.
func NewRunID() RunID {
	var id RunID
	if _, err := rand.Read(id[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// inside Read itself rather than returning an error).
		panic("inmem: crypto/rand failed: " + err.Error())
	}
	id[6] = (id[6] & 0x0f) | 0x40 // version 4
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id
}

// IsGlobal reports whether id is the global run.
func (id RunID) IsGlobal() bool { return id == GlobalRun }

// String returns the canonical lowercase UUID text form.
func (id RunID) String() string {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return string(buf[:])
}

// MarshalText implements encoding.TextMarshaler.
func (id RunID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *RunID) UnmarshalText(b []byte) error {
	v, err := ParseRunID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ErrBadRunID is returned by ParseRunID for text that is not a UUID.
var ErrBadRunID = errors.New("invalid run id: want a canonical UUID (8-4-4-4-12 hex digits)")

// ParseRunID parses the canonical UUID text form (either case).
func ParseRunID(s string) (RunID, error) {
	var id RunID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("%w: %q", ErrBadRunID, s)
	}
	compact := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(id[:], []byte(compact)); err != nil {
		return RunID{}, fmt.Errorf("%w: %q", ErrBadRunID, s)
	}
	return id, nil
}

// PrimitiveType names one of the seven primitives.
type PrimitiveType uint8

// The seven primitives. The numeric values are persisted (WAL writesets and
// snapshots tag every entity with its primitive) and must never change.
const (
	KV     PrimitiveType = 1
	Event  PrimitiveType = 2
	State  PrimitiveType = 3
	Trace  PrimitiveType = 4
	Run    PrimitiveType = 5
	JSON   PrimitiveType = 6
	Vector PrimitiveType = 7
	// System is the reserved namespace for database entries that are not
	// user data (retention policies and similar). It is not a primitive a
	// user addresses directly.
	System PrimitiveType = 8
)

// Primitives lists the seven user-facing primitives in tag order.
var Primitives = []PrimitiveType{KV, Event, State, Trace, Run, JSON, Vector}

// Valid reports whether p is a known primitive tag (System included).
func (p PrimitiveType) Valid() bool { return p >= KV && p <= System }

// String returns the lowercase name used in entity references.
func (p PrimitiveType) String() string {
	switch p {
	case KV:
		return "kv"
	case Event:
		return "event"
	case State:
		return "state"
	case Trace:
		return "trace"
	case Run:
		return "run"
	case JSON:
		return "json"
	case Vector:
		return "vector"
	case System:
		return "system"
	}
	return fmt.Sprintf("primitive(%d)", uint8(p))
}

// ParsePrimitiveType is the inverse of PrimitiveType.String.
func ParsePrimitiveType(s string) (PrimitiveType, bool) {
	for p := KV; p <= System; p++ {
		if p.String() == s {
			return p, true
		}
	}
	return 0, false
}
