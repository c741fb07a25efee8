package fsmount_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The concurrent writers: processes that open, write a record and close,
// over and over, on one file.
const (
	recLen       = 64
	writersEnv   = "FSMOUNT_WRITER" // "path index records mode"
	writersProcs = 3
	writersRecs  = 150
	truncSize    = 1 << 20 // what the truncating process grows the file to
)

// record is the recLen bytes process p writes as its r-th record.
func record(p, r int) []byte {
	b := []byte(fmt.Sprintf("writer %02d record %05d ", p, r))
	b = append(b, bytes.Repeat([]byte{'a' + byte(p)}, recLen-1-len(b))...)
	return append(b, '\n')
}

// TestWritersHelperProcess is one writer when run by TestConcurrentWriters;
// otherwise it does nothing.
func TestWritersHelperProcess(t *testing.T) {
	spec := os.Getenv(writersEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	path := f[0]
	p, _ := strconv.Atoi(f[1])
	n, _ := strconv.Atoi(f[2])
	mode := f[3]
	appendMode := mode == "append"
	flags := syscall.O_WRONLY | syscall.O_CREAT
	if appendMode {
		flags |= syscall.O_APPEND
	}
	failed := 0
	if mode == "truncate" {
		// truncate(2) by path: no handle of this process holds a session.
		for r := range n {
			// A signal to this process while it waits (the Go runtime
			// sends them) makes the kernel interrupt the request and the
			// mount answer EINTR; retry, as os.Truncate does (Go
			// programs see no EINTR): a truncate to a fixed size is idempotent.
			err := syscall.Truncate(path, truncSize)
			for err == syscall.EINTR {
				err = syscall.Truncate(path, truncSize)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "truncater %d: %v\n", r, err)
				failed++
			}
		}
		n = 0
	}
	for r := range n {
		rec := record(p, r)
		fd, err := syscall.Open(path, flags, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "writer %d record %d: open: %v\n", p, r, err)
			failed++
			continue
		}
		var k int
		if appendMode {
			k, err = syscall.Write(fd, rec)
		} else {
			k, err = syscall.Pwrite(fd, rec, int64((p*n+r)*recLen))
		}
		if err != nil || k != len(rec) {
			fmt.Fprintf(os.Stderr, "writer %d record %d: write: %d %v\n", p, r, k, err)
			failed++
		}
		if err := syscall.Close(fd); err != nil {
			fmt.Fprintf(os.Stderr, "writer %d record %d: close: %v\n", p, r, err)
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestConcurrentWriters: several processes open, write one record and
// close, over and over, on one file; ext4 and tmpfs lose nothing, and
// neither may the mount. Each writer is a separate process (this test
// binary run again), so the kernel sees independent opens and closes, with
// RELEASEs arriving after each close returns, as with real programs. The
// records go to each writer's own slots (pwrite) or are appended
// (O_APPEND). In the third case the last process grows the file with
// truncate(2), over and over, while the others write: a truncate is a
// commit too, and neither it nor a record may be lost.
func TestConcurrentWriters(t *testing.T) {
	for _, mode := range []string{"pwrite", "append", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			path := e.p("shared")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			cmds := make([]*exec.Cmd, writersProcs)
			outs := make([]*bytes.Buffer, writersProcs)
			for p := range cmds {
				pmode := mode
				if mode == "truncate" {
					pmode = "pwrite"
					if p == writersProcs-1 {
						pmode = "truncate"
					}
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestWritersHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %s", writersEnv, path, p, writersRecs, pmode))
				outs[p] = new(bytes.Buffer)
				cmd.Stdout, cmd.Stderr = outs[p], outs[p]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[p] = cmd
			}
			for p, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Errorf("writer %d: %v\n%s", p, err, outs[p])
				}
			}

			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, "mount", got, mode)
			out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("shared")})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Body.Close()
			viaS3, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaS3, got) {
				t.Errorf("S3 has %d bytes, the mount %d, and they differ", len(viaS3), len(got))
			}
		})
	}
}

// checkRecords compares the file with the model: with pwrite, every record
// at its own offset; with O_APPEND, every record exactly once, each
// writer's in its order, and nothing else; with a truncater, the writers'
// records in place and zeros up to truncSize.
func checkRecords(t *testing.T, where string, got []byte, mode string) {
	t.Helper()
	writers, want := writersProcs, writersProcs*writersRecs*recLen
	if mode == "truncate" {
		writers, want = writersProcs-1, truncSize
	}
	if len(got) != want {
		t.Errorf("%s: file has %d bytes, want %d", where, len(got), want)
	}
	bad := 0
	defer func() {
		if bad > 0 {
			t.Errorf("%s: %d records wrong", where, bad)
		}
	}()
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 5 {
			t.Errorf(where+": "+format, args...)
		}
	}
	if mode != "append" {
		for p := range writers {
			for r := range writersRecs {
				off := (p*writersRecs + r) * recLen
				if off+recLen > len(got) {
					report("writer %d record %d: beyond the end", p, r)
					continue
				}
				if rec := got[off : off+recLen]; !bytes.Equal(rec, record(p, r)) {
					report("writer %d record %d: %q", p, r, rec)
				}
			}
		}
		if rest := got[min(len(got), writers*writersRecs*recLen):]; bytes.Count(rest, []byte{0}) != len(rest) {
			report("bytes after the records are not zeros")
		}
		return
	}
	next := make([]int, writersProcs)
	for off := 0; off+recLen <= len(got); off += recLen {
		rec := got[off : off+recLen]
		var p, r int
		if _, err := fmt.Sscanf(string(rec), "writer %d record %d ", &p, &r); err != nil || p < 0 || p >= writersProcs || !bytes.Equal(rec, record(p, r)) {
			report("at %d: not a record: %q", off, rec)
			continue
		}
		if r != next[p] {
			report("at %d: writer %d record %d, want its record %d", off, p, r, next[p])
		}
		next[p] = r + 1
	}
	for p, n := range next {
		if n != writersRecs {
			report("writer %d: last record seen %d of %d", p, n-1, writersRecs)
		}
	}
}
