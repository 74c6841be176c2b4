package inmem

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/vfs"
)

// Durability decides when a commit returns (see DURABILITY.md).
type Durability uint8

const (
	// Strict: a commit returns only after its WAL record, and every earlier
	// one, is fsynced. Concurrent committers share fsyncs (group commit).
	// No reader sees a commit before it is durable. The default.
	Strict Durability = iota
	// Buffered: a commit returns once its record is written to the WAL file
	// (the OS page cache); a background flusher fsyncs every
	// BufferedFlushInterval or BufferedFlushBytes, and on Flush, Checkpoint
	// and Close. A process kill loses nothing acknowledged; a power cut
	// loses at most the unsynced suffix of the commit order.
	Buffered
	// InMemory: nothing is written; nothing survives the process.
	InMemory
)

func (d Durability) String() string {
	switch d {
	case Strict:
		return "strict"
	case Buffered:
		return "buffered"
	case InMemory:
		return "inmemory"
	}
	return fmt.Sprintf("Durability(%d)", uint8(d))
}

// ParseDurability parses "strict", "buffered" or "inmemory".
func ParseDurability(s string) (Durability, error) {
	for _, d := range []Durability{Strict, Buffered, InMemory} {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, errorf(CodeInvalidArgument, "ParseDurability", "unknown durability %q (want strict, buffered or inmemory)", s)
}

// Codec transforms every persisted payload exactly once (WAL record bodies,
// snapshot sections). Its ID is recorded in the MANIFEST; reopening with a
// codec of another ID fails with CodecMismatch.
type Codec interface {
	// ID names the codec persistently (at most 64 bytes of printable ASCII).
	ID() string
	// Encode appends the encoded form of src to dst and returns it.
	Encode(dst, src []byte) ([]byte, error)
	// Decode appends the decoded form of src to dst and returns it. It must
	// treat src as hostile: fail, never panic, and never allocate more than
	// a small multiple of len(src) plus maxOut. The result must not alias
	// src (the snapshot reader reuses src while decoded values live on).
	Decode(dst, src []byte, maxOut int) ([]byte, error)
}

// IdentityCodec stores payloads unchanged (the default).
type IdentityCodec struct{}

// ID returns "identity".
func (IdentityCodec) ID() string { return codec.Identity{}.ID() }

// Encode appends src to dst unchanged.
func (IdentityCodec) Encode(dst, src []byte) ([]byte, error) {
	return codec.Identity{}.Encode(dst, src)
}

// Decode appends src to dst unchanged; a src longer than maxOut is an error.
func (IdentityCodec) Decode(dst, src []byte, maxOut int) ([]byte, error) {
	return codec.Identity{}.Decode(dst, src, maxOut)
}

// Clock tells the time; inject one in tests and to drive retention.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Limits bound what a single write may contain. Violations are typed errors
// (InvalidKey, InvalidArgument), never partial writes.
type Limits struct {
	// MaxKeyBytes bounds keys and names (default 1024).
	MaxKeyBytes int
	// MaxValueBytes bounds the encoded size of one value (default 16 MiB).
	MaxValueBytes int
	// MaxNesting bounds the nesting depth of a value (default 128).
	MaxNesting int
	// MaxVectorDim bounds the dimension of a vector collection (default 8192).
	MaxVectorDim int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: 1024, MaxValueBytes: 16 << 20, MaxNesting: 128, MaxVectorDim: 8192}
}

