package vector

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ErrDimension reports a vector or query whose length is not the index
// dimension. Returned errors wrap it with the wanted and actual lengths.
var ErrDimension = errors.New("vector: dimension mismatch")

// ErrNonFinite reports a vector or query with a NaN or infinite component,
// or whose squared Euclidean length overflows float32.
var ErrNonFinite = errors.New("vector: non-finite vector")

// ErrUnknownMetric reports a metric name ParseMetric does not recognise.
var ErrUnknownMetric = errors.New("vector: unknown metric")

// Metric selects how a query is scored against a stored vector. The
// numeric values are stable.
type Metric uint8

const (
	// Cosine scores by cosine similarity in [-1, 1]; a zero vector scores 0.
	Cosine Metric = 1
	// Euclidean scores by the negated Euclidean distance, in (-Inf, 0].
	Euclidean Metric = 2
	// DotProduct scores by the dot product.
	DotProduct Metric = 3
)

var metricNames = [...]string{Cosine: "cosine", Euclidean: "euclidean", DotProduct: "dot_product"}

// Valid reports whether m is one of the defined metrics.
func (m Metric) Valid() bool { return m >= Cosine && m <= DotProduct }

// String returns the metric's canonical name: "cosine", "euclidean" or
// "dot_product".
func (m Metric) String() string {
	if m.Valid() {
		return metricNames[m]
	}
	return "Metric(" + strconv.Itoa(int(m)) + ")"
}

// ParseMetric returns the metric whose canonical name (see Metric.String)
// equals s, ignoring case. Any other string yields an error wrapping
// ErrUnknownMetric.
func ParseMetric(s string) (Metric, error) {
	for m := Cosine; m <= DotProduct; m++ {
		if strings.EqualFold(s, metricNames[m]) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownMetric, s)
}

// ScoreOf returns the score of the pair (a, b) under metric m, computed
// exactly as Index.Search computes the score of a stored vector b for the
// query a. It panics if the lengths differ or m is not a valid metric; it
// does not check for non-finite components.
func ScoreOf(m Metric, a, b []float32) float32 {
	switch m {
	case Cosine:
		return cosineScore(Dot(a, b), Norm(a), Norm(b))
	case Euclidean:
		return euclideanScore(SquaredL2(a, b))
	case DotProduct:
		return dotScore(Dot(a, b))
	}
	panic("vector: ScoreOf with invalid metric " + m.String())
}

// cosineScore turns a dot product and the two norms into a cosine score.
// The division is done in float64 so that the product of two large norms
// cannot overflow.
func cosineScore(dot, qn, vn float32) float32 {
	if qn == 0 || vn == 0 {
		return 0
	}
	s := float32(float64(dot) / (float64(qn) * float64(vn)))
	switch {
	case s > 1:
		return 1
	case s < -1:
		return -1
	case s != s: // unreachable for finite inputs; defensive
		return 0
	}
	return s
}

func euclideanScore(sq float32) float32 { return -sqrt32(sq) }

func dotScore(dot float32) float32 {
	if dot != dot { // only at the float32 overflow edge; defensive
		return 0
	}
	return dot
}

// checkVector validates v against dimension dim and returns its norm.
func checkVector(v []float32, dim int) (float32, error) {
	if len(v) != dim {
		return 0, fmt.Errorf("%w: want %d, got %d", ErrDimension, dim, len(v))
	}
	n := Norm(v)
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return 0, ErrNonFinite
	}
	return n, nil
}

// Hit is one search result.
type Hit struct {
	Key     string
	Score   float32
	Payload any
	Version uint64
}

// CompareHits orders hits best first: by Score descending, then by Key
// ascending. It returns a negative number when a ranks before b, a positive
// number when after, and 0 when both score and key are equal.
func CompareHits(a, b Hit) int {
	switch {
	case a.Score > b.Score:
		return -1
	case a.Score < b.Score:
		return 1
	}
	return cmp.Compare(a.Key, b.Key)
}

// MergeHits returns the best k hits of all lists together, ordered by
// CompareHits. The lists need not be sorted and are not modified; the
// result is a new slice. MergeHits does not deduplicate: the caller keeps
// the lists disjoint in keys (Search's exclude callback exists for that).
// Hits that compare equal keep their input order. k <= 0 returns nil.
func MergeHits(k int, lists ...[]Hit) []Hit {
	if k <= 0 {
		return nil
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if total == 0 {
		return nil
	}
	all := make([]Hit, 0, total)
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortStableFunc(all, CompareHits)
	if len(all) > k {
		clear(all[k:]) // drop payload references
		all = all[:k:k]
	}
	return all
}
