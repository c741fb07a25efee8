package crashtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// register makes st findable by its operation number, which S3 writes
// carry in x-amz-meta-crash-op: a reader that races the writers can then
// tell which version a GET returned and check its bytes.
func (h *harness) register(st *State) {
	h.byOpMu.Lock()
	defer h.byOpMu.Unlock()
	if h.byOp == nil {
		h.byOp = map[uint64]*State{}
	}
	h.byOp[st.Op] = st
}

func (h *harness) lookup(op uint64) *State {
	h.byOpMu.Lock()
	defer h.byOpMu.Unlock()
	return h.byOp[op]
}

// reader GETs the S3 keys while the writers run, whole or a random range:
// whatever version a read returns must be one that was written, with
// exactly its bytes, never a mix or a part. Errors after the kill end it.
func (h *harness) reader(rng *rand.Rand) {
	ctx := context.Background()
	var keys []*keyRec
	for _, w := range h.s3w {
		keys = append(keys, w.keys...)
	}
	for !h.killed.Load() {
		k := keys[rng.IntN(len(keys))]
		in := &s3.GetObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key)}
		var off int64 = -1
		if rng.IntN(2) == 0 {
			off = rng.Int64N(8 * mib)
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+rng.Int64N(2*mib)))
		}
		err := h.readOnce(ctx, k, in, off)
		var nsk *types.NoSuchKey
		var ir interface{ ErrorCode() string }
		switch {
		case err == nil, errors.As(err, &nsk):
		case errors.As(err, &ir) && ir.ErrorCode() == "InvalidRange":
		case h.killed.Load():
			return
		default:
			h.t.Errorf("read %s during the load: %v", k.name(), err)
			return
		}
	}
}

func (h *harness) readOnce(ctx context.Context, k *keyRec, in *s3.GetObjectInput, off int64) error {
	out, err := h.c.GetObject(ctx, in)
	if err != nil {
		return err
	}
	defer out.Body.Close()
	op, err := strconv.ParseUint(out.Metadata["crash-op"], 10, 64)
	st := h.lookup(op)
	if err != nil || st == nil {
		return fmt.Errorf("version with metadata %v was never written", out.Metadata)
	}
	if off < 0 {
		off = 0
	}
	want := io.NewSectionReader(st.Data, off, aws.ToInt64(out.ContentLength))
	idx, n, diff, err := Match(out.Body, []Bytes{want})
	if err != nil {
		if h.killed.Load() {
			return err
		}
		return fmt.Errorf("read body: %w", err)
	}
	h.figures.add("load-read-bytes", n)
	h.figures.add("load-reads", 1)
	if idx < 0 {
		if h.killed.Load() && n < aws.ToInt64(out.ContentLength) {
			return errors.New("cut by the kill")
		}
		return fmt.Errorf("%d bytes at %d of %v differ from it at byte %d: partial or mixed content", n, off, st, off+diff[0])
	}
	return nil
}
