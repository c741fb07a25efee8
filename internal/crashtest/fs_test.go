package crashtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// fsWorker writes its own files through the mount: write, fsync, close and
// rename into place; overwrite with O_TRUNC; patch a range in place; unlink.
// What fsync acknowledged, and a rename that returned, must survive SIGKILL.
type fsWorker struct {
	h     *harness
	id    int
	rng   *rand.Rand
	files []*keyRec
	tmps  []*keyRec // files[i]'s temporary name, renamed onto it
	// dirs are a directory this worker renames back and forth (only one
	// of the two names exists at a time), with its marker and its files.
	dirs   [2]string
	marker [2]*keyRec
	inDir  [2][]*keyRec
	// renaming: a rename in flight at the kill, of a file (one pair) or of
	// a directory (a pair per key under it: all move or none).
	renaming []renamePair
}

const dirFiles = 3

// addDirs records the worker's directory pair.
func (w *fsWorker) addDirs(mnt string) []*keyRec {
	var all []*keyRec
	for i, suffix := range []string{"dA", "dB"} {
		name := fmt.Sprintf("w%d-%s", w.id, suffix)
		w.dirs[i] = name
		w.marker[i] = &keyRec{bucket: fsBucket, key: name + "/", cur: absent}
		all = append(all, w.marker[i])
		for j := range dirFiles {
			key := fmt.Sprintf("%s/x%d", name, j)
			k := &keyRec{bucket: fsBucket, key: key, mount: filepath.Join(mnt, fsBucket, key), cur: absent}
			w.inDir[i] = append(w.inDir[i], k)
			all = append(all, k)
		}
	}
	return all
}

// curDir is the index of the directory name that exists now.
func (w *fsWorker) curDir() int {
	for i := range 2 {
		if !w.marker[i].cur.Absent {
			return i
		}
		for _, k := range w.inDir[i] {
			if !k.cur.Absent {
				return i
			}
		}
	}
	return 0
}

// dirWrite makes the current directory if needed and rewrites one file in
// it.
func (w *fsWorker) dirWrite() error {
	i := w.curDir()
	if w.marker[i].cur.Absent && w.marker[1-i].cur.Absent {
		m := w.marker[i]
		st := &State{Data: Content{}, Kind: "fs-mkdir"}
		m.begin("fs-mkdir", st)
		if err := os.Mkdir(filepath.Join(w.h.mnt, fsBucket, w.dirs[i]), 0o755); err != nil {
			return w.h.failed("mkdir "+w.dirs[i], err)
		}
		m.ack(st)
		w.h.acked.add("op/fs-mkdir", 1)
	}
	return w.overwrite(w.inDir[i][w.rng.IntN(dirFiles)])
}

// dirRename renames the directory to its other name: one catalog
// transaction over every key under it.
func (w *fsWorker) dirRename() error {
	i := w.curDir()
	j := 1 - i
	w.renaming = w.renaming[:0]
	from := append([]*keyRec{w.marker[i]}, w.inDir[i]...)
	to := append([]*keyRec{w.marker[j]}, w.inDir[j]...)
	for n, f := range from {
		if !f.cur.Absent {
			w.renaming = append(w.renaming, renamePair{from: f, to: to[n], moved: f.cur})
		}
	}
	if len(w.renaming) == 0 {
		return w.dirWrite()
	}
	for _, p := range w.renaming {
		p.from.begin("fs-dir-rename-source", absent)
		p.to.begin("fs-dir-rename", p.moved)
	}
	src, dst := filepath.Join(w.h.mnt, fsBucket, w.dirs[i]), filepath.Join(w.h.mnt, fsBucket, w.dirs[j])
	if err := os.Rename(src, dst); err != nil {
		return w.h.failed(fmt.Sprintf("rename directory %s to %s", src, dst), err)
	}
	for _, p := range w.renaming {
		p.from.ack(absent)
		p.to.ack(p.moved)
	}
	w.renaming = w.renaming[:0]
	w.h.acked.add("op/fs-dir-rename", 1)
	return nil
}

func (w *fsWorker) run() {
	for !w.h.killed.Load() {
		if err := w.step(); err != nil {
			return
		}
	}
}

func (w *fsWorker) step() error {
	r := w.rng
	i := r.IntN(len(w.files))
	f, tmp := w.files[i], w.tmps[i]
	switch n := r.IntN(100); {
	case n < 10:
		return w.dirWrite()
	case n < 16:
		return w.dirRename()
	case n < 45:
		return w.replace(f, tmp)
	case n < 60:
		return w.overwrite(f)
	case n < 85:
		if f.cur.Absent {
			return w.replace(f, tmp)
		}
		return w.patch(f)
	default:
		if f.cur.Absent {
			return w.replace(f, tmp)
		}
		return w.unlink(f)
	}
}

func (w *fsWorker) size() int64 {
	if w.rng.IntN(2) == 0 {
		return 1 + w.rng.Int64N(8<<10) // inline
	}
	return 8<<10 + 1 + w.rng.Int64N(w.h.cfg.maxFile)
}

