package benchkit

import "fmt"

// Mode is the durability a workload asks of an engine.
type Mode uint8

const (
	// Durable: a commit returns only once it would survive a power cut
	// (fsync or fdatasync before acknowledging).
	Durable Mode = iota
	// Buffered: a commit returns once handed to the operating system;
	// nothing is fsynced on the commit path.
	Buffered
	// Memory: nothing is written to disk.
	Memory
)

func (m Mode) String() string {
	switch m {
	case Durable:
		return "durable"
	case Buffered:
		return "buffered"
	case Memory:
		return "memory"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Engine is one store under test. The runner calls Open on an empty
// directory of its own (memory-only engines may ignore it), then Put,
// PutBatch and Get from many goroutines at once, then Count and Close.
// An Engine must accept Open again on the same directory after Close: the
// recovery workload measures exactly that reopen.
type Engine interface {
	Open(dir string, mode Mode) error
	// Put commits one key in its own transaction.
	Put(key, value []byte) error
	// PutBatch commits all pairs in one transaction.
	PutBatch(keys, values [][]byte) error
	// Get appends the value of key to dst; found is false for a missing key.
	Get(key, dst []byte) (v []byte, found bool, err error)
	// Count returns the number of live keys, read back from the store.
	Count() (int, error)
	Close() error
}

// FsyncCounter is implemented by engines that can tell how many fsyncs
// they issued since Open; the report then shows commits per fsync.
type FsyncCounter interface {
	Fsyncs() uint64
}

// Kind places an engine in the table.
type Kind uint8

const (
	// KindSubject is in-mem itself.
	KindSubject Kind = iota
	// KindPeer is a store a user might pick instead.
	KindPeer
	// KindBaseline is a floor no store can beat (a raw file, a Go map).
	KindBaseline
)

func (k Kind) String() string {
	switch k {
	case KindSubject:
		return "subject"
	case KindPeer:
		return "peer"
	case KindBaseline:
		return "baseline"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Spec describes an engine: its name, kind, and the label it carries in
// each mode it supports (e.g. Pebble's Durable is "Sync").
type Spec struct {
	Name  string
	Kind  Kind
	Modes map[Mode]string
	New   func() Engine
	// NoRecovery leaves the engine out of the recovery workload (a second
	// baseline over the same file format, for instance).
	NoRecovery bool
}

// Label returns the name the engine shows in mode m.
func (s Spec) Label(m Mode) string {
	if l := s.Modes[m]; l != "" {
		return s.Name + " " + l
	}
	return s.Name
}

// Supports reports whether the engine offers mode m.
func (s Spec) Supports(m Mode) bool {
	_, ok := s.Modes[m]
	return ok
}
