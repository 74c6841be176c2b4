package keyref

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/inmemdb/inmem/internal/core"
)

// Kinds of engine keys.
const (
	KindKV              = "kv"
	KindEvent           = "event"
	KindEventHead       = "event.head"      // a run's log head (length, last hash)
	KindEventTypeHead   = "event.type_head" // the newest event of one type
	KindState           = "state"
	KindStateHighWater  = "state.high_water" // a deleted cell's counter
	KindTrace           = "trace"
	KindTraceCounter    = "trace.counter" // a run's trace id allocator
	KindTraceTimeIndex  = "trace.index.time"
	KindTraceTypeIndex  = "trace.index.type"
	KindTraceTagIndex   = "trace.index.tag"
	KindTraceParent     = "trace.index.parent"
	KindRun             = "run"
	KindRunNameIndex    = "run.index.name"
	KindRunCreatedIndex = "run.index.created"
	KindRunStatusIndex  = "run.index.status"
	KindRunTagIndex     = "run.index.tag"
	KindRunParentIndex  = "run.index.parent"
	KindRunChildren     = "run.children" // a parent's number of children
	KindJSON            = "json"
	KindCollection      = "vector.collection"
	KindVector          = "vector"
	KindSystem          = "system"
	KindUnknown         = "unknown"
)

// Entity describes one engine key.
type Entity struct {
	// Kind says what the key holds: an entity of a primitive (the
	// primitive's name) or one of the records kept beside them.
	Kind string
	// Ref is the entity the key belongs to: the entity itself, or the one
	// an index entry points at. It is nil when the key names none (a log
	// head, a counter, a run name index entry, an unknown key).
	Ref *core.EntityRef
	// Detail is what the key says beyond Ref ("type \"tool_call\"", ...).
	Detail string
	// Space and Run locate the key.
	Space core.PrimitiveType
	Run   core.RunID
}

