package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Show the daemon's version, uptime and usage",
		Example: "  exc status\n  exc --json status | jq .bytes_stored",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.api().Status(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(st)
			}
			err = a.table(nil, [][]string{
				{"version", fmt.Sprintf("%s (commit %s)", st.Version, st.Commit)},
				{"uptime", (time.Duration(st.UptimeSeconds) * time.Second).String()},
				{"orgs", strconv.Itoa(st.Orgs)},
				{"buckets", strconv.Itoa(st.Buckets)},
				{"objects", strconv.FormatInt(st.Objects, 10)},
				{"uploads in progress", strconv.FormatInt(st.Uploads, 10)},
				{"bytes stored (logical)", fmtBytes(st.BytesStored)},
				{"bytes after dedup", fmtBytes(st.BytesAfterDedup)},
			})
			if err != nil || len(st.Usage) == 0 {
				return err
			}
			fmt.Fprintln(a.stdout)
			rows := make([][]string, 0, len(st.Usage))
			for _, u := range st.Usage {
				rows = append(rows, []string{u.Name, u.OrgID, strconv.Itoa(u.Buckets),
					strconv.FormatInt(u.Objects, 10), fmtBytes(u.BytesStored)})
			}
			return a.table([]string{"ORG", "ORG ID", "BUCKETS", "OBJECTS", "BYTES STORED"}, rows)
		},
	}
}
