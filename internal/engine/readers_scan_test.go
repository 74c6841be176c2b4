package engine

import (
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// A fork scan pulls the parent's next version ahead (scanViewDepth's
// iter.Pull2) before calling back for the fork's own key. If the callback
// finishes the transaction (Rollback/Commit), its snapshot is unregistered
// while the scan goes on: the scan must still hold off a trim plus
// reclamation that would clear the pulled-ahead node.
func TestReclaimFirst_ScanOutlivingItsTxn(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	p, f := core.NewRunID(), core.NewRunID()
	commitOne(t, e, p, core.KV, "k", value.Int(1)) // inline c.first
	at := commitOne(t, e, p, core.KV, "k", value.Int(2))
	commitOne(t, e, f, core.System, ForkKey, ForkValue(p, at))
	commitOne(t, e, f, core.KV, "a", value.Int(9))

	tx := e.Begin(f, false)
	var got []Entry
	tx.Scan(f, core.KV, "", "", false, func(key string, en Entry) bool {
		if key == "a" {
			tx.Rollback() // or a concurrent compaction with a Commit here
			e.Trim(keepLast1, 1)
			e.ReclaimFirsts()
			return true
		}
		got = append(got, en)
		return true
	})
	if len(got) != 1 || got[0].Version != at {
		t.Fatalf("inherited k read as %+v, want version %d (node was cleared under the scan)", got, at)
	}
}

// A reclamation replaces the cut's copies with a new chain (its oldest
// version inline); the copies it replaced are cleared in turn, or they
// would keep their values and links in a slab a live neighbour keeps.
func TestReclaimFirst_ClearsTheCopiesItReplaces(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	big := value.String(string(make([]byte, 4096)))
	commitOne(t, e, r, core.KV, "k", value.Int(1))
	commitOne(t, e, r, core.KV, "k", big)
	commitOne(t, e, r, core.KV, "k", value.Int(3))
	keep2 := func(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 2} }
	e.Trim(keep2, 1)
	bigCopy := e.lookup(r, core.KV, "k").head.Load().next // [3', big'] after the cut
	e.ReclaimFirsts()                                     // -> [3'', first(big)]
	commitOne(t, e, r, core.KV, "k", value.Int(4))
	e.Trim(keep2, 1) // big leaves every live chain
	e.ReclaimFirsts()
	e.ReclaimFirsts()
	if isBig(bigCopy.val) {
		t.Fatal("a node replaced by reclaimFirst still holds a trimmed value")
	}
}
