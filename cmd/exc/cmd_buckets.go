package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/admin"
)

func (a *app) bucketsCmd() *cobra.Command {
	c := group("buckets", "Create, list and delete buckets, make them public",
		"  exc buckets create photos\n  exc buckets list --org acme\n  exc buckets set-public photos true",
		&cobra.Command{
			Use:               "create NAME",
			Short:             "Create a bucket (S3 naming rules)",
			Example:           "  exc buckets create photos\n  exc buckets create backups --org acme",
			Args:              exactArgs("NAME"),
			ValidArgsFunction: cobra.NoFileCompletions,
			RunE: func(cmd *cobra.Command, args []string) error {
				org, err := a.org(cmd)
				if err != nil {
					return err
				}
				b, err := a.api().CreateBucket(cmd.Context(), org, args[0])
				if err != nil {
					return err
				}
				return a.printBuckets(true, b)
			},
		},
		&cobra.Command{
			Use:     "list",
			Short:   "List the org's buckets",
			Example: "  exc buckets list\n  exc buckets list --org acme\n  exc --json buckets list | jq -r '.buckets[].name'",
			Args:    noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				org, err := a.org(cmd)
				if err != nil {
					return err
				}
				bs, err := a.api().Buckets(cmd.Context(), org)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(admin.BucketList{Buckets: bs})
				}
				return a.printBuckets(false, bs...)
			},
		},
		&cobra.Command{
			Use:               "delete NAME",
			Short:             "Delete an empty bucket",
			Example:           "  exc buckets delete photos\n  exc buckets delete backups --org acme",
			Args:              exactArgs("NAME"),
			ValidArgsFunction: a.completeBucketArg,
			RunE: func(cmd *cobra.Command, args []string) error {
				org, err := a.org(cmd)
				if err != nil {
					return err
				}
				if err := a.api().DeleteBucket(cmd.Context(), org, args[0]); err != nil {
					return err
				}
				return a.done("bucket %s deleted", args[0])
			},
		},
		&cobra.Command{
			Use:               "set-public NAME true|false",
			Short:             "Allow (true) or stop (false) anonymous GET and HEAD of the bucket's objects",
			Example:           "  exc buckets set-public photos true\n  exc buckets set-public photos false --org acme",
			Args:              exactArgs("NAME", "true|false"),
			ValidArgsFunction: a.completeBucketArg,
			RunE: func(cmd *cobra.Command, args []string) error {
				public, err := strconv.ParseBool(args[1])
				if err != nil {
					return usagef("set-public: %q is neither true nor false", args[1])
				}
				org, err := a.org(cmd)
				if err != nil {
					return err
				}
				b, err := a.api().SetBucketPublic(cmd.Context(), org, args[0], public)
				if err != nil {
					return err
				}
				if err := a.printBuckets(true, b); err != nil || a.jsonOut || b.PublicURL == "" {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "anyone can GET %s<key>\n", b.PublicURL)
				return err
			},
		},
	)
	// The former home of the key commands, kept so scripts and the hosted
	// service's instructions (exc buckets keys configure) keep working;
	// hidden so help, completion and man pages show the keys once.
	keys := a.keysCmd()
	keys.Hidden = true
	keys.Short = "Same as exc keys (kept for scripts)"
	c.AddCommand(keys)
	c.PersistentFlags().String("org", "", "org `ID|NAME` to act in (default: the default org, made at the daemon's first start)")
	a.completeOrgFlag(c)
	return c
}

// org returns the --org value, or the id of the default org when it is not
// given: the org the daemon's first start made, never the first by name, so
// an org created later can never receive commands meant for the default one.
func (a *app) org(cmd *cobra.Command) (string, error) {
	if org, _ := cmd.Flags().GetString("org"); org != "" {
		return org, nil
	}
	orgs, err := a.api().Orgs(cmd.Context())
	if err != nil {
		return "", err
	}
	if len(orgs) == 0 {
		return "", notFoundError{"no org exists; create one with: exc orgs create NAME"}
	}
	for _, o := range orgs {
		if o.Default {
			return o.ID, nil
		}
	}
	return "", notFoundError{"no default org (see exc orgs list); name one with --org ID|NAME"}
}

func (a *app) printBuckets(single bool, bs ...admin.Bucket) error {
	if a.jsonOut && single && len(bs) == 1 {
		return a.printJSON(bs[0])
	}
	rows := make([][]string, 0, len(bs))
	for _, b := range bs {
		rows = append(rows, []string{b.Name, yesNo(b.IsPublic), b.OrgID, fmtTime(b.Created)})
	}
	if err := a.table([]string{"NAME", "PUBLIC", "ORG ID", "CREATED"}, rows); err != nil {
		return err
	}
	// A flag set while excd had a public domain outlives the domain; say
	// so on stderr, leaving the table as it was for scripts.
	for _, b := range bs {
		if b.IsPublic && b.PublicURL == "" {
			fmt.Fprintf(a.stderr, "exc: bucket %s is flagged public, but excd has no public domain: nothing serves it (exc buckets set-public %s false clears the flag)\n", b.Name, b.Name)
		}
	}
	return nil
}
