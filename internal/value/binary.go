package value

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// The binary encoding is canonical: one Value has exactly one encoding
// (object keys are written in ascending order), so it serves both storage (WAL
// records, snapshots) and hashing (event chains).
//
//	Null     0x00
//	false    0x01
//	true     0x02
//	Int      0x03 zigzag uvarint
//	Float    0x04 8 bytes, IEEE-754 bits, little-endian
//	String   0x05 uvarint length, UTF-8 bytes
//	Bytes    0x06 uvarint length, bytes
//	Array    0x07 uvarint count, count values
//	Object   0x08 uvarint count, count × (uvarint key length, key, value),
//	              keys strictly ascending
const (
	tagNull   = 0x00
	tagFalse  = 0x01
	tagTrue   = 0x02
	tagInt    = 0x03
	tagFloat  = 0x04
	tagString = 0x05
	tagBytes  = 0x06
	tagArray  = 0x07
	tagObject = 0x08
)

// MaxDecodeDepth bounds the nesting the decoder accepts whatever the caller
// asks for, so a crafted input cannot exhaust the stack.
const MaxDecodeDepth = 1024

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed value encoding")

// AppendBinary appends the canonical encoding of v to dst.
func AppendBinary(dst []byte, v Value) []byte {
	switch v.kind {
	case KindNull:
		return append(dst, tagNull)
	case KindBool:
		if v.bits == 1 {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case KindInt:
		dst = append(dst, tagInt)
		return binary.AppendUvarint(dst, zigzag(int64(v.bits)))
	case KindFloat:
		dst = append(dst, tagFloat)
		return binary.LittleEndian.AppendUint64(dst, v.bits)
	case KindString, KindBytes:
		tag := byte(tagString)
		if v.kind == KindBytes {
			tag = tagBytes
		}
		dst = append(dst, tag)
		dst = binary.AppendUvarint(dst, uint64(len(v.str)))
		return append(dst, v.str...)
	case KindArray:
		dst = append(dst, tagArray)
		dst = binary.AppendUvarint(dst, uint64(len(v.comp.vals)))
		for _, c := range v.comp.vals {
			dst = AppendBinary(dst, c)
		}
		return dst
	case KindObject:
		dst = append(dst, tagObject)
		dst = binary.AppendUvarint(dst, uint64(len(v.comp.keys)))
		for i, k := range v.comp.keys {
			dst = binary.AppendUvarint(dst, uint64(len(k)))
			dst = append(dst, k...)
			dst = AppendBinary(dst, v.comp.vals[i])
		}
		return dst
	}
	panic("value: invalid kind") // unreachable: kinds are closed
}

// EncodedSize returns len(AppendBinary(nil, v)) without encoding.
func (v Value) EncodedSize() int {
	switch v.kind {
	case KindNull, KindBool:
		return 1
	case KindInt:
		return 1 + uvarintLen(zigzag(int64(v.bits)))
	case KindFloat:
		return 9
	case KindString, KindBytes:
		return 1 + uvarintLen(uint64(len(v.str))) + len(v.str)
	case KindArray:
		n := 1 + uvarintLen(uint64(len(v.comp.vals)))
		for _, c := range v.comp.vals {
			n += c.EncodedSize()
		}
		return n
	case KindObject:
		n := 1 + uvarintLen(uint64(len(v.comp.keys)))
		for i, k := range v.comp.keys {
			n += uvarintLen(uint64(len(k))) + len(k) + v.comp.vals[i].EncodedSize()
		}
		return n
	}
	return 0
}

// Decode decodes one Value from the front of b and returns it with the number
// of bytes consumed. It treats b as hostile: every length is checked against
// the bytes remaining before anything is allocated, nesting deeper than
// maxDepth (capped at MaxDecodeDepth) is refused, strings must be valid UTF-8
// and object keys strictly ascending. Errors wrap ErrMalformed.
func Decode(b []byte, maxDepth int) (Value, int, error) {
	return decode(b, maxDepth, false)
}

// DecodeAliasing is Decode whose strings and byte strings share memory with
// b instead of copying it — for recovery, which decodes whole files it never
// modifies and keeps (almost) every value it decodes. The caller must never
// modify b afterwards: the decoded Values would change with it.
func DecodeAliasing(b []byte, maxDepth int) (Value, int, error) {
	return decode(b, maxDepth, true)
}

func decode(b []byte, maxDepth int, alias bool) (Value, int, error) {
	if maxDepth <= 0 || maxDepth > MaxDecodeDepth {
		maxDepth = MaxDecodeDepth
	}
	d := decoder{buf: b, maxDepth: maxDepth, alias: alias}
	v, err := d.value(0)
	if err != nil {
		return Value{}, 0, err
	}
	return v, d.off, nil
}

// DecodeAll decodes exactly one Value that must fill b.
func DecodeAll(b []byte, maxDepth int) (Value, error) {
	v, n, err := Decode(b, maxDepth)
	if err != nil {
		return Value{}, err
	}
	if n != len(b) {
		return Value{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b)-n)
	}
	return v, nil
}