// writeAt writes c's bytes [off, end) to f in 1 MiB writes.
func writeAt(f *os.File, c Content, off, end int64) error {
	buf := make([]byte, min(mib, end-off))
	for off < end {
		n := min(int64(len(buf)), end-off)
		c.ReadAt(buf[:n], off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// replace writes a new file under the temporary name, fsyncs and closes it,
// then renames it onto the file: the pattern of editors and package
// managers for an atomic replace.
func (w *fsWorker) replace(f, tmp *keyRec) error {
	h := w.h
	if !tmp.cur.Absent {
		if err := w.unlink(tmp); err != nil {
			return err
		}
	}
	op, seed := h.nextOp()
	st := &State{Data: Gen(seed, w.size()), Op: op, Kind: "fs-write"}
	// Nothing is committed before the fsync (or close), and then all of it.
	tmp.begin("fs-write", st)
	fd, err := os.OpenFile(tmp.mount, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return h.failed("create "+tmp.mount, err)
	}
	defer fd.Close()
	if err := writeAt(fd, st.Data, 0, st.Data.Size()); err != nil {
		return h.failed("write "+tmp.mount, err)
	}
	if err := fd.Sync(); err != nil {
		return h.failed("fsync "+tmp.mount, err)
	}
	tmp.ack(st)
	h.acked.add("op/fs-write-fsync", 1)
	h.acked.add("bytes/fs-write-fsync", st.Data.Size())
	if err := fd.Close(); err != nil {
		return h.failed("close "+tmp.mount, err)
	}

	w.renaming = append(w.renaming[:0], renamePair{from: tmp, to: f, moved: st})
	tmp.begin("fs-rename-source", absent)
	f.begin("fs-rename", st)
	if err := os.Rename(tmp.mount, f.mount); err != nil {
		return h.failed(fmt.Sprintf("rename %s to %s", tmp.mount, f.mount), err)
	}
	w.renaming = w.renaming[:0]
	tmp.ack(absent)
	f.ack(st)
	h.acked.add("op/fs-rename", 1)
	return nil
}

// overwrite truncates and rewrites the file in place, then fsyncs. A kill
// before the fsync may leave it truncated (as on any filesystem), but never
// with some of the new bytes.
func (w *fsWorker) overwrite(f *keyRec) error {
	h := w.h
	op, seed := h.nextOp()
	st := &State{Data: Gen(seed, w.size()), Op: op, Kind: "fs-overwrite"}
	f.begin("fs-overwrite", st, &State{Data: Content{}, Op: op, Kind: "fs-truncated"})
	fd, err := os.OpenFile(f.mount, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return h.failed("open O_TRUNC "+f.mount, err)
	}
	defer fd.Close()
	if err := writeAt(fd, st.Data, 0, st.Data.Size()); err != nil {
		return h.failed("write "+f.mount, err)
	}
	if err := fd.Sync(); err != nil {
		return h.failed("fsync "+f.mount, err)
	}
	f.ack(st)
	h.acked.add("op/fs-overwrite-fsync", 1)
	h.acked.add("bytes/fs-overwrite-fsync", st.Data.Size())
	if err := fd.Close(); err != nil {
		return h.failed("close "+f.mount, err)
	}
	return nil
}

// patch writes a range of new bytes into an existing file (possibly past
// its end) and fsyncs: a copy-on-write commit of the extents it touches.
func (w *fsWorker) patch(f *keyRec) error {
	h := w.h
	op, seed := h.nextOp()
	size := f.cur.Data.Size()
	off := w.rng.Int64N(size + 1)
	n := 1 + w.rng.Int64N(min(w.h.cfg.maxFile, 2*mib))
	if w.rng.IntN(4) == 0 {
		off = size + w.rng.Int64N(64<<10) // append, sometimes leaving a hole
	}
	st := &State{Data: f.cur.Data.Patch(seed, off, n), Op: op, Kind: "fs-patch"}
	f.begin("fs-patch", st)
	fd, err := os.OpenFile(f.mount, os.O_WRONLY, 0)
	if err != nil {
		return h.failed("open "+f.mount, err)
	}
	defer fd.Close()
	if err := writeAt(fd, st.Data, off, off+n); err != nil {
		return h.failed("write "+f.mount, err)
	}
	if err := fd.Sync(); err != nil {
		return h.failed("fsync "+f.mount, err)
	}
	f.ack(st)
	h.acked.add("op/fs-patch-fsync", 1)
	h.acked.add("bytes/fs-patch-fsync", n)
	if err := fd.Close(); err != nil {
		return h.failed("close "+f.mount, err)
	}
	return nil
}

func (w *fsWorker) unlink(f *keyRec) error {
	f.begin("fs-unlink", absent)
	if err := os.Remove(f.mount); err != nil {
		return w.h.failed("unlink "+f.mount, err)
	}
	f.ack(absent)
	w.h.acked.add("op/fs-unlink", 1)
	return nil
}
