package faulttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// Chunk layout (docs/format.md, "Chunk files").
const (
	chunkSize   = chunkstore.MaxChunkSize
	segSize     = chunkstore.SegmentSize
	sealedSeg   = segSize + chunkstore.SegmentOverhead
	chunkHeader = int64(chunkstore.HeaderSize)
)

// chunkFiles lists the chunk files under dataDir by id.
func chunkFiles(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	files, err := excdtest.ChunkFiles(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// putNewChunk stores key and returns the one chunk file it added.
func putNewChunk(t *testing.T, p *excdtest.Proc, dataDir, key string, b []byte) (id, path string) {
	t.Helper()
	before := chunkFiles(t, dataDir)
	if err := put(ctxT(t), p.S3(), key, b); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	for id, path := range chunkFiles(t, dataDir) {
		if _, ok := before[id]; !ok {
			return id, path
		}
	}
	t.Fatalf("put %s added no chunk file", key)
	return "", ""
}

// scrub runs `exc scrub` against the daemon, as an operator would, and
// returns its exit status, its table output and its JSON report.
func scrub(t *testing.T, p *excdtest.Proc) (int, string, admin.ScrubReport) {
	t.Helper()
	run := func(args ...string) (int, string) {
		cmd := exec.Command(excdtest.Build(t, "exc"), append([]string{"--socket", p.Admin}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("exc %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, table := run("scrub")
	jcode, js := run("--json", "scrub")
	if jcode != code {
		t.Errorf("exc scrub exits %d, with --json %d", code, jcode)
	}
	var r admin.ScrubReport
	// The JSON report is the first line; an error line may follow.
	if err := json.NewDecoder(strings.NewReader(js)).Decode(&r); err != nil {
		t.Fatalf("exc --json scrub: %v\n%s", err, js)
	}
	return code, table, r
}

// The damage a test does to one chunk file.
type damage struct {
	name string
	do   func(path string) error
	// scrubKind is how exc scrub lists it: "corrupt" or "missing".
	scrubKind string
}

// flipAt flips one bit of the byte at off.
func flipAt(off int64) func(string) error {
	return func(path string) error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			return err
		}
		b[0] ^= 0x10
		_, err = f.WriteAt(b, off)
		return err
	}
}

// TestCorruptChunk damages one chunk of a three-chunk object in the ways a
// disk or an operator can (a flipped bit in a segment, a truncated file, a
// deleted file) and checks: a GET of the whole object fails (never wrong
// bytes) and the log names the chunk; a GET whose first bytes are damaged
// is a 500 InternalError; ranges that avoid the damaged segment (or chunk)
// still return exact bytes; `exc scrub` lists the chunk and exits 1; other
// objects, including one sharing the object's other chunks, are
// unaffected; through FUSE the damaged region reads EIO and the rest reads.
func TestCorruptChunk(t *testing.T) {
	requireRoot(t)
	// Segment 3 of a chunk: file bytes [49+3·65552, 49+4·65552).
	seg3 := int64(chunkHeader + 3*sealedSeg + 100)
	cases := []struct {
		damage
		// chunk is the damaged chunk's index (0, 1, 2) in the object.
		chunk int
		// badFrom, badTo: the plaintext range (object offsets) that can
		// no longer be read; every other byte must still read.
		badFrom, badTo int64
	}{
		{damage{"flip-segment-3", flipAt(seg3), "corrupt"}, 1,
			chunkSize + 3*segSize, chunkSize + 4*segSize},
		{damage{"flip-header", flipAt(10), "corrupt"}, 0, 0, chunkSize},
		// Cut inside segment 2: segments 0 and 1 still authenticate.
		{damage{"truncate", func(p string) error { return os.Truncate(p, chunkHeader+2*sealedSeg+7) }, "corrupt"}, 2,
			2*chunkSize + 2*segSize, 2*chunkSize + 1<<20},
		{damage{"delete", os.Remove, "missing"}, 1, chunkSize, 2 * chunkSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			corruptOne(t, tc.damage, tc.chunk, tc.badFrom, tc.badTo)
		})
	}
}

func corruptOne(t *testing.T, dmg damage, chunk int, badFrom, badTo int64) {
	ctx := ctxT(t)
	dataDir := t.TempDir()
	var mnt string
	if _, err := os.Stat("/dev/fuse"); err == nil {
		mnt = t.TempDir()
	}
	var log testutil.LogBuffer
	p := excdtest.Start(t, excdtest.Options{DataDir: dataDir, Mount: mnt, Stderr: &log})
	c := p.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// The victim: chunks of 4 MiB, 4 MiB and 1 MiB. Each chunk is first
	// stored alone under its own key to learn its file (equal plaintext
	// is the same chunk), so "other/<i>" share the victim's chunks.
	victim := data(11, 2*chunkSize+1<<20)
	var ids, paths [3]string
	for i := range 3 {
		ids[i], paths[i] = putNewChunk(t, p, dataDir, fmt.Sprintf("other/%d", i), victim[i*chunkSize:min((i+1)*chunkSize, len(victim))])
	}
	if err := put(ctx, c, "victim", victim); err != nil {
		t.Fatal(err)
	}
	bystander := data(12, 5<<20)
	if err := put(ctx, c, "bystander", bystander); err != nil {
		t.Fatal(err)
	}

	if err := dmg.do(paths[chunk]); err != nil {
		t.Fatal(err)
	}
	bad := ids[chunk]

	// The whole object: fails, never returns wrong bytes.
	got, err := get(ctx, c, "victim", "")
	if err == nil {
		t.Errorf("GET of the damaged object returned %d bytes and no error", len(got))
	} else if badFrom == 0 {
		// Damage in the first bytes is found before the status line.
		wantS3Err(t, "GET with the first segment damaged", err, "InternalError", 500)
	} else {
		t.Logf("GET of the whole object (damage at %d): %v", badFrom, err)
	}
	if !waitLog(&log, bad) {
		t.Errorf("the daemon log does not name chunk %s:\n%s", bad, log.String())
	}

	// A range starting in the damaged region: 500 InternalError.
	_, err = get(ctx, c, "victim", fmt.Sprintf("bytes=%d-%d", badFrom, badFrom+999))
	wantS3Err(t, "GET of a range starting in the damaged region", err, "InternalError", 500)

	// Ranges that avoid it: exact bytes.
	for _, r := range [][2]int64{{0, badFrom - 1}, {badTo, int64(len(victim)) - 1}, {badFrom - 5000, badFrom - 1}, {badTo, badTo + 5000}} {
		if r[0] < 0 || r[1] >= int64(len(victim)) || r[1] < r[0] {
			continue
		}
		got, err := get(ctx, c, "victim", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if err != nil {
			t.Errorf("GET bytes=%d-%d (outside the damage %d-%d): %v", r[0], r[1], badFrom, badTo, err)
		} else if !bytes.Equal(got, victim[r[0]:r[1]+1]) {
			t.Errorf("GET bytes=%d-%d: wrong bytes", r[0], r[1])
		}
	}

	// Other objects: untouched, including those sharing undamaged chunks.
	others := map[string][]byte{"bystander": bystander}
	for i := range 3 {
		if i != chunk {
			others[fmt.Sprintf("other/%d", i)] = victim[i*chunkSize : min((i+1)*chunkSize, len(victim))]
		}
	}
	for k, b := range others {
		if got, err := get(ctx, c, k, ""); err != nil || !bytes.Equal(got, b) {
			t.Errorf("GET %s (not damaged): %d bytes, %v", k, len(got), err)
		}
	}

	// exc scrub names the chunk and exits 1.
	code, table, r := scrub(t, p)
	if code != 1 {
		t.Errorf("exc scrub exit status %d, want 1:\n%s", code, table)
	}
	if !strings.Contains(table, dmg.scrubKind) || !strings.Contains(table, bad) {
		t.Errorf("exc scrub output does not list %s %s:\n%s", dmg.scrubKind, bad, table)
	}
	probs := r.Corrupt
	if dmg.scrubKind == "missing" {
		probs = r.Missing
	}
	if !r.Damaged || len(probs) != 1 || probs[0].Chunk != bad || len(r.Corrupt)+len(r.Missing)+len(r.Mismatched) != 1 {
		t.Errorf("scrub report: %+v; want exactly one %s chunk %s", r, dmg.scrubKind, bad)
	}
	t.Logf("exc scrub: exit %d\n%s", code, table)

	if mnt != "" {
		fuseReadDamaged(t, filepath.Join(mnt, bucket, "victim"), victim, badFrom, badTo)
	}
	if p.Exited() {
		t.Fatalf("excd exited:\n%s", log.String())
	}
}

// fuseReadDamaged reads the object through the mount: EIO inside the
// damaged region, exact bytes around it.
func fuseReadDamaged(t *testing.T, path string, want []byte, badFrom, badTo int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("FUSE open: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, badFrom); !errors.Is(err, syscall.EIO) {
		t.Errorf("FUSE read at %d (damaged): %v, want EIO", badFrom, err)
	}
	for _, off := range []int64{0, badFrom - 4096, badTo, int64(len(want)) - 4096} {
		if off < 0 || (off+4096 > badFrom && off < badTo) || off+4096 > int64(len(want)) {
			continue
		}
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF || !bytes.Equal(buf[:n], want[off:off+int64(n)]) || n != 4096 {
			t.Errorf("FUSE read at %d (undamaged): %d bytes, %v", off, n, err)
		}
	}
	// Reading the whole file stops with EIO, not short success.
	if _, err := io.ReadAll(io.NewSectionReader(f, 0, int64(len(want)))); !errors.Is(err, syscall.EIO) {
		t.Errorf("FUSE read of the whole file: %v, want EIO", err)
	}
}