// Options configure a database. A nil *Options means DefaultOptions().
// Zero fields take their defaults.
type Options struct {
	// Durability of commits (default Strict). A database without a
	// directory is always InMemory.
	Durability Durability
	// BufferedFlushInterval is how often Buffered mode fsyncs (default
	// 100ms).
	BufferedFlushInterval time.Duration
	// BufferedFlushBytes makes Buffered mode fsync once this many bytes are
	// unsynced (default 4 MiB).
	BufferedFlushBytes int64
	// WALSegmentSize is the size at which the WAL rotates to a new segment
	// (default 64 MiB; at least 1 KiB).
	WALSegmentSize int64
	// Codec for persisted payloads (default IdentityCodec).
	Codec Codec
	// Logger receives recovery and maintenance messages (default silent).
	Logger *slog.Logger
	// Clock supplies commit timestamps (default the system clock).
	Clock Clock
	// FS is the file-system seam (default the operating system).
	FS vfs.FS
	// MaxConflictRetries is how many times Update re-runs its closure after
	// a Conflict (default 32; negative means never retry).
	MaxConflictRetries int
	// Limits on keys and values (zero fields take the defaults).
	Limits Limits
	// ReadOnly opens an existing directory for inspection, also while a
	// writer in another process holds it: it takes no lock and creates,
	// changes or removes no file. Recovery reads the MANIFEST, the snapshot
	// and the WAL up to the last complete record (a torn tail is ignored,
	// not cut), starting over if a checkpoint or compaction changes the
	// directory meanwhile (Conflict once that keeps happening). A missing
	// directory is NotFound. Every write fails with InvalidArgument;
	// DB.Refresh reads the writer's later commits.
	ReadOnly bool
}

// DefaultOptions returns the defaults.
func DefaultOptions() *Options {
	o := &Options{}
	o.fill()
	return o
}

const minSegmentSize = 1 << 10

func (o *Options) fill() {
	if o.BufferedFlushInterval == 0 {
		o.BufferedFlushInterval = 100 * time.Millisecond
	}
	if o.BufferedFlushBytes == 0 {
		o.BufferedFlushBytes = 4 << 20
	}
	if o.WALSegmentSize == 0 {
		o.WALSegmentSize = 64 << 20
	}
	if o.Codec == nil {
		o.Codec = codec.Identity{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.FS == nil {
		o.FS = vfs.OS()
	}
	if o.MaxConflictRetries == 0 {
		o.MaxConflictRetries = 32
	}
	d := DefaultLimits()
	if o.Limits.MaxKeyBytes == 0 {
		o.Limits.MaxKeyBytes = d.MaxKeyBytes
	}
	if o.Limits.MaxValueBytes == 0 {
		o.Limits.MaxValueBytes = d.MaxValueBytes
	}
	if o.Limits.MaxNesting == 0 {
		o.Limits.MaxNesting = d.MaxNesting
	}
	if o.Limits.MaxVectorDim == 0 {
		o.Limits.MaxVectorDim = d.MaxVectorDim
	}
}

// Validate reports the first invalid setting as an InvalidArgument error.
// Zero fields are valid (they take defaults).
func (o *Options) Validate() error {
	bad := func(format string, args ...any) error {
		return errorf(CodeInvalidArgument, "Options.Validate", format, args...)
	}
	switch {
	case o.Durability > InMemory:
		return bad("unknown durability %d", o.Durability)
	case o.BufferedFlushInterval < 0:
		return bad("BufferedFlushInterval %v is negative", o.BufferedFlushInterval)
	case o.BufferedFlushBytes < 0:
		return bad("BufferedFlushBytes %d is negative", o.BufferedFlushBytes)
	case o.WALSegmentSize != 0 && o.WALSegmentSize < minSegmentSize:
		return bad("WALSegmentSize %d is below the minimum %d", o.WALSegmentSize, minSegmentSize)
	case o.WALSegmentSize > 1<<40:
		return bad("WALSegmentSize %d is above the maximum 1 TiB", o.WALSegmentSize)
	case o.Codec != nil && !codec.ValidID(o.Codec.ID()):
		return bad("codec ID %q must be 1-64 printable ASCII characters", o.Codec.ID())
	case o.Limits.MaxKeyBytes < 0 || o.Limits.MaxValueBytes < 0 || o.Limits.MaxNesting < 0 || o.Limits.MaxVectorDim < 0:
		return bad("limits must not be negative")
	case o.Limits.MaxNesting > 1000:
		return bad("MaxNesting %d is above the maximum 1000", o.Limits.MaxNesting)
	case o.Limits.MaxValueBytes > 1<<30:
		return bad("MaxValueBytes %d is above the maximum 1 GiB", o.Limits.MaxValueBytes)
	}
	return nil
}
