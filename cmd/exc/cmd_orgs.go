package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"excloud.dev/buckets/admin"
)

func (a *app) orgsCmd() *cobra.Command {
	return group("orgs", "Create, list and delete orgs (tenants)",
		"  exc orgs create acme\n  exc orgs list\n  exc orgs delete acme",
		&cobra.Command{
			Use:               "create NAME",
			Short:             "Create an org",
			Example:           "  exc orgs create acme\n  exc --json orgs create acme | jq -r .org_id",
			Args:              exactArgs("NAME"),
			ValidArgsFunction: cobra.NoFileCompletions,
			RunE: func(cmd *cobra.Command, args []string) error {
				o, err := a.api().CreateOrg(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return a.printOrgs(o)
			},
		},
		&cobra.Command{
			Use:     "list",
			Short:   "List orgs, ordered by name",
			Example: "  exc orgs list\n  exc --json orgs list | jq -r '.orgs[] | select(.default) | .org_id'",
			Args:    noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				orgs, err := a.api().Orgs(cmd.Context())
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(admin.OrgList{Orgs: orgs})
				}
				return a.printOrgs(orgs...)
			},
		},
		&cobra.Command{
			Use:               "delete ID|NAME",
			Short:             "Delete an org that has no buckets, with its access keys",
			Example:           "  exc orgs delete acme\n  exc orgs delete oabcdefghijkl",
			Args:              exactArgs("ID|NAME"),
			ValidArgsFunction: a.completeOrgArg,
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := a.api().DeleteOrg(cmd.Context(), args[0]); err != nil {
					return err
				}
				return a.done("org %s deleted", args[0])
			},
		},
	)
}

// printOrgs prints one created org (JSON: the object) or a table.
func (a *app) printOrgs(orgs ...admin.Org) error {
	if a.jsonOut && len(orgs) == 1 {
		return a.printJSON(orgs[0])
	}
	rows := make([][]string, 0, len(orgs))
	for _, o := range orgs {
		rows = append(rows, []string{o.ID, o.Name, fmtTime(o.Created), yesNo(o.Default)})
	}
	return a.table([]string{"ORG ID", "NAME", "CREATED", "DEFAULT"}, rows)
}

// done reports a mutation that returns nothing: a line for people, an
// empty-ish object for scripts (which go by the exit code).
func (a *app) done(format string, args ...any) error {
	if a.jsonOut {
		return a.printJSON(map[string]bool{"ok": true})
	}
	_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
	return err
}
