package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// VersionKind tells what a Version counts.
type VersionKind uint8

const (
	// TxnVersion is a global commit version: every commit gets the next one.
	TxnVersion VersionKind = 1
	// SequenceVersion is a position in a run's event log (from 0).
	SequenceVersion VersionKind = 2
	// CounterVersion is a state cell's per-cell counter (from 1).
	CounterVersion VersionKind = 3
)

func (k VersionKind) String() string {
	switch k {
	case TxnVersion:
		return "txn"
	case SequenceVersion:
		return "seq"
	case CounterVersion:
		return "counter"
	}
	return "invalid"
}

// Version is a tagged number. Versions of different kinds are not ordered
// against each other: Compare reports an error for them.
type Version struct {
	Kind VersionKind
	N    uint64
}

// Txn returns a global commit version.
func Txn(n uint64) Version { return Version{Kind: TxnVersion, N: n} }

// Sequence returns an event-log position.
func Sequence(n uint64) Version { return Version{Kind: SequenceVersion, N: n} }

// Counter returns a state-cell counter.
func Counter(n uint64) Version { return Version{Kind: CounterVersion, N: n} }

// IsZero reports whether v is the zero Version (no kind).
func (v Version) IsZero() bool { return v.Kind == 0 && v.N == 0 }

// ErrVersionKindMismatch is returned when comparing versions of different kinds.
var ErrVersionKindMismatch = errors.New("versions of different kinds cannot be compared")

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
// It returns an error when the kinds differ.
func (v Version) Compare(w Version) (int, error) {
	if v.Kind != w.Kind {
		return 0, fmt.Errorf("%w: %s and %s", ErrVersionKindMismatch, v, w)
	}
	switch {
	case v.N < w.N:
		return -1, nil
	case v.N > w.N:
		return 1, nil
	}
	return 0, nil
}

// String renders the version as kind:number, e.g. "txn:42", and the zero
// Version (no version at all) as "none".
func (v Version) String() string {
	if v.IsZero() {
		return "none"
	}
	return v.Kind.String() + ":" + strconv.FormatUint(v.N, 10)
}

// ParseVersion parses the String form.
func ParseVersion(s string) (Version, error) {
	if s == "none" {
		return Version{}, nil
	}
	kind, num, ok := strings.Cut(s, ":")
	if !ok {
		return Version{}, fmt.Errorf("invalid version %q: want kind:number", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return Version{}, fmt.Errorf("invalid version %q: %v", s, err)
	}
	for _, k := range []VersionKind{TxnVersion, SequenceVersion, CounterVersion} {
		if k.String() == kind {
			return Version{Kind: k, N: n}, nil
		}
	}
	return Version{}, fmt.Errorf("invalid version kind %q", kind)
}
