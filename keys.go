package inmem

import (
	"encoding/binary"

	"github.com/inmemdb/inmem/internal/engine"
)

// The persistent key layouts of the primitives, one block per primitive.
// Every engine key a primitive writes or scans is built (and, where one is
// read back, decoded) by a function of its block, never inline, so a
// layout can be read — and changed — in one place. The layouts are part of
// the on-disk format: docs/FORMAT.md ("Key layouts") documents them, and
// internal/keyref decodes them for tools (keyref_internal_test.go checks
// that it reads every key these functions build).
//
// KV and JSON have no block: their engine key is the user's key or
// document id, verbatim.
//
// Common rules: the first byte of a key tags what it is; integers are
// fixed-width big-endian; text in the middle of a key is length-prefixed,
// text at its end is not. So no name, type or tag can make one kind of key
// look like another, and a scan by exact prefix sees only its own entries.

// orderedTime maps a signed timestamp to an unsigned number with the same
// order, so that byte order is numeric order (negative times sort first).
func orderedTime(at int64) uint64 { return uint64(at) ^ (1 << 63) }

// appendLenPrefixed appends a 4-byte big-endian length and s.
func appendLenPrefixed(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ---- Event (space Event of each run) ---------------------------------------
//
//	"m"            head: Bytes(48) = length u64 ‖ last timestamp i64 ‖ head hash [32]
//	"e" ‖ seq u64  event: Array[String type, payload, Bytes(80) header]
//	               header = timestamp i64 ‖ type link u64 ‖ prev_hash [32] ‖ hash [32]
//	"y" ‖ type     type head: Int(sequence of the newest event of the type)
//
// Event keys sort in sequence order. The type is the whole remainder of a
// type-head key, so type-head keys sort by type, which is what Types
// returns. The type index is a linked list per type: the type head names
// the newest event of the type, and each event's type link names the
// previous event of its type (as sequence+1; 0 ends the list). An append
// therefore creates one new key (the event) and rewrites two existing ones
// (the head and the type head). The type link is not part of the hash; it is
// derived data that VerifyChain checks as well.
const (
	evHeadKey  = "m"
	evEventTag = 'e'
	evTypeTag  = 'y'
)

func eventKey(seq uint64) string {
	var b [9]byte
	b[0] = evEventTag
	binary.BigEndian.PutUint64(b[1:], seq)
	return string(b[:])
}

// eventKeyEnd bounds every event key (the tag after evEventTag).
const eventKeyEnd = string(rune(evEventTag + 1))

// eventSeqOf decodes the sequence of an event key; ok is false for a key of
// another length (which a scan of the event range reports as corruption).
func eventSeqOf(key string) (seq uint64, ok bool) {
	if len(key) != 9 || key[0] != evEventTag {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(key[1:])), true
}

// eventTypeKey is the key of a type's type head; eventTypeKey("") is the
// prefix of them all.
func eventTypeKey(typ string) string { return string(rune(evTypeTag)) + typ }

// eventTypeOf is the type a type-head key names.
func eventTypeOf(key string) string { return key[1:] }

// ---- State (space State of each run) ---------------------------------------
//
//	"c" ‖ name   the cell: Array[Int counter, value]; Delete writes an
//	             engine tombstone here, so the cell's history shows it
//	"h" ‖ name   the high-water mark: Int(the counter the cell had when it
//	             was last deleted); written by Delete, it outlives the cell
//	             so that a later Init/Set continues the count
//
// The name is the whole rest of the key, so no separator is involved.
const (
	stCellTag = 'c'
	stHighTag = 'h'
)

func stateCellKey(name string) string { return string(rune(stCellTag)) + name }
func stateHighKey(name string) string { return string(rune(stHighTag)) + name }

// stateCellName is the cell a cell key names.
func stateCellName(key string) string { return key[1:] }

// ---- Trace (space Trace of each run) ---------------------------------------
//
//	"c"                                  → Int: the last assigned TraceID (Put)
//	"t" id:8                             → the trace record (Append)
//	"i" at:8 id:8                        → Null: time index (Append)
//	"y" len:4 type at:8 id:8             → Null: type index (Append)
//	"g" len:4 tag at:8 id:8              → Null: tag index, one per tag (Append)
//	"p" parent:8 at:8 id:8               → Null: parent index, parent 0 for roots (Append)
//
// at is RecordedAt in microseconds through orderedTime; id and parent are
// uint64. Index keys end in (at, id), so a prefix scan yields (RecordedAt,
// ID) order.
const (
	traceKeyCounter = "c"
	tracePfxRecord  = 't'
	tracePfxTime    = 'i'
	tracePfxType    = 'y'
	tracePfxTag     = 'g'
	tracePfxParent  = 'p'

	// traceTimeIndex is the prefix of the whole time index.
	traceTimeIndex = string(rune(tracePfxTime))
)

func traceRecordKey(id TraceID) string {
	var b [9]byte
	b[0] = tracePfxRecord
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return string(b[:])
}

// traceRecordID decodes the id of a trace record key (zero for a key of
// another length).
func traceRecordID(key string) TraceID {
	if len(key) != 9 {
		return 0
	}
	return TraceID(binary.BigEndian.Uint64([]byte(key[1:])))
}

func traceTimePrefix(at int64) string {
	b := make([]byte, 0, 9)
	b = append(b, tracePfxTime)
	return string(binary.BigEndian.AppendUint64(b, orderedTime(at)))
}

func traceTypePrefix(t TraceType) string {
	return string(appendLenPrefixed(append(make([]byte, 0, 5+len(t)), tracePfxType), string(t)))
}

func traceTagPrefix(tag string) string {
	return string(appendLenPrefixed(append(make([]byte, 0, 5+len(tag)), tracePfxTag), tag))
}

func traceParentPrefix(parent TraceID) string {
	b := make([]byte, 0, 9)
	b = append(b, tracePfxParent)
	return string(binary.BigEndian.AppendUint64(b, uint64(parent)))
}

// traceIndexKey appends (at, id) to an index prefix.
func traceIndexKey(prefix string, at int64, id TraceID) string {
	b := make([]byte, 0, len(prefix)+16)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, orderedTime(at))
	return string(binary.BigEndian.AppendUint64(b, uint64(id)))
}

