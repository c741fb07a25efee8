package loadtest

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fuseWorker works through the mount at the same time as the S3 clients.
// A writer owns fuse/w<i>/: it writes a file, closes it, reads it back,
// renames it, sometimes rewrites it in place or reads it over S3, and
// removes the oldest. A reader lists imm/ (written over S3) and reads
// files, checking their content against the seed in their name; a file
// deleted between the listing and the open is the one expected error.
type fuseWorker struct {
	h      *harness
	id     int
	writer bool
	rng    *rand.Rand
	n      int
	files  []fuseFile
}

type fuseFile struct {
	name string
	pl   Payload
}

func newFUSEWorker(h *harness, id int, writer bool) *fuseWorker {
	return &fuseWorker{h: h, id: id, writer: writer, rng: rand.New(rand.NewPCG(uint64(id), 0xf05e))}
}

func (w *fuseWorker) run() {
	if w.writer {
		dir := filepath.Join(w.h.mnt, "fuse", fmt.Sprintf("w%d", w.id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			w.h.stats.Fail("fuse-mkdir", err)
			return
		}
		for !w.h.stop.Load() {
			w.write(dir)
		}
		return
	}
	for !w.h.stop.Load() {
		w.read()
	}
}

func (w *fuseWorker) fail(op string, err error) {
	class := "check"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		class = errno.Error()
	}
	w.h.stats.Fail(op+":"+class, err)
}

func (w *fuseWorker) size() int64 {
	if w.rng.IntN(10) == 0 {
		return min(1<<20+w.rng.Int64N(7<<20), w.h.cfg.maxSize)
	}
	return w.rng.Int64N(64 << 10)
}

// writeFile writes pl to path in writes of random length, as an
// application would, and closes it: the close commits the object.
func (w *fuseWorker) writeFile(path string, pl Payload, flag int) error {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for off := int64(0); off < pl.Size; {
		n := min(int64(1+w.rng.IntN(len(buf))), pl.Size-off)
		pl.ReadAt(buf[:n], off)
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		off += n
	}
	return f.Close()
}

func (w *fuseWorker) readBack(path string, pl Payload) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pl.Verify(f, 0, pl.Size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	w.h.stats.BytesVerified.Add(pl.Size)
	return nil
}

func (w *fuseWorker) write(dir string) {
	w.n++
	pl := Payload{Seed: randSeed(w.rng), Size: w.size()}
	tmp := filepath.Join(dir, fmt.Sprintf("f%d.tmp", w.n))
	final := filepath.Join(dir, fmt.Sprintf("f%d", w.n))
	start := time.Now()
	if err := w.writeFile(tmp, pl, os.O_CREATE|os.O_EXCL|os.O_WRONLY); err != nil {
		w.fail("fuse-write", err)
		return
	}
	w.h.stats.Op("fuse-write", time.Since(start))
	w.h.stats.BytesWritten.Add(pl.Size)
	start = time.Now()
	if err := w.readBack(tmp, pl); err != nil {
		w.fail("fuse-read", err)
		return
	}
	w.h.stats.Op("fuse-read", time.Since(start))
	start = time.Now()
	if err := os.Rename(tmp, final); err != nil {
		w.fail("fuse-rename", err)
		return
	}
	w.h.stats.Op("fuse-rename", time.Since(start))
	if fi, err := os.Stat(final); err != nil || fi.Size() != pl.Size {
		w.fail("fuse-stat", fmt.Errorf("%s after rename: %v, size want %d", final, err, pl.Size))
		return
	}
	w.files = append(w.files, fuseFile{final, pl})

	switch w.rng.IntN(4) {
	case 0: // rewrite in place, then read back
		f := &w.files[len(w.files)-1]
		pl := Payload{Seed: randSeed(w.rng), Size: w.size()}
		start = time.Now()
		if err := w.writeFile(f.name, pl, os.O_WRONLY|os.O_TRUNC); err != nil {
			w.fail("fuse-rewrite", err)
			return
		}
		f.pl = pl
		w.h.stats.Op("fuse-rewrite", time.Since(start))
		w.h.stats.BytesWritten.Add(pl.Size)
		if err := w.readBack(f.name, pl); err != nil {
			w.fail("fuse-read", err)
			return
		}
	case 1: // the same bytes over S3
		f := w.files[len(w.files)-1]
		key := strings.TrimPrefix(f.name, w.h.mnt+"/")
		ctx, cancel := ctxOp()
		defer cancel()
		start = time.Now()
		out, err := w.h.s3[0].GetObject(ctx, &s3.GetObjectInput{Bucket: &w.h.bucket, Key: aws.String(key)})
		if err != nil {
			w.h.stats.Fail("fuse-s3get:"+errCode(err), fmt.Errorf("%s: %w", key, err))
			return
		}
		err = f.pl.Verify(out.Body, 0, f.pl.Size)
		out.Body.Close()
		if err != nil {
			w.h.stats.Fail("fuse-s3get:check", fmt.Errorf("%s: %w", key, err))
			return
		}
		w.h.stats.Op("fuse-s3get", time.Since(start))
		w.h.stats.BytesVerified.Add(f.pl.Size)
	}

	if len(w.files) > 4 {
		start = time.Now()
		if err := os.Remove(w.files[0].name); err != nil {
			w.fail("fuse-remove", err)
			return
		}
		w.h.stats.Op("fuse-remove", time.Since(start))
		w.files = w.files[1:]
	}
}

func (w *fuseWorker) read() {
	dir := filepath.Join(w.h.mnt, "imm")
	start := time.Now()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Before the first imm/ key, the directory does not exist.
		w.h.stats.Expected("fuse-readdir:ENOENT")
		time.Sleep(20 * time.Millisecond)
		return
	}
	if err != nil {
		w.fail("fuse-readdir", err)
		return
	}
	w.h.stats.Op("fuse-readdir", time.Since(start))
	if len(ents) == 0 {
		time.Sleep(20 * time.Millisecond)
		return
	}
	for range 4 {
		name := ents[w.rng.IntN(len(ents))].Name()
		pl, ok := parseImmName(name)
		if !ok {
			w.h.stats.Fail("fuse-readdir:check", fmt.Errorf("unexpected name %q in imm/", name))
			continue
		}
		start = time.Now()
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			w.h.stats.Expected("fuse-open:ENOENT")
			continue
		}
		if err != nil {
			w.fail("fuse-open", err)
			continue
		}
		// Once open, the version is read to its end even if it is
		// deleted meanwhile (close-to-open).
		err = pl.Verify(f, 0, pl.Size)
		f.Close()
		if err != nil {
			w.h.stats.Fail("fuse-read-s3obj:check", fmt.Errorf("%s: %w", name, err))
			continue
		}
		w.h.stats.Op("fuse-read-s3obj", time.Since(start))
		w.h.stats.BytesVerified.Add(pl.Size)
	}
}
