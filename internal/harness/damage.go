package harness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem"
)

// Damage-pass outcomes.
const (
	DamageIntact     = "recovered intact"
	DamagePrefix     = "recovered a prefix"
	DamageCorruption = "refused: Corruption"
	DamageNoWAL      = "no WAL segment"
	DamageBad        = "VIOLATION"
)

// copyForDamage copies dir as the crash left it (before a check reopens
// it, which starts a fresh, empty segment): its last WAL segment holds the
// killed workload's tail.
func copyForDamage(dir string) (string, error) {
	cp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), filepath.Base(dir)+".damage-")
	if err != nil {
		return "", err
	}
	if err := copyTree(dir, cp); err != nil {
		os.RemoveAll(cp)
		return "", err
	}
	return cp, nil
}

// damagePass damages the tail of the last WAL segment of cp, a copy of the
// directory taken right after the crash (a cut at a random byte, or one
// flipped bit in its last KiB), and opens it. Open must either return a
// Corruption error or recover a state equal to the model after a prefix of
// the commit order; anything else — another error, a panic, a lost commit
// followed by a kept one, wrong data — is a violation. The model must be
// resolved by a check of the undamaged directory.
func damagePass(ctx context.Context, cp string, m *Model, r *rand.Rand) (outcome string, vs []Violation) {
	var err error
	seg, size := lastSegment(filepath.Join(cp, "WAL"))
	if seg != "" {
		// A segment is preallocated: damage what was written, not the
		// zeros after it.
		size = dataEnd(seg)
	}
	if seg == "" || size == 0 {
		return DamageNoWAL, nil
	}
	var what string
	if r.IntN(2) == 0 {
		at := r.Int64N(size)
		what = fmt.Sprintf("%s cut to %d of %d written bytes", filepath.Base(seg), at, size)
		err = os.Truncate(seg, at)
	} else {
		off := size - 1 - r.Int64N(min(size, 1024))
		bit := byte(1) << r.IntN(8)
		what = fmt.Sprintf("%s bit %#x flipped at %d of %d", filepath.Base(seg), bit, off, size)
		err = flipBit(seg, off, bit)
	}
	if err != nil {
		return DamageBad, []Violation{{Kind: KindDamage, Detail: err.Error()}}
	}
	bad := func(format string, a ...any) (string, []Violation) {
		return DamageBad, []Violation{{Kind: KindDamage, Detail: what + ": " + fmt.Sprintf(format, a...)}}
	}
	var db *inmem.DB
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("Open panicked: %v", p)
			}
		}()
		db, err = inmem.Open(cp, nil)
	}()
	if err != nil {
		if inmem.CodeOf(err) == inmem.CodeCorruption {
			if os.Getenv("INMEM_HARNESS_DEBUG") != "" {
				fmt.Fprintln(os.Stderr, what, err)
			}
			return DamageCorruption, nil
		}
		return bad("Open failed without a Corruption code: %v", err)
	}
	defer db.Close()

	// Which commits survived: per writer the markers 1..p present.
	pm := m.clone()
	lost := 0
	for _, name := range pm.order {
		w := pm.writers[name]
		markers := map[uint64]bool{}
		err := db.View(ctx, inmem.MustParseRunID(name), func(tx *inmem.Tx) error {
			for e, err := range tx.KV().Scan("m/") {
				if err != nil {
					return err
				}
				q, perr := strconv.ParseUint(strings.TrimPrefix(e.Key, "m/"), 10, 64)
				if perr == nil {
					markers[q] = true
				}
			}
			return nil
		})
		if err != nil {
			return bad("reading the recovered copy: %v", err)
		}
		p := uint64(0)
		for markers[p+1] {
			p++
		}
		if p > w.acked || len(markers) != int(p) {
			return DamageBad, []Violation{{Kind: KindNotAPrefix, Writer: name, Seq: p + 1,
				Detail: what + fmt.Sprintf(": markers of %d commits present, not 1..%d", len(markers), p)}}
		}
		lost += int(w.acked - p)
		w.acked = p
	}
	rep, err := pm.Check(ctx, db)
	if err != nil {
		return bad("reading the recovered copy: %v", err)
	}
	if len(rep.Violations) > 0 {
		for i := range rep.Violations {
			rep.Violations[i].Detail = what + ": " + rep.Violations[i].Detail
		}
		return DamageBad, rep.Violations
	}
	// The survivors must be a prefix in commit (version) order.
	var newestKept, oldestLost uint64
	for name, w := range m.writers {
		kept := pm.writers[name].acked
		for q, v := range w.versions {
			if v == 0 || q > w.acked {
				continue
			}
			if q <= kept {
				newestKept = max(newestKept, v)
			} else if oldestLost == 0 || v < oldestLost {
				oldestLost = v
			}
		}
	}
	if oldestLost != 0 && oldestLost < newestKept {
		return DamageBad, []Violation{{Kind: KindNotAPrefix, Detail: fmt.Sprintf("%s: commit version %d lost but %d kept", what, oldestLost, newestKept)}}
	}
	if lost == 0 {
		return DamageIntact, nil
	}
	return DamagePrefix, nil
}

// lastSegment returns the path and size of the highest-numbered segment.
func lastSegment(walDir string) (string, int64) {
	ents, err := os.ReadDir(walDir)
	if err != nil {
		return "", 0
	}
	best := ""
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "wal-") && strings.HasSuffix(n, ".seg") && n > best {
			best = n
		}
	}
	if best == "" {
		return "", 0
	}
	p := filepath.Join(walDir, best)
	st, err := os.Stat(p)
	if err != nil {
		return "", 0
	}
	return p, st.Size()
}

// dataEnd returns the offset after the last non-zero byte of path.
func dataEnd(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return int64(i + 1)
		}
	}
	return 0
}

func flipBit(path string, off int64, bit byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= bit
	_, err = f.WriteAt(b, off)
	return err
}

// copyTree copies the regular files and directories under src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
