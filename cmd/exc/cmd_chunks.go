package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/chunkstore/migrate"
	s3chunks "excloud.dev/buckets/chunkstore/s3"
)

// errMismatched makes exc chunks migrate exit 1 when a target copy differs.
var errMismatched = errors.New("some chunks in the target differ from the source")

// chunksCmd works on chunk stores directly, not through the daemon.
func (a *app) chunksCmd() *cobra.Command {
	return group("chunks", "Work on chunk stores directly, not through excd",
		"  exc chunks migrate --from /var/lib/excd/chunks --to s3://excd-chunks/prod --endpoint https://s3.example.com --path-style",
		a.chunksMigrateCmd())
}

func (a *app) chunksMigrateCmd() *cobra.Command {
	var o s3chunks.Options
	var jobs int
	c := &cobra.Command{
		Use:   "migrate --from DIR|s3://BUCKET/PREFIX --to DIR|s3://BUCKET/PREFIX",
		Short: "Copy a store's chunk files between its data directory and an S3 chunk store, verifying each",
		Long: "migrate copies every chunk file of the source to the target, where it is missing,\n" +
			"and verifies each copy by reading back its size, header and last segment tag.\n" +
			"Chunk objects are byte-identical to chunk files, so nothing is decrypted and no\n" +
			"key is needed. A run is resumable: chunks already in the target are verified\n" +
			"and skipped. A local side is a chunk directory (<data-dir>/chunks). The S3\n" +
			"options apply to whichever side is s3://; credentials come from\n" +
			"EXC_CHUNKS_ACCESS_KEY_ID/EXC_CHUNKS_SECRET_ACCESS_KEY, --credentials FILE, or\n" +
			"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Run it with excd stopped, or again after\n" +
			"switching excd to the target, to pick up chunks written meanwhile\n" +
			"(docs/scale-out.md, \"Migrating a single-host store to a fleet\").\n" +
			"Exit 0: all copied or present; 1: an error, or a target copy that differs.",
		Example: "  EXC_CHUNKS_ACCESS_KEY_ID=… EXC_CHUNKS_SECRET_ACCESS_KEY=… \\\n" +
			"    exc chunks migrate --from /var/lib/excd/chunks --to s3://excd-chunks/prod \\\n" +
			"    --endpoint https://s3.example.com --path-style",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, _ := cmd.Flags().GetString("from")
			to, _ := cmd.Flags().GetString("to")
			if from == "" || to == "" {
				return usageError{errors.New("--from and --to are required")}
			}
			if o.AccessKeyID == "" {
				o.AccessKeyID, o.SecretAccessKey = a.getenv("EXC_CHUNKS_ACCESS_KEY_ID"), a.getenv("EXC_CHUNKS_SECRET_ACCESS_KEY")
			}
			ctx := cmd.Context()
			src, err := openChunks(ctx, from, o, true)
			if err != nil {
				return err
			}
			dst, err := openChunks(ctx, to, o, false)
			if err != nil {
				return err
			}
			rep, err := migrate.Run(ctx, src, dst, migrate.Options{Jobs: jobs})
			if err != nil {
				return err
			}
			if a.jsonOut {
				err = a.printJSON(map[string]any{"chunks": rep.Chunks, "copied": rep.Copied, "skipped": rep.Skipped,
					"bytes_copied": rep.Bytes, "mismatched": append([]string{}, rep.Mismatch...)})
			} else {
				err = a.table(nil, [][]string{
					{"chunks in source", strconv.FormatInt(rep.Chunks, 10)},
					{"copied", strconv.FormatInt(rep.Copied, 10)},
					{"already there (verified)", strconv.FormatInt(rep.Skipped, 10)},
					{"bytes copied", fmtBytes(rep.Bytes)},
					{"differ in target", strconv.Itoa(len(rep.Mismatch))},
				})
				for _, m := range rep.Mismatch {
					fmt.Fprintln(a.stdout, "differs:", m)
				}
			}
			if err != nil {
				return err
			}
			if len(rep.Mismatch) > 0 {
				return errMismatched
			}
			return nil
		},
	}
	f := c.Flags()
	f.String("from", "", "source: a chunk `directory` or s3://BUCKET/PREFIX")
	f.String("to", "", "target: a chunk `directory` or s3://BUCKET/PREFIX")
	f.StringVar(&o.Endpoint, "endpoint", "", "S3 endpoint of the s3:// side (empty: AWS)")
	f.StringVar(&o.Region, "region", "us-east-1", "signing region of the s3:// side")
	f.BoolVar(&o.PathStyle, "path-style", false, "bucket in the path (most self-hosted stores)")
	f.StringVar(&o.CredentialsFile, "credentials", "", "AWS shared credentials `file` for the s3:// side")
	f.IntVar(&jobs, "jobs", 8, "chunks copied at once")
	return c
}

func openChunks(ctx context.Context, where string, o s3chunks.Options, mustExist bool) (chunkstore.Backend, error) {
	if !strings.HasPrefix(where, "s3://") {
		if mustExist {
			if _, err := os.Stat(where); err != nil {
				return nil, err
			}
		}
		return local.New(where)
	}
	o.URL = where
	return s3chunks.New(ctx, o)
}
