// Property test of MemFS against an independent model.
//
// The model keeps, per inode, current and durable bytes, and per directory
// current and durable entries, with none of MemFS's machinery (no dirty
// ranges, no logs, no crash points). After every step of a random sequence
// of operations:
//
//   - MemFS and the model agree on which operations fail;
//   - the current view and Crash(CrashKeepAll) equal the model's current
//     view;
//   - Crash(CrashDropUnsynced) equals the model's durable view;
//   - Crash(CrashRandom) (small blocks, random seed) has the durable names,
//     and each file's length is its durable length, its current length or
//     a block multiple between them (the bytes are covered by unit tests).

package vfs

import (
	"fmt"
	"io"
	"path"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

type mNode struct {
	dir      bool
	cur, dur []byte
	entries  map[string]*mNode // current
	durEnt   map[string]*mNode // durable
}

func newMDir() *mNode {
	return &mNode{dir: true, entries: map[string]*mNode{}, durEnt: map[string]*mNode{}}
}

type mHandle struct {
	f        File
	n        *mNode
	name     string
	off      int
	writable bool
	closed   bool
}

type fsModel struct {
	m       *MemFS
	root    *mNode
	handles []*mHandle
}

var (
	rapidDirs  = []string{"/d1", "/d1/d2", "/d3"}
	rapidFiles = []string{"/a", "/b", "/d1/a", "/d1/b", "/d1/d2/a", "/d3/a"}
)

func (s *fsModel) lookup(p string) *mNode {
	n := s.root
	if p == "/" {
		return n
	}
	for _, c := range splitPath(p) {
		if !n.dir {
			return nil
		}
		n = n.entries[c]
		if n == nil {
			return nil
		}
	}
	return n
}

func splitPath(p string) []string {
	var out []string
	for p != "/" {
		out = append([]string{path.Base(p)}, out...)
		p = path.Dir(p)
	}
	return out
}

func (s *fsModel) parent(p string) (*mNode, string) {
	d := s.lookup(path.Dir(p))
	if d == nil || !d.dir {
		return nil, ""
	}
	return d, path.Base(p)
}

// agree checks that MemFS failed exactly when the model says it should.
func agree(t *rapid.T, op string, modelOK bool, err error) {
	t.Helper()
	if modelOK != (err == nil) {
		t.Fatalf("%s: model ok=%v, MemFS err=%v", op, modelOK, err)
	}
}

func (s *fsModel) handle(t *rapid.T) *mHandle {
	if len(s.handles) == 0 {
		t.Skip("no handles")
	}
	return s.handles[rapid.IntRange(0, len(s.handles)-1).Draw(t, "handle")]
}

func (s *fsModel) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"MkdirAll": func(t *rapid.T) {
			p := rapid.SampledFrom(rapidDirs).Draw(t, "dir")
			n := s.root
			for _, c := range splitPath(p) {
				child := n.entries[c]
				if child == nil {
					child = newMDir()
					n.entries[c] = child
				}
				n = child
			}
			agree(t, "MkdirAll "+p, true, s.m.MkdirAll(p))
		},
		"Create": func(t *rapid.T) {
			p := rapid.SampledFrom(rapidFiles).Draw(t, "file")
			f, err := s.m.Create(p)
			d, base := s.parent(p)
			ok := d != nil && d.entries[base] == nil
			agree(t, "Create "+p, ok, err)
			if ok {
				n := &mNode{}
				d.entries[base] = n
				s.handles = append(s.handles, &mHandle{f: f, n: n, name: p, writable: true})
			}
		},
		"Open": func(t *rapid.T) {
			p := rapid.SampledFrom(rapidFiles).Draw(t, "file")
			rw := rapid.Bool().Draw(t, "rw")
			var f File
			var err error
			if rw {
				f, err = s.m.OpenReadWrite(p)
			} else {
				f, err = s.m.Open(p)
			}
			n := s.lookup(p)
			agree(t, "Open "+p, n != nil && !n.dir, err)
			if err == nil {
				h := &mHandle{f: f, n: n, name: p, writable: rw}
				if rw {
					h.off = len(n.cur)
				}
				s.handles = append(s.handles, h)
			}
		},
		"Write": func(t *rapid.T) {
			h := s.handle(t)
			data := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data")
			n, err := h.f.Write(data)
			ok := !h.closed && h.writable
			agree(t, "Write "+h.name, ok, err)
			if !ok {
				return
			}
			if n != len(data) {
				t.Fatalf("short write %d/%d", n, len(data))
			}
			if len(data) == 0 {
				return
			}
			if end := h.off + len(data); end > len(h.n.cur) {
				h.n.cur = append(h.n.cur, make([]byte, end-len(h.n.cur))...)
			}
			copy(h.n.cur[h.off:], data)
			h.off += len(data)
		},
		"Read": func(t *rapid.T) {
			h := s.handle(t)
			buf := make([]byte, rapid.IntRange(0, 100).Draw(t, "len"))
			n, err := h.f.Read(buf)
			if h.closed {
				agree(t, "Read "+h.name, false, err)
				return
			}
			var want []byte
			if h.off < len(h.n.cur) {
				want = h.n.cur[h.off:min(len(h.n.cur), h.off+len(buf))]
			}
			if n != len(want) || (err != nil && err != io.EOF) || string(buf[:n]) != string(want) {
				t.Fatalf("Read %s: %d %v, want %q", h.name, n, err, want)
			}
			h.off += n
		},
		"Sync": func(t *rapid.T) {
			h := s.handle(t)
			var err error
			if rapid.Bool().Draw(t, "data only") {
				err = h.f.SyncData()
			} else {
				err = h.f.Sync()
			}
			agree(t, "Sync "+h.name, !h.closed, err)
			if !h.closed {
				h.n.dur = slices.Clone(h.n.cur)
			}
		},
		"Truncate": func(t *rapid.T) {
			h := s.handle(t)
			size := rapid.IntRange(0, 400).Draw(t, "size")
			ok := !h.closed && h.writable
			agree(t, "Truncate "+h.name, ok, h.f.Truncate(int64(size)))
			if !ok {
				return
			}
			if size < len(h.n.cur) {
				h.n.cur = h.n.cur[:size:size]
			} else {
				h.n.cur = append(h.n.cur, make([]byte, size-len(h.n.cur))...)
			}
		},
		"Close": func(t *rapid.T) {
			h := s.handle(t)
			agree(t, "Close "+h.name, !h.closed, h.f.Close())
			h.closed = true
		},
		"Rename": func(t *rapid.T) {
			from := rapid.SampledFrom(rapidFiles).Draw(t, "from")
			to := rapid.SampledFrom(rapidFiles).Draw(t, "to")
			err := s.m.Rename(from, to)
			od, ob := s.parent(from)
			nd, nb := s.parent(to)
			ok := od != nil && od.entries[ob] != nil && nd != nil
			agree(t, "Rename "+from+" "+to, ok, err)
			if ok && from != to {
				n := od.entries[ob]
				delete(od.entries, ob)
				nd.entries[nb] = n
			}
		},
		"Remove": func(t *rapid.T) {
			p := rapid.SampledFrom(append(slices.Clone(rapidFiles), rapidDirs...)).Draw(t, "name")
			err := s.m.Remove(p)
			d, base := s.parent(p)
			ok := d != nil && d.entries[base] != nil && !(d.entries[base].dir && len(d.entries[base].entries) > 0)
			agree(t, "Remove "+p, ok, err)
			if ok {
				delete(d.entries, base)
			}
		},
		"SyncDir": func(t *rapid.T) {
			p := rapid.SampledFrom(append([]string{"/"}, rapidDirs...)).Draw(t, "dir")
			n := s.lookup(p)
			agree(t, "SyncDir "+p, n != nil, s.m.SyncDir(p))
			if n != nil {
				n.durEnt = map[string]*mNode{}
				for k, v := range n.entries {
					n.durEnt[k] = v
				}
			}
		},
		"": s.check,
	}
}

