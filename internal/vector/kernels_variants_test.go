package vector

import (
	"fmt"
	"testing"
)

// Alternative Dot implementations, kept so the kernel shape chosen in
// kernels.go (4 accumulators, 16-element blocks) can be re-measured on other
// machines with
//
//	go test -run '^$' -bench KernelVariants ./internal/vector/

// dotNaive uses one accumulator.
func dotNaive(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// dot4 uses 4 accumulators, 4 elements per iteration.
func dot4(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(a) >= 4 {
		x := a[:4:4]
		y := b[:4:4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		a = a[4:]
		b = b[4:]
	}
	b = b[:len(a)]
	for i := range a {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot8x2 uses 8 accumulators, 16 elements per iteration (pairs).
func dot8x2(a, b []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(a) >= 16 {
		x := a[:16:16]
		y := b[:16:16]
		s0 += x[0]*y[0] + x[8]*y[8]
		s1 += x[1]*y[1] + x[9]*y[9]
		s2 += x[2]*y[2] + x[10]*y[10]
		s3 += x[3]*y[3] + x[11]*y[11]
		s4 += x[4]*y[4] + x[12]*y[12]
		s5 += x[5]*y[5] + x[13]*y[13]
		s6 += x[6]*y[6] + x[14]*y[14]
		s7 += x[7]*y[7] + x[15]*y[15]
		a = a[16:]
		b = b[16:]
	}
	b = b[:len(a)]
	for i := range a {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dot16 uses 16 accumulators, 16 elements per iteration.
func dot16(a, b []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	var t0, t1, t2, t3, t4, t5, t6, t7 float32
	for len(a) >= 16 {
		x := a[:16:16]
		y := b[:16:16]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
		t0 += x[8] * y[8]
		t1 += x[9] * y[9]
		t2 += x[10] * y[10]
		t3 += x[11] * y[11]
		t4 += x[12] * y[12]
		t5 += x[13] * y[13]
		t6 += x[14] * y[14]
		t7 += x[15] * y[15]
		a = a[16:]
		b = b[16:]
	}
	b = b[:len(a)]
	for i := range a {
		s0 += a[i] * b[i]
	}
	return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) +
		(((t0 + t1) + (t2 + t3)) + ((t4 + t5) + (t6 + t7)))
}

// dot8 is the classic 8-accumulator kernel: 8 elements per iteration,
// one accumulator each.
func dot8(a, b []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(a) >= 8 {
		x := a[:8:8]
		y := b[:8:8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
		a = a[8:]
		b = b[8:]
	}
	b = b[:len(a)]
	for i := range a {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dot4x8 is the shape of Dot with 32-element blocks.
func dot4x8(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(a) >= 32 {
		x := a[:32:32]
		y := b[:32:32]
		s0 += ((x[0]*y[0] + x[4]*y[4]) + (x[8]*y[8] + x[12]*y[12])) + ((x[16]*y[16] + x[20]*y[20]) + (x[24]*y[24] + x[28]*y[28]))
		s1 += ((x[1]*y[1] + x[5]*y[5]) + (x[9]*y[9] + x[13]*y[13])) + ((x[17]*y[17] + x[21]*y[21]) + (x[25]*y[25] + x[29]*y[29]))
		s2 += ((x[2]*y[2] + x[6]*y[6]) + (x[10]*y[10] + x[14]*y[14])) + ((x[18]*y[18] + x[22]*y[22]) + (x[26]*y[26] + x[30]*y[30]))
		s3 += ((x[3]*y[3] + x[7]*y[7]) + (x[11]*y[11] + x[15]*y[15])) + ((x[19]*y[19] + x[23]*y[23]) + (x[27]*y[27] + x[31]*y[31]))
		a = a[32:]
		b = b[32:]
	}
	b = b[:len(a)]
	for i := range a {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func BenchmarkKernelVariants(b *testing.B) {
	variants := []struct {
		name string
		fn   func(a, b []float32) float32
	}{
		{"acc1", dotNaive},
		{"acc4x4", dot4},
		{"acc8x8", dot8},
		{"acc8x16", dot8x2},
		{"acc16x16", dot16},
		{"acc4x16/Dot", Dot},
		{"acc4x32", dot4x8},
	}
	for _, dim := range []int{384, 1536} {
		x, y := randVec(newRand(1), dim), randVec(newRand(2), dim)
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/dim=%d", v.name, dim), func(b *testing.B) {
				var s float32
				for b.Loop() {
					s += v.fn(x, y)
				}
				sink = s
			})
		}
	}
}
