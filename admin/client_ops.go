package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// GC runs the garbage collector now and reports what it freed.
func (c *Client) GC(ctx context.Context) (GCReport, error) {
	var r GCReport
	return r, c.do(ctx, http.MethodPost, "/v1/gc", nil, &r)
}

// Scrub checks every chunk and reference count. A damaged store is a
// successful call with Damaged set.
func (c *Client) Scrub(ctx context.Context) (ScrubReport, error) {
	var r ScrubReport
	return r, c.do(ctx, http.MethodPost, "/v1/scrub", nil, &r)
}

// ErrBackupIncomplete: the daemon stopped the backup stream part way; what
// was written is not a usable backup.
var ErrBackupIncomplete = errors.New("backup stream incomplete")

// Backup streams a backup of the catalog into w and returns its size. It
// fails with ErrBackupIncomplete unless the daemon confirmed the end of the
// stream.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://excd/v1/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("admin: backup: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("admin: backup: %w", ctx.Err())
		}
		return 0, &UnreachableError{Socket: c.socket, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// An error answer is small JSON; let do's decoding handle it by
		// re-reading through the same path.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, decodeError(http.MethodGet, "/v1/backup", resp.StatusCode, data)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("admin: backup: %w", err)
	}
	if res := resp.Trailer.Get(backupTrailer); res != "ok" {
		if res == "" {
			res = "connection ended without a result"
		}
		return n, fmt.Errorf("admin: backup: %w: %s", ErrBackupIncomplete, strings.TrimPrefix(res, "error: "))
	}
	return n, nil
}
