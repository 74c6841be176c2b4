package vector

import (
	"math"
	"testing"
)

func kernelLengths() []int {
	var ls []int
	for n := 0; n <= 70; n++ {
		ls = append(ls, n)
	}
	return append(ls, 383, 384, 1024)
}

func TestKernelsMatchReference(t *testing.T) {
	r := newRand(1)
	for _, n := range kernelLengths() {
		for trial := range 4 {
			a, b := randVec(r, n), randVec(r, n)
			if trial == 3 {
				// Mixed magnitudes exercise relative error.
				for i := range a {
					a[i] *= float32(math.Pow(10, float64(r.IntN(7)-3)))
				}
			}
			var absDot float64
			for i := range a {
				absDot += math.Abs(float64(a[i]) * float64(b[i]))
			}
			const tol = 1e-5
			if got, want := Dot(a, b), refDot(a, b); math.Abs(float64(got)-want) > tol*max(absDot, 1e-30) {
				t.Errorf("Dot len %d: got %v, want %v", n, got, want)
			}
			if got, want := SquaredL2(a, b), refSquaredL2(a, b); math.Abs(float64(got)-want) > tol*want {
				t.Errorf("SquaredL2 len %d: got %v, want %v", n, got, want)
			}
			if got, want := Norm(a), refNorm(a); math.Abs(float64(got)-want) > tol*want {
				t.Errorf("Norm len %d: got %v, want %v", n, got, want)
			}
		}
	}
}

func TestKernelsExactOnSmallIntegers(t *testing.T) {
	// With small integer components every partial sum is exactly
	// representable, so the kernels must be exact whatever their order of
	// summation. This catches dropped or double-counted tail elements that
	// a tolerance could hide.
	r := newRand(2)
	for _, n := range kernelLengths() {
		a, b := make([]float32, n), make([]float32, n)
		var dot, sq, nn int
		for i := range a {
			x, y := r.IntN(17)-8, r.IntN(17)-8
			a[i], b[i] = float32(x), float32(y)
			dot += x * y
			sq += (x - y) * (x - y)
			nn += x * x
		}
		if got := Dot(a, b); got != float32(dot) {
			t.Errorf("Dot len %d: got %v, want %d", n, got, dot)
		}
		if got := SquaredL2(a, b); got != float32(sq) {
			t.Errorf("SquaredL2 len %d: got %v, want %d", n, got, sq)
		}
		if got, want := Norm(a), float32(math.Sqrt(float64(nn))); got != want {
			t.Errorf("Norm len %d: got %v, want %v", n, got, want)
		}
	}
}

func TestKernelsLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Dot/shorter":       func() { Dot(make([]float32, 8), make([]float32, 7)) },
		"Dot/longer":        func() { Dot(make([]float32, 8), make([]float32, 9)) },
		"SquaredL2/shorter": func() { SquaredL2(make([]float32, 20), make([]float32, 3)) },
		"SquaredL2/longer":  func() { SquaredL2(make([]float32, 3), make([]float32, 20)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestNormNonFinite(t *testing.T) {
	if n := Norm([]float32{1, float32(math.NaN()), 2}); !math.IsNaN(float64(n)) {
		t.Errorf("Norm with NaN = %v, want NaN", n)
	}
	if n := Norm([]float32{1, float32(math.Inf(-1))}); !math.IsInf(float64(n), 1) {
		t.Errorf("Norm with -Inf = %v, want +Inf", n)
	}
	if n := Norm([]float32{3e19, 3e19}); !math.IsInf(float64(n), 1) {
		t.Errorf("Norm overflowing = %v, want +Inf", n)
	}
}

var sink float32

func BenchmarkDot(b *testing.B) {
	x, y := randVec(newRand(1), 384), randVec(newRand(2), 384)
	var s float32
	for b.Loop() {
		s += Dot(x, y)
	}
	sink = s
}

func BenchmarkSquaredL2(b *testing.B) {
	x, y := randVec(newRand(1), 384), randVec(newRand(2), 384)
	var s float32
	for b.Loop() {
		s += SquaredL2(x, y)
	}
	sink = s
}

func BenchmarkNorm(b *testing.B) {
	x := randVec(newRand(1), 384)
	var s float32
	for b.Loop() {
		s += Norm(x)
	}
	sink = s
}
