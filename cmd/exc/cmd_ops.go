package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
)

// opsCmds are the maintenance commands: gc, scrub, backup.
func (a *app) opsCmds() []*cobra.Command {
	return []*cobra.Command{a.gcCmd(), a.scrubCmd(), a.backupCmd()}
}

func (a *app) gcCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "gc",
		Short:   "Delete unreferenced chunks now and report what was freed",
		Example: "  exc gc\n  exc --json gc | jq .bytes_freed",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api().GC(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(r)
			}
			return a.table(nil, [][]string{
				{"chunks scanned", strconv.Itoa(r.Scanned)},
				{"chunks deleted", strconv.Itoa(r.Deleted)},
				{"bytes freed", fmtBytes(r.BytesFreed)},
				{"deferred (held open)", strconv.Itoa(r.Deferred)},
				{"duration", fmt.Sprintf("%.2fs", r.DurationSeconds)},
			})
		},
	}
}

// errDamaged makes exc scrub exit 1 when the report lists damage.
var errDamaged = errors.New("scrub found damage")

func (a *app) scrubCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scrub",
		Short: "Read and authenticate every chunk and check reference counts; exit 1 on damage",
		Long: "scrub reads every chunk file (authenticating each segment), recounts chunk\n" +
			"references over all objects and multipart parts, and compares them with the\n" +
			"stored counts. It changes nothing. Exit 0: no damage; 1: damage (listed).",
		Example: "  exc scrub\n  exc --json scrub > scrub.json || echo damaged",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api().Scrub(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				err = a.printJSON(r)
			} else {
				err = a.table(nil, [][]string{
					{"chunks read", strconv.Itoa(r.Chunks)},
					{"bytes authenticated", fmtBytes(r.ChunkBytes)},
					{"objects", strconv.Itoa(r.Objects)},
					{"multipart parts", strconv.Itoa(r.Parts)},
					{"referenced chunks", strconv.Itoa(r.Referenced)},
					{"object bodies checked", strconv.Itoa(r.Bodies)},
					{"body bytes checked", fmtBytes(r.BodyBytes)},
					{"corrupt chunks", strconv.Itoa(len(r.Corrupt))},
					{"missing chunks", strconv.Itoa(len(r.Missing))},
					{"wrong reference counts", strconv.Itoa(len(r.Mismatched))},
					{"duration", fmt.Sprintf("%.2fs", r.DurationSeconds)},
				})
				if err == nil && r.Damaged {
					var rows [][]string
					for _, p := range r.Corrupt {
						rows = append(rows, []string{"corrupt", p.Chunk, p.Error})
					}
					for _, p := range r.Missing {
						rows = append(rows, []string{"missing", p.Chunk, "referenced by " + p.Ref})
					}
					for _, m := range r.Mismatched {
						rows = append(rows, []string{"ref count", m.Chunk, fmt.Sprintf("stored %d, counted %d", m.Stored, m.Counted)})
					}
					fmt.Fprintln(a.stdout)
					err = a.table([]string{"PROBLEM", "CHUNK", "DETAIL"}, rows)
				}
			}
			if err != nil {
				return err
			}
			if r.Damaged {
				return errDamaged
			}
			return nil
		},
	}
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of the catalog to FILE (restore with excd --restore)",
		Long: "backup streams a consistent snapshot of the catalog to FILE (mode 0600: it\n" +
			"holds access key secrets in the clear). Chunks are not in it: copy the\n" +
			"chunks directory after the backup finishes, with the master key. The file is\n" +
			"written next to FILE and renamed into place only when complete.",
		Example: "  exc backup /var/backups/excd-catalog.$(date +%F)\n" +
			"  excd --data-dir /var/lib/excd --restore /var/backups/excd-catalog.2026-01-31",
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[0]
			f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
			if err != nil {
				return err
			}
			tmp := f.Name()
			defer os.Remove(tmp) // no-op after the rename
			n, err := a.api().Backup(cmd.Context(), f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp, dst); err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"file": dst, "bytes": n})
			}
			_, err = fmt.Fprintf(a.stdout, "catalog backup written to %s (%s)\n", dst, fmtBytes(n))
			return err
		},
	}
}