type decoder struct {
	buf      []byte
	off      int
	maxDepth int
	alias    bool
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		return 0, d.fail("bad varint")
	}
	d.off += n
	return x, nil
}

// length reads a length or count and checks that at least min bytes per unit
// remain, so a crafted count cannot make the decoder allocate.
func (d *decoder) length(minPerUnit int) (int, error) {
	x, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	remaining := uint64(len(d.buf) - d.off)
	if x > remaining/uint64(minPerUnit) {
		return 0, d.fail("length %d exceeds the %d bytes remaining", x, remaining)
	}
	return int(x), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.length(1)
	if err != nil {
		return "", err
	}
	var s string
	if d.alias {
		s = AliasString(d.buf[d.off : d.off+n])
	} else {
		s = string(d.buf[d.off : d.off+n])
	}
	d.off += n
	return s, nil
}

func (d *decoder) value(depth int) (Value, error) {
	if d.off >= len(d.buf) {
		return Value{}, d.fail("unexpected end of input")
	}
	tag := d.buf[d.off]
	d.off++
	switch tag {
	case tagNull:
		return Value{}, nil
	case tagFalse:
		return Bool(false), nil
	case tagTrue:
		return Bool(true), nil
	case tagInt:
		u, err := d.uvarint()
		if err != nil {
			return Value{}, err
		}
		return Int(unzigzag(u)), nil
	case tagFloat:
		if len(d.buf)-d.off < 8 {
			return Value{}, d.fail("truncated float")
		}
		bits := binary.LittleEndian.Uint64(d.buf[d.off:])
		d.off += 8
		return Value{kind: KindFloat, bits: bits}, nil
	case tagString:
		s, err := d.str()
		if err != nil {
			return Value{}, err
		}
		if !utf8.ValidString(s) {
			return Value{}, d.fail("string is not valid UTF-8")
		}
		return String(s), nil
	case tagBytes:
		s, err := d.str()
		if err != nil {
			return Value{}, err
		}
		return BytesFromString(s), nil
	case tagArray:
		if depth >= d.maxDepth {
			return Value{}, d.fail("nesting deeper than %d", d.maxDepth)
		}
		n, err := d.length(1)
		if err != nil {
			return Value{}, err
		}
		vals := make([]Value, n)
		for i := range vals {
			if vals[i], err = d.value(depth + 1); err != nil {
				return Value{}, err
			}
		}
		return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
	case tagObject:
		if depth >= d.maxDepth {
			return Value{}, d.fail("nesting deeper than %d", d.maxDepth)
		}
		n, err := d.length(2) // each entry: at least a key length and a value tag
		if err != nil {
			return Value{}, err
		}
		keys := make([]string, n)
		vals := make([]Value, n)
		for i := range keys {
			if keys[i], err = d.str(); err != nil {
				return Value{}, err
			}
			if !utf8.ValidString(keys[i]) {
				return Value{}, d.fail("object key is not valid UTF-8")
			}
			if i > 0 && keys[i] <= keys[i-1] {
				return Value{}, d.fail("object keys not strictly ascending")
			}
			if vals[i], err = d.value(depth + 1); err != nil {
				return Value{}, err
			}
		}
		return Value{kind: KindObject, comp: &composite{vals: vals, keys: keys}}, nil
	}
	d.off--
	return Value{}, d.fail("unknown tag 0x%02x", tag)
}

func zigzag(i int64) uint64   { return uint64(i<<1) ^ uint64(i>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// FloatBits returns the IEEE bits of a Float value (for exact comparisons).
func (v Value) FloatBits() uint64 {
	if v.kind != KindFloat {
		return 0
	}
	return v.bits
}

// AliasString returns a string sharing b's memory. b must never be modified
// afterwards.
func AliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