// String is the readable form: the entity reference, then the kind and
// detail of a key that is not the entity itself.
func (e Entity) String() string {
	var b strings.Builder
	if e.Ref != nil {
		b.WriteString(e.Ref.String())
	} else {
		b.WriteString(e.Space.String())
		b.WriteString("://")
		b.WriteString(e.Run.String())
	}
	if e.Ref == nil || e.Kind != e.Ref.Primitive.String() {
		b.WriteString(" [")
		b.WriteString(e.Kind)
		if e.Detail != "" {
			b.WriteByte(' ')
			b.WriteString(e.Detail)
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Describe decodes the engine key key of space in run.
func Describe(run core.RunID, space core.PrimitiveType, key string) Entity {
	e := Entity{Space: space, Run: run}
	ref := func(p core.PrimitiveType, r core.RunID, k, sub string) *core.EntityRef {
		return &core.EntityRef{Primitive: p, Run: r, Key: k, Sub: sub}
	}
	switch space {
	case core.KV:
		e.Kind, e.Ref = KindKV, ref(core.KV, run, key, "")
		return e
	case core.JSON:
		e.Kind, e.Ref = KindJSON, ref(core.JSON, run, key, "")
		return e
	case core.System:
		e.Kind, e.Detail = KindSystem, strconv.Quote(key)
		return e
	case core.Event:
		switch {
		case key == "m":
			e.Kind = KindEventHead
			return e
		case len(key) == 9 && key[0] == 'e':
			e.Kind = KindEvent
			e.Ref = ref(core.Event, run, strconv.FormatUint(be64(key[1:]), 10), "")
			return e
		case len(key) > 1 && key[0] == 'y':
			e.Kind, e.Detail = KindEventTypeHead, "type "+strconv.Quote(key[1:])
			return e
		}
	case core.State:
		if len(key) > 1 {
			switch key[0] {
			case 'c':
				e.Kind, e.Ref = KindState, ref(core.State, run, key[1:], "")
				return e
			case 'h':
				e.Kind, e.Ref = KindStateHighWater, ref(core.State, run, key[1:], "")
				return e
			}
		}
	case core.Trace:
		if d, ok := describeTrace(run, key); ok {
			d.Space, d.Run = space, run
			return d
		}
	case core.Run:
		if d, ok := describeRun(key); ok {
			d.Space, d.Run = space, run
			return d
		}
	case core.Vector:
		if len(key) > 0 && key[0] == 'c' {
			e.Kind, e.Ref = KindCollection, ref(core.Vector, run, key[1:], "")
			return e
		}
		if len(key) > 1 && key[0] == 'v' {
			n, w := binary.Uvarint([]byte(key[1:min(len(key), 1+binary.MaxVarintLen64)]))
			if w > 0 && n <= uint64(len(key)-1-w) {
				start := 1 + w
				name, sub := key[start:start+int(n)], key[start+int(n):]
				e.Kind, e.Ref = KindVector, ref(core.Vector, run, name, sub)
				return e
			}
		}
	}
	e.Kind, e.Detail = KindUnknown, "key "+Escape(key)
	return e
}

// describeTrace decodes a key of space Trace:
//
//	"c"                             the id allocator
//	"t" id:8                        a trace
//	"i" at:8 id:8                   time index
//	"y" len:4 type at:8 id:8        type index
//	"g" len:4 tag at:8 id:8         tag index
//	"p" parent:8 at:8 id:8          parent index
func describeTrace(run core.RunID, key string) (Entity, bool) {
	var e Entity
	if key == "c" {
		e.Kind = KindTraceCounter
		return e, true
	}
	if len(key) == 0 {
		return e, false
	}
	trace := func(id uint64) *core.EntityRef {
		return &core.EntityRef{Primitive: core.Trace, Run: run, Key: strconv.FormatUint(id, 10)}
	}
	rest := key[1:]
	switch key[0] {
	case 't':
		if len(rest) != 8 {
			return e, false
		}
		e.Kind, e.Ref = KindTrace, trace(be64(rest))
		return e, true
	case 'i':
		if len(rest) != 16 {
			return e, false
		}
		e.Kind, e.Ref, e.Detail = KindTraceTimeIndex, trace(be64(rest[8:])), "at "+orderedTimeText(rest[:8])
		return e, true
	case 'y', 'g':
		text, tail, ok := lenPrefixed(rest)
		if !ok || len(tail) != 16 {
			return e, false
		}
		e.Kind, e.Detail = KindTraceTypeIndex, "type "+strconv.Quote(text)
		if key[0] == 'g' {
			e.Kind, e.Detail = KindTraceTagIndex, "tag "+strconv.Quote(text)
		}
		e.Ref = trace(be64(tail[8:]))
		e.Detail += " at " + orderedTimeText(tail[:8])
		return e, true
	case 'p':
		if len(rest) != 24 {
			return e, false
		}
		e.Kind, e.Ref = KindTraceParent, trace(be64(rest[16:]))
		e.Detail = fmt.Sprintf("parent %d at %s", be64(rest[:8]), orderedTimeText(rest[8:16]))
		return e, true
	}
	return e, false
}

// describeRun decodes a key of space Run (in the global run):
//
//	"r" id:16                            a run's record
//	"n" name                             name index
//	"c" created:8 id:16                  creation-order index
//	"s" len:1 status created:8 id:16     status index
//	"g" len:4 tag created:8 id:16        tag index
//	"p" parent:16 created:8 id:16        children index
//	"k" parent:16                        number of children
func describeRun(key string) (Entity, bool) {
	var e Entity
	if len(key) == 0 {
		return e, false
	}
	runRef := func(b string) *core.EntityRef {
		var id core.RunID
		copy(id[:], b)
		return &core.EntityRef{Primitive: core.Run, Run: id}
	}
	rest := key[1:]
	switch key[0] {
	case 'r':
		if len(rest) != 16 {
			return e, false
		}
		e.Kind, e.Ref = KindRun, runRef(rest)
		return e, true
	case 'n':
		e.Kind, e.Detail = KindRunNameIndex, "name "+strconv.Quote(rest)
		return e, true
	case 'c':
		if len(rest) != 24 {
			return e, false
		}
		e.Kind, e.Ref, e.Detail = KindRunCreatedIndex, runRef(rest[8:]), "created "+orderedTimeText(rest[:8])
		return e, true
	case 's':
		if len(rest) < 1 || len(rest) != 1+int(rest[0])+24 {
			return e, false
		}
		status, tail := rest[1:1+int(rest[0])], rest[1+int(rest[0]):]
		e.Kind, e.Ref = KindRunStatusIndex, runRef(tail[8:])
		e.Detail = "status " + strconv.Quote(status) + " created " + orderedTimeText(tail[:8])
		return e, true
	case 'g':
		tag, tail, ok := lenPrefixed(rest)
		if !ok || len(tail) != 24 {
			return e, false
		}
		e.Kind, e.Ref = KindRunTagIndex, runRef(tail[8:])
		e.Detail = "tag " + strconv.Quote(tag) + " created " + orderedTimeText(tail[:8])
		return e, true
	case 'p':
		if len(rest) != 40 {
			return e, false
		}
		var parent core.RunID
		copy(parent[:], rest[:16])
		e.Kind, e.Ref = KindRunParentIndex, runRef(rest[24:])
		e.Detail = "parent " + parent.String() + " created " + orderedTimeText(rest[16:24])
		return e, true
	case 'k':
		if len(rest) != 16 {
			return e, false
		}
		e.Kind, e.Ref = KindRunChildren, runRef(rest)
		return e, true
	}
	return e, false
}

func be64(s string) uint64 { return binary.BigEndian.Uint64([]byte(s)) }

// lenPrefixed splits a 4-byte big-endian length and that many bytes off s.
func lenPrefixed(s string) (text, rest string, ok bool) {
	if len(s) < 4 {
		return "", "", false
	}
	n := uint64(binary.BigEndian.Uint32([]byte(s[:4])))
	if n > uint64(len(s)-4) {
		return "", "", false
	}
	return s[4 : 4+n], s[4+n:], true
}

// orderedTimeText renders an 8-byte timestamp stored with its sign bit
// flipped (so that byte order is time order), in microseconds.
func orderedTimeText(s string) string {
	us := int64(be64(s) ^ (1 << 63))
	return time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
}

// Escape renders a raw key losslessly and readably: printable ASCII as is,
// every other byte (and the backslash) as \xNN.
func Escape(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 0x20 && c < 0x7f && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}