// view renders the model: path -> content, or "<dir>".
func (s *fsModel) view(durable bool) (map[string]string, map[string]*mNode) {
	out, nodes := map[string]string{}, map[string]*mNode{}
	var walk func(d *mNode, prefix string)
	walk = func(d *mNode, prefix string) {
		entries := d.entries
		if durable {
			entries = d.durEnt
		}
		for name, n := range entries {
			p := prefix + "/" + name
			nodes[p] = n
			if n.dir {
				out[p] = "<dir>"
				walk(n, p)
			} else if durable {
				out[p] = string(n.dur)
			} else {
				out[p] = string(n.cur)
			}
		}
	}
	walk(s.root, "")
	return out, nodes
}

func (s *fsModel) check(t *rapid.T) {
	cur, _ := s.view(false)
	dur, durNodes := s.view(true)
	ops := s.m.OpCount()
	if got := tree(t, s.m); !sameTree(got, cur) {
		t.Fatalf("current view\n got %v\nwant %v\n%s", got, cur, s.m)
	}
	// tree closes the files it reads: those are counted operations.
	if s.m.OpCount() != ops+countFiles(cur) {
		t.Fatalf("reading the tree counted %d ops for %d files", s.m.OpCount()-ops, countFiles(cur))
	}
	if got := tree(t, s.m.Crash(keepAll)); !sameTree(got, cur) {
		t.Fatalf("CrashKeepAll\n got %v\nwant %v\n%s", got, cur, s.m)
	}
	if got := tree(t, s.m.Crash(dropUnsynced)); !sameTree(got, dur) {
		t.Fatalf("CrashDropUnsynced\n got %v\nwant %v\n%s", got, dur, s.m)
	}
	seed := rapid.Uint64().Draw(t, "seed")
	got := tree(t, s.m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed, BlockSize: 64}))
	if len(got) != len(dur) {
		t.Fatalf("CrashRandom names\n got %v\nwant %v", got, dur)
	}
	for p, content := range got {
		n := durNodes[p]
		if n == nil || n.dir != (content == "<dir>") {
			t.Fatalf("CrashRandom: unexpected %s", p)
		}
		if n.dir {
			continue
		}
		lo, hi := min(len(n.dur), len(n.cur)), max(len(n.dur), len(n.cur))
		if l := len(content); l < lo || l > hi || (l != len(n.dur) && l != len(n.cur) && l%64 != 0) {
			t.Fatalf("CrashRandom: %s has length %d, durable %d, current %d", p, l, len(n.dur), len(n.cur))
		}
	}
}

