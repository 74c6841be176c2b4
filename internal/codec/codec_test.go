package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestIdentityRoundTrip(t *testing.T) {
	var c Codec = Identity{}
	for _, p := range [][]byte{nil, {}, {0}, []byte("hello"), bytes.Repeat([]byte{0xff, 0}, 5000)} {
		enc, err := c.Encode([]byte("prefix"), p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(enc, []byte("prefix")) {
			t.Fatalf("Encode dropped dst: %q", enc)
		}
		dec, err := c.Decode([]byte("pre"), enc[len("prefix"):], len(p))
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("pre"), p...); !bytes.Equal(dec, want) {
			t.Fatalf("Decode = %q, want %q", dec, want)
		}
	}
}

func TestIdentityDecodeBound(t *testing.T) {
	src := []byte("12345")
	if _, err := (Identity{}).Decode(nil, src, 5); err != nil {
		t.Fatalf("Decode at the bound: %v", err)
	}
	out, err := (Identity{}).Decode(nil, src, 4)
	if !errors.Is(err, ErrTooLarge) || out != nil {
		t.Fatalf("Decode past the bound = %q, %v; want nil, ErrTooLarge", out, err)
	}
}

// The snapshot reader decodes each section into a fresh buffer and reuses
// the buffer it read the section into; decoded values must survive that.
func TestIdentityDecodeDoesNotAlias(t *testing.T) {
	src := []byte("payload")
	out, err := (Identity{}).Decode(nil, src, len(src))
	if err != nil {
		t.Fatal(err)
	}
	for i := range src {
		src[i] = 'x'
	}
	if string(out) != "payload" {
		t.Fatalf("decoded bytes alias the source: %q", out)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{IdentityID, true},
		{"zstd-1", true},
		{"!~", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"has space", false},
		{"tab\t", false},
		{"del\x7f", false},
		{"nul\x00", false},
		{"é", false},
	} {
		if got := ValidID(tc.id); got != tc.ok {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.ok)
		}
	}
}

// The identity codec's ID is persisted in every MANIFEST and snapshot.
func TestIdentityIDIsStable(t *testing.T) {
	if got := (Identity{}).ID(); got != "identity" || !ValidID(got) {
		t.Fatalf("Identity ID = %q", got)
	}
}

func FuzzIdentity(f *testing.F) {
	f.Add([]byte(nil), 0)
	f.Add([]byte("abc"), 2)
	f.Add([]byte("abc"), 3)
	f.Add(bytes.Repeat([]byte{7}, 300), 1<<20)
	f.Fuzz(func(t *testing.T, src []byte, maxOut int) {
		c := Identity{}
		enc, err := c.Encode(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := c.Decode(nil, enc, maxOut)
		if len(src) > maxOut {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("len %d > maxOut %d: err %v", len(src), maxOut, err)
			}
			return
		}
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("round trip of %q = %q, %v", src, dec, err)
		}
		if len(dec) > maxOut {
			t.Fatalf("decoded %d bytes past the bound %d", len(dec), maxOut)
		}
	})
}
