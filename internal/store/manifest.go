package store

import (
	"sync"

	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
)

// Manifest is the in-memory copy of a database's MANIFEST. Its updates are
// serialized, and the copy changes only once the new MANIFEST is durable.
type Manifest struct {
	dir string
	mu  sync.Mutex
	m   format.Manifest
}

// NewManifest returns the copy of m, the MANIFEST read from (or just
// written to) dir.
func NewManifest(dir string, m format.Manifest) *Manifest {
	return &Manifest{dir: dir, m: m}
}

// Get returns the current MANIFEST.
func (x *Manifest) Get() format.Manifest {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m
}

// Update applies fn to a copy of the MANIFEST, writes the result durably
// through fsys and only then makes it current. On error the current
// MANIFEST is unchanged (on disk, the old or the new one may be durable;
// both are valid).
func (x *Manifest) Update(fsys vfs.FS, fn func(m *format.Manifest)) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.m
	fn(&m)
	if err := manifest.Write(fsys, x.dir, m); err != nil {
		return err
	}
	x.m = m
	return nil
}
