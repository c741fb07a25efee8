package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/admin"
)

func (a *app) keysCmd() *cobra.Command {
	var (
		readOnly bool
		buckets  []string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an access key; its secret is shown only once",
		Example: "  exc keys create\n" +
			"  exc keys create --read-only --bucket photos --bucket videos\n" +
			"  exc --json keys create --org acme > key.json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.org(cmd)
			if err != nil {
				return err
			}
			k, err := a.api().CreateKey(cmd.Context(), org, admin.CreateKeyRequest{ReadOnly: readOnly, Buckets: buckets})
			if err != nil {
				return err
			}
			// The warning goes to stderr so it reaches a person even when
			// stdout is captured by a script.
			defer fmt.Fprintf(a.stderr, "\nThe secret access key is shown only now and cannot be retrieved later; store it safely.\n"+
				"To set up the aws CLI: exc keys configure %s --profile NAME (secret on stdin)\n", k.ID)
			if a.jsonOut {
				return a.printJSON(k)
			}
			return a.table([]string{"FIELD", "VALUE"}, [][]string{
				{"access_key_id", k.ID},
				{"secret_access_key", k.Secret},
				{"org_id", k.OrgID},
				{"access", access(k.AccessKey)},
				{"buckets", scope(k.AccessKey)},
			})
		},
	}
	create.Flags().BoolVar(&readOnly, "read-only", false, "the key may only read (GET, HEAD, list)")
	create.Flags().StringArrayVar(&buckets, "bucket", nil, "restrict the key to this `BUCKET` (repeatable; default: every bucket of the org)")
	create.RegisterFlagCompletionFunc("bucket", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return a.bucketNames(cmd, toComplete)
	})

	configure := a.configureCmd()
	if configure.Example == "" {
		configure.Example = "  printf '%s\\n' \"$SECRET\" | exc keys configure EXC… --profile excd\n" +
			"  exc keys configure EXC… --profile excd --endpoint https://s3.example.com"
	}

	keys := group("keys", "Create, list, delete access keys; configure the aws CLI for one",
		"  exc keys create --bucket photos\n  exc keys list --org acme\n  exc keys delete EXC…",
		create,
		&cobra.Command{
			Use:     "list",
			Short:   "List the org's access keys (never their secrets)",
			Example: "  exc keys list\n  exc keys list --org acme\n  exc --json keys list | jq -r '.keys[].access_key_id'",
			Args:    noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				org, err := a.org(cmd)
				if err != nil {
					return err
				}
				ks, err := a.api().Keys(cmd.Context(), org)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(admin.KeyList{Keys: ks})
				}
				rows := make([][]string, 0, len(ks))
				for _, k := range ks {
					rows = append(rows, []string{k.ID, access(k), scope(k), fmtTime(k.Created)})
				}
				return a.table([]string{"ACCESS KEY ID", "ACCESS", "BUCKETS", "CREATED"}, rows)
			},
		},
		&cobra.Command{
			Use:               "delete ID",
			Short:             "Delete an access key; its next request is refused",
			Example:           "  exc keys delete EXCAAAAAAAAAAAAAAAAA",
			Args:              exactArgs("ID"),
			ValidArgsFunction: a.completeKeyIDs,
			RunE: func(cmd *cobra.Command, args []string) error {
				// Key ids are unique across orgs: without --org the key is
				// found by id alone rather than in the default org.
				org, _ := cmd.Flags().GetString("org")
				if err := a.api().DeleteKey(cmd.Context(), org, args[0]); err != nil {
					return err
				}
				return a.done("access key %s deleted", args[0])
			},
		},
		configure,
	)
	keys.Long = "Access keys belong to an org (--org, default: the default org) and may be limited to some\n" +
		"of its buckets and to reading. The same commands answer as \"exc buckets keys …\"."
	return keys
}

func access(k admin.AccessKey) string {
	if k.ReadOnly {
		return "read-only"
	}
	return "read-write"
}

func scope(k admin.AccessKey) string {
	if len(k.Buckets) == 0 {
		return "*"
	}
	return strings.Join(k.Buckets, ",")
}