func countFiles(v map[string]string) int {
	n := 0
	for _, c := range v {
		if c != "<dir>" {
			n++
		}
	}
	return n
}

func TestMemRapidModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &fsModel{m: NewMem(), root: newMDir()}
		t.Repeat(s.actions())
	})
}

// TestMemRapidInternals checks MemFS's internal invariants after every
// step of a random sequence:
//
//   - the durable entries of a directory plus its whole log of unsynced
//     changes are its current entries (what CrashOptions.RandomEntries
//     relies on);
//   - a file's dirty ranges are sorted, disjoint, non-adjacent and within
//     the current length, and cover every byte past the durable length and
//     every byte whose current value differs from the durable one (what
//     CrashRandom relies on to never lose an unsynced change, nor touch a
//     synced byte).
func TestMemRapidInternals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &fsModel{m: NewMem(), root: newMDir()}
		actions := s.actions()
		actions[""] = func(t *rapid.T) {
			s.m.mu.Lock()
			defer s.m.mu.Unlock()
			for _, h := range s.handles {
				checkDirty(t, h.f.(*memFile).node)
			}
			var walk func(d *memNode)
			walk = func(d *memNode) {
				e := cloneEntries(d.durableEntries)
				for _, batch := range d.log {
					for _, c := range batch {
						if c.node == nil {
							delete(e, c.name)
						} else {
							e[c.name] = c.node
						}
					}
				}
				if fmt.Sprint(e) != fmt.Sprint(d.entries) {
					t.Fatalf("dir %d: durable+log = %v, current = %v", d.ino, e, d.entries)
				}
				for _, c := range d.entries {
					if c.isDir {
						walk(c)
					} else {
						checkDirty(t, c)
					}
				}
			}
			walk(s.m.root)
		}
		t.Repeat(actions)
	})
}

func checkDirty(t *rapid.T, n *memNode) {
	covered := make([]bool, len(n.data))
	prev := -1
	for _, d := range n.dirty {
		if d.lo <= prev || d.lo >= d.hi || d.hi > len(n.data) {
			t.Fatalf("inode %d: bad dirty ranges %v (size %d)", n.ino, n.dirty, len(n.data))
		}
		prev = d.hi
		for p := d.lo; p < d.hi; p++ {
			covered[p] = true
		}
	}
	for p := range n.data {
		if !covered[p] && (p >= len(n.durable) || n.data[p] != n.durable[p]) {
			t.Fatalf("inode %d: byte %d changed since the sync but is not dirty (%v)", n.ino, p, n.dirty)
		}
	}
}
