package vector

import "math"

// The kernels are written for the Go compiler's scalar code generator: Go
// has no portable SIMD and this package uses no assembly. Speed comes from
// instruction-level parallelism instead. Each iteration of the main loop
// consumes a block of 16 elements as four independent accumulator chains
// (element j of the block feeds chain j%4), and inside a chain the four
// products are first added pairwise, so the CPU always has many multiplies
// and adds in flight instead of waiting on one serial dependency.
// Re-slicing each block to a constant length lets the compiler prove every
// constant index in range, so the unrolled body carries no bounds checks
// (verify with go build -gcflags=-d=ssa/check_bce).
//
// The shape was chosen by measurement (BenchmarkKernelVariants in
// kernels_variants_test.go). On the reference machine (2-core AMD EPYC VM,
// Zen 5) at dim 384: one accumulator 154-168 ns; 4 accumulators over
// 4-element blocks 105-110 ns; 8 accumulators over 8-element blocks
// 123-130 ns (8 accumulators plus 8 product temporaries exceed the 15 XMM
// registers Go's ABI leaves free, and spill); 8 accumulators over
// 16-element blocks about 100-108 ns; 16 accumulators 185-200 ns; and
// this 4 x 16 tree 92-100 ns, the fastest, near the ceiling of two scalar
// loads per element. 32-element blocks gain nothing more.
//
// A kernel sums in a fixed association order, so identical inputs give
// bit-identical results within one build. With GOAMD64=v3 (and on arm64)
// the compiler may fuse multiply-add pairs, which changes rounding in the
// last bits but not determinism.

// Dot returns the dot product of a and b. It panics if the lengths differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic("vector: Dot of vectors with different lengths")
	}
	var s0, s1, s2, s3 float32
	for len(a) >= 16 {
		x := a[:16:16]
		y := b[:16:16]
		s0 += (x[0]*y[0] + x[4]*y[4]) + (x[8]*y[8] + x[12]*y[12])
		s1 += (x[1]*y[1] + x[5]*y[5]) + (x[9]*y[9] + x[13]*y[13])
		s2 += (x[2]*y[2] + x[6]*y[6]) + (x[10]*y[10] + x[14]*y[14])
		s3 += (x[3]*y[3] + x[7]*y[7]) + (x[11]*y[11] + x[15]*y[15])
		a = a[16:]
		b = b[16:]
	}
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

// SquaredL2 returns the squared Euclidean distance between a and b. It
// panics if the lengths differ.
func SquaredL2(a, b []float32) float32 {
	if len(a) != len(b) {
		panic("vector: SquaredL2 of vectors with different lengths")
	}
	var s0, s1, s2, s3 float32
	for len(a) >= 16 {
		x := a[:16:16]
		y := b[:16:16]
		d0, d4, d8, d12 := x[0]-y[0], x[4]-y[4], x[8]-y[8], x[12]-y[12]
		s0 += (d0*d0 + d4*d4) + (d8*d8 + d12*d12)
		d1, d5, d9, d13 := x[1]-y[1], x[5]-y[5], x[9]-y[9], x[13]-y[13]
		s1 += (d1*d1 + d5*d5) + (d9*d9 + d13*d13)
		d2, d6, d10, d14 := x[2]-y[2], x[6]-y[6], x[10]-y[10], x[14]-y[14]
		s2 += (d2*d2 + d6*d6) + (d10*d10 + d14*d14)
		d3, d7, d11, d15 := x[3]-y[3], x[7]-y[7], x[11]-y[11], x[15]-y[15]
		s3 += (d3*d3 + d7*d7) + (d11*d11 + d15*d15)
		a = a[16:]
		b = b[16:]
	}
	for len(a) >= 4 {
		x := a[:4:4]
		y := b[:4:4]
		d0, d1, d2, d3 := x[0]-y[0], x[1]-y[1], x[2]-y[2], x[3]-y[3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		a = a[4:]
		b = b[4:]
	}
	b = b[:len(a)]
	for i := range a {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// Norm returns the Euclidean length of a. The sum of squares is accumulated
// in float32, so Norm overflows to +Inf when that sum exceeds the float32
// range, and a NaN or infinite component yields NaN or +Inf.
func Norm(a []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(a) >= 16 {
		x := a[:16:16]
		s0 += (x[0]*x[0] + x[4]*x[4]) + (x[8]*x[8] + x[12]*x[12])
		s1 += (x[1]*x[1] + x[5]*x[5]) + (x[9]*x[9] + x[13]*x[13])
		s2 += (x[2]*x[2] + x[6]*x[6]) + (x[10]*x[10] + x[14]*x[14])
		s3 += (x[3]*x[3] + x[7]*x[7]) + (x[11]*x[11] + x[15]*x[15])
		a = a[16:]
	}
	for len(a) >= 4 {
		x := a[:4:4]
		s0 += x[0] * x[0]
		s1 += x[1] * x[1]
		s2 += x[2] * x[2]
		s3 += x[3] * x[3]
		a = a[4:]
	}
	for _, v := range a {
		s0 += v * v
	}
	return sqrt32((s0 + s1) + (s2 + s3))
}

// sqrt32 is a float32 square root; the compiler lowers the float64 round
// trip to a single-precision square-root instruction.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
