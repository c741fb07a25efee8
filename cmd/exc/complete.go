package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Shell completion of names asks the daemon over the admin socket (the
// --socket flag and $EXC_SOCKET count as for any command). A daemon that is
// not there, or slow, yields no names rather than a hung shell or file names.

// completionTimeout bounds one completion's round trip to the daemon: a
// person pressing TAB waits at most this long.
const completionTimeout = 3 * time.Second

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// bucketNames completes the names of the buckets of the --org org (default:
// the default org).
func (a *app) bucketNames(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := completionContext(cmd)
	defer cancel()
	cmd.SetContext(ctx)
	org, err := a.org(cmd)
	if err != nil {
		cobra.CompDebugln("exc: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	bs, err := a.api().Buckets(ctx, org)
	if err != nil {
		cobra.CompDebugln("exc: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, b := range bs {
		if strings.HasPrefix(b.Name, toComplete) {
			desc := "private"
			if b.IsPublic {
				desc = "public"
			}
			out = append(out, cobra.CompletionWithDesc(b.Name, desc))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeBucketArg completes a command's first argument with bucket
// names; the second of set-public with true or false.
func (a *app) completeBucketArg(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch {
	case len(args) == 0:
		return a.bucketNames(cmd, toComplete)
	case len(args) == 1 && cmd.Name() == "set-public":
		return []cobra.Completion{"true", "false"}, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// orgNames completes org names, the default org's described as such.
func (a *app) orgNames(cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := completionContext(cmd)
	defer cancel()
	orgs, err := a.api().Orgs(ctx)
	if err != nil {
		cobra.CompDebugln("exc: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, o := range orgs {
		if strings.HasPrefix(o.Name, toComplete) {
			desc := "org " + o.ID
			if o.Default {
				desc += " (default)"
			}
			out = append(out, cobra.CompletionWithDesc(o.Name, desc))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) completeOrgArg(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.orgNames(cmd, toComplete)
}

// completeOrgFlag makes --org of cmd (a persistent flag, so its
// subcommands too) complete org names.
func (a *app) completeOrgFlag(cmd *cobra.Command) {
	cmd.RegisterFlagCompletionFunc("org", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return a.orgNames(cmd, toComplete)
	})
}

// completeKeyIDs completes the access key ids of the --org org.
func (a *app) completeKeyIDs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	cmd.SetContext(ctx)
	org, err := a.org(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ks, err := a.api().Keys(ctx, org)
	if err != nil {
		cobra.CompDebugln("exc: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, k := range ks {
		if strings.HasPrefix(k.ID, toComplete) {
			out = append(out, cobra.CompletionWithDesc(k.ID, access(k)+", buckets "+scope(k)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