// traceIndexID returns the TraceID at the end of an index key.
func traceIndexID(key string) TraceID {
	if len(key) < 17 {
		return 0
	}
	return TraceID(binary.BigEndian.Uint64([]byte(key[len(key)-8:])))
}

// traceIndexKeys returns every index key of a trace (the record key and the
// counter excluded). Anything that removes a trace record (retention) must
// remove these with it.
func traceIndexKeys(t *Trace) []string {
	keys := make([]string, 0, 3+len(t.Tags))
	buf := make([]byte, 0, 64)
	// key builds prefix byte, optional length-prefixed text, optional
	// 8-byte number, then (at, id), and converts it with one allocation.
	key := func(pfx byte, text string, withText bool, num uint64, withNum bool) string {
		b := append(buf[:0], pfx)
		if withText {
			b = appendLenPrefixed(b, text)
		}
		if withNum {
			b = binary.BigEndian.AppendUint64(b, num)
		}
		b = binary.BigEndian.AppendUint64(b, orderedTime(int64(t.RecordedAt)))
		b = binary.BigEndian.AppendUint64(b, uint64(t.ID))
		buf = b
		return string(b)
	}
	keys = append(keys,
		key(tracePfxTime, "", false, 0, false),
		key(tracePfxType, string(t.Type), true, 0, false),
		key(tracePfxParent, "", false, uint64(t.Parent), true))
	for _, tag := range t.Tags {
		keys = append(keys, key(tracePfxTag, tag, true, 0, false))
	}
	return keys
}

// ---- Run (space Run of the global run) -------------------------------------
//
//	"r" id:16                         → the run record (runKey, also read by Tx.checkWrite)
//	"n" name                          → Bytes(id): the name index (the name is the rest of the key)
//	"c" created:8 id:16               → Null: creation-order index (List, Count)
//	"s" len:1 status created:8 id:16  → Null: status index
//	"g" len:4 tag created:8 id:16     → Null: tag index, one per tag
//	"p" parent:16 created:8 id:16     → Null: children index
//	"k" parent:16                     → Int: number of registered children
//
// created is CreatedAt in microseconds through orderedTime, so index scans
// yield (CreatedAt, ID) order. Index entries are Put when they appear and
// deleted (tombstoned) when they no longer apply.
const (
	runPfxName     = 'n'
	runPfxCreated  = 'c'
	runPfxStatus   = 's'
	runPfxTag      = 'g'
	runPfxParent   = 'p'
	runPfxChildren = 'k'

	// runCreatedIndex is the prefix of the whole creation-order index.
	runCreatedIndex = string(rune(runPfxCreated))
)

