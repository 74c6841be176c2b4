package value

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"
)

func genValue(depth int) *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		max := 7
		if depth <= 0 {
			max = 5
		}
		switch rapid.IntRange(0, max).Draw(t, "kind") {
		case 0:
			return Null()
		case 1:
			return Bool(rapid.Bool().Draw(t, "b"))
		case 2:
			return Int(rapid.Int64().Draw(t, "i"))
		case 3:
			return Float(rapid.SampledFrom([]float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1.5, -3e300, math.SmallestNonzeroFloat64}).Draw(t, "f"))
		case 4:
			return String(rapid.String().Draw(t, "s"))
		case 5:
			return Bytes(rapid.SliceOf(rapid.Byte()).Draw(t, "bytes"))
		case 6:
			return Array(rapid.SliceOfN(genValue(depth-1), 0, 4).Draw(t, "elems")...)
		default:
			return Object(rapid.MapOfN(rapid.String(), genValue(depth-1), 0, 4).Draw(t, "fields"))
		}
	})
}

func TestBinaryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genValue(3).Draw(t, "v")
		enc := AppendBinary(nil, v)
		if len(enc) != v.EncodedSize() {
			t.Fatalf("EncodedSize %d, encoding has %d bytes", v.EncodedSize(), len(enc))
		}
		got, err := DecodeAll(enc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Identical(v) {
			t.Fatalf("round trip: got %v, want %v", got, v)
		}
		aliased, n, err := DecodeAliasing(enc, 0)
		if err != nil || n != len(enc) || !aliased.Identical(v) {
			t.Fatalf("aliasing decode: got %v (%d bytes, %v), want %v", aliased, n, err, v)
		}
		// Canonical: re-encoding gives the same bytes.
		if !bytes.Equal(AppendBinary(nil, got), enc) {
			t.Fatal("encoding is not canonical")
		}
	})
}

func TestEquality(t *testing.T) {
	cases := []struct {
		a, b  Value
		equal bool
	}{
		{Int(1), Float(1), false},
		{String("a"), Bytes([]byte("a")), false},
		{Float(math.NaN()), Float(math.NaN()), false},
		{Float(0), Float(math.Copysign(0, -1)), true},
		{Object(map[string]Value{"a": Int(1), "b": Int(2)}), ObjectOf(Field{"b", Int(2)}, Field{"a", Int(1)}), true},
		{Array(Int(1), Int(2)), Array(Int(2), Int(1)), false},
		{Null(), Value{}, true},
		{Array(), Object(nil), false},
	}
	for _, c := range cases {
		if got := c.a.Equal(c.b); got != c.equal {
			t.Errorf("%v.Equal(%v) = %v, want %v", c.a, c.b, got, c.equal)
		}
	}
	if Float(0).Identical(Float(math.Copysign(0, -1))) {
		t.Error("Identical must tell -0 from +0")
	}
	nan := Float(math.NaN())
	if !nan.Identical(nan) {
		t.Error("Identical must match the same NaN")
	}
}

func TestDecodeHostile(t *testing.T) {
	cases := map[string][]byte{
		"empty":            {},
		"unknown tag":      {0x42},
		"huge string":      {tagString, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge array":       {tagArray, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"truncated float":  {tagFloat, 1, 2},
		"bad varint":       {tagInt, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"invalid utf8":     {tagString, 1, 0xff},
		"unsorted object":  {tagObject, 2, 1, 'b', tagNull, 1, 'a', tagNull},
		"duplicate key":    {tagObject, 2, 1, 'a', tagNull, 1, 'a', tagNull},
		"truncated object": {tagObject, 1, 1, 'a'},
	}
	for name, b := range cases {
		if _, _, err := Decode(b, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	deep := bytes.Repeat([]byte{tagArray, 1}, 200)
	deep = append(deep, tagNull)
	if _, _, err := Decode(deep, 128); !errors.Is(err, ErrMalformed) {
		t.Errorf("200-deep array with limit 128: %v", err)
	}
	if _, _, err := Decode(deep, 0); err != nil {
		t.Errorf("200-deep array with the default limit: %v", err)
	}
	if _, err := DecodeAll([]byte{tagNull, tagNull}, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing bytes: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(AppendBinary(nil, Object(map[string]Value{"a": Array(Int(1), String("x"), Bytes([]byte{0}))})))
	f.Add([]byte{tagArray, 0xff, 0xff, 0x03})
	f.Add([]byte{tagFloat, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Decode(b, 0)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the bytes it came from (the
		// encoding is canonical), except for non-minimal varints, which
		// re-encode shorter.
		enc := AppendBinary(nil, v)
		if len(enc) > n {
			t.Fatalf("re-encoding grew: %d > %d", len(enc), n)
		}
		back, err := DecodeAll(enc, 0)
		if err != nil || !back.Identical(v) {
			t.Fatalf("re-decode: %v %v", back, err)
		}
	})
}

func TestJSON(t *testing.T) {
	v, err := FromJSON([]byte(`{"i": 1, "f": 1.0, "e": 1e3, "big": 9223372036854775808, "s": "x", "a": [null, true], "o": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]Value{"i": Int(1), "f": Float(1), "e": Float(1000), "big": Float(9223372036854775808), "s": String("x"), "a": Array(Null(), Bool(true)), "o": Object(nil)}
	for k, want := range checks {
		if got, _ := v.Get(k); !got.Identical(want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	out, err := ToJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromJSON(out)
	if err != nil || !back.Identical(v) {
		t.Fatalf("JSON round trip: %s -> %v %v", out, back, err)
	}
	if _, err := ToJSON(Bytes([]byte{1})); !errors.Is(err, ErrNotJSON) {
		t.Error("bytes must not convert to JSON")
	}
	if _, err := ToJSON(Float(math.NaN())); !errors.Is(err, ErrNotJSON) {
		t.Error("NaN must not convert to JSON")
	}
	for _, bad := range []string{`{`, `[1,]`, `1 2`, ``} {
		if _, err := FromJSON([]byte(bad)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("FromJSON(%q) = %v", bad, err)
		}
	}
}

func TestImmutability(t *testing.T) {
	o := Object(map[string]Value{"a": Int(1)})
	o2 := o.With("b", Int(2))
	if _, ok := o.Get("b"); ok {
		t.Fatal("With changed the receiver")
	}
	if o3 := o2.Without("a"); o3.Len() != 1 || o2.Len() != 2 {
		t.Fatal("Without changed the receiver")
	}
	keys := o2.Keys()
	keys[0] = "zzz"
	if o2.Keys()[0] != "a" {
		t.Fatal("Keys aliases the stored keys")
	}
}
