package codec

import "errors"

// Codec transforms payload bytes on their way to and from disk.
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

// Identity is the default codec: payloads are stored as they are.
type Identity struct{}

// IdentityID is the ID of the identity codec.
const IdentityID = "identity"

func (Identity) ID() string { return IdentityID }

func (Identity) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

func (Identity) Decode(dst, src []byte, maxOut int) ([]byte, error) {
	if len(src) > maxOut {
		return nil, ErrTooLarge
	}
	return append(dst, src...), nil
}

// ErrTooLarge is returned when a decoded payload would exceed its bound.
var ErrTooLarge = errors.New("codec: decoded payload exceeds its bound")

// ValidID reports whether id is acceptable as a codec ID.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
