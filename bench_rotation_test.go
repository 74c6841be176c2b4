package inmem_test

import "testing"

// BenchmarkStrictCommitRotating is BenchmarkStrictCommit with segments so
// small that the WAL rotates every few hundred commits, to show what a
// rotation (seal, new segment, MANIFEST rewrite) costs the commits that
// wait behind it.
func BenchmarkStrictCommitRotating(b *testing.B) {
	benchStrictCommits(b, []int{1, 8}, 64<<10)
}
