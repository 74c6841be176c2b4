package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
)

// demoMarkerName is the file inmem demo leaves in a database it created.
// A later demo deletes a database only if it carries the marker, and the
// marker names the database's UUID, so a marker copied beside some other
// database does not make it deletable.
const demoMarkerName = "INMEM-DEMO"

func demoMarkerText(uuid string) []byte {
	return fmt.Appendf(nil, "This database was created by \"inmem demo\"; a later demo may delete it.\ndatabase %s\n", uuid)
}

// markDemoDir writes the marker into dir, which holds the database the
// demo just created.
func markDemoDir(dir string) error {
	m, err := manifest.Read(vfs.OS(), dir)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, demoMarkerName), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(demoMarkerText(m.UUID.String()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// demoMarked reports whether dir holds the marker of the database with the
// given UUID.
func demoMarked(dir, uuid string) bool {
	b, err := os.ReadFile(filepath.Join(dir, demoMarkerName))
	return err == nil && bytes.Equal(b, demoMarkerText(uuid))
}