// runKey is the key of a run's record. The engine owns this layout: every
// write into a run reads the record (see engine.RunRecordKey), so it must
// find it without the root package.
func runKey(run RunID) string { return engine.RunRecordKey(run) }

func runNameKey(name string) string { return string(runPfxName) + name }

func runChildrenKey(parent RunID) string { return string(runPfxChildren) + string(parent[:]) }

func runStatusPrefix(s RunStatus) string {
	return string(append([]byte{runPfxStatus, byte(len(s))}, s...))
}

func runTagPrefix(tag string) string {
	return string(appendLenPrefixed(append(make([]byte, 0, 5+len(tag)), runPfxTag), tag))
}

func runParentPrefix(parent RunID) string { return string(runPfxParent) + string(parent[:]) }

// runIndexKey appends (created, id) to an index prefix.
func runIndexKey(prefix string, created Timestamp, id RunID) string {
	b := make([]byte, 0, len(prefix)+24)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, orderedTime(int64(created)))
	return string(append(b, id[:]...))
}

// runIndexID returns the RunID at the end of an index key.
func runIndexID(key string) RunID {
	var id RunID
	if len(key) >= 25 {
		copy(id[:], key[len(key)-16:])
	}
	return id
}

// runIndexKeys returns the index keys of a run record (the name index and
// children count excluded).
func runIndexKeys(info *RunInfo) []string {
	keys := make([]string, 0, 3+len(info.Tags))
	keys = append(keys,
		runIndexKey(runCreatedIndex, info.CreatedAt, info.ID),
		runIndexKey(runStatusPrefix(info.Status), info.CreatedAt, info.ID))
	if info.Parent != nil {
		keys = append(keys, runIndexKey(runParentPrefix(*info.Parent), info.CreatedAt, info.ID))
	}
	for _, tag := range info.Tags {
		keys = append(keys, runIndexKey(runTagPrefix(tag), info.CreatedAt, info.ID))
	}
	return keys
}

// ---- Vector (space Vector of each run) -------------------------------------
//
//	"c" name                           collection config: {"dim": Int, "metric": String}
//	"v" uvarint(len(name)) name key    a vector: {"e": Bytes (float32 little-endian), "m": metadata}
//
// The length prefix keeps a collection's vectors under one prefix that no
// other collection's can extend.
const (
	vecCollTag   = 'c'
	vecVectorTag = 'v'
)

// collectionKey is the key of a collection's config; collectionKey("") is
// the prefix of them all.
func collectionKey(name string) string { return string(rune(vecCollTag)) + name }

func vectorPrefix(name string) string {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(len(name)))
	return string(rune(vecVectorTag)) + string(b[:n]) + name
}

func vectorKey(name, key string) string { return vectorPrefix(name) + key }

// parseVectorKey splits an engine key of space Vector; config reports a
// collection config key.
func parseVectorKey(k string) (name, key string, config, ok bool) {
	if k == "" {
		return "", "", false, false
	}
	switch k[0] {
	case vecCollTag:
		return k[1:], "", true, true
	case vecVectorTag:
		n, w := binary.Uvarint([]byte(k[1:min(len(k), 1+binary.MaxVarintLen64)]))
		if w <= 0 || n > uint64(len(k)-1-w) {
			return "", "", false, false
		}
		start := 1 + w
		return k[start : start+int(n)], k[start+int(n):], false, true
	}
	return "", "", false, false
}

// ---- System (space System of each run) -------------------------------------
//
//	"_system/retention"   String: the run's retention policy; the global
//	                      run's is the database-wide default
//
// System keys are readable names under reservedPrefix: they are few and
// tools print them as they are.
const retentionKey = reservedPrefix + "retention"
