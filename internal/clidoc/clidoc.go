// Package clidoc holds what exc and excd share about their cobra command
// trees: man pages generated from the tree, and the checks that keep every
// command's help complete. Each binary writes its own pages (a hidden
// command, see ManCommand) so the pages shipped in the .deb describe exactly
// the binary shipped beside them, version included.
package clidoc

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// ManCommandName is the hidden command that writes a binary's man pages,
// as packaging/build-deb.sh runs it: `exc gen-man DIR` (and excd's own
// command of the same name).
const ManCommandName = "gen-man"

// ManCommand returns the hidden command "gen-man DIR" that writes one man page
// per visible command of its root's tree into DIR, in the given manual
// section (1 for exc: exc.1, exc-buckets.1, …; 8 for the daemon: excd.8).
// Dates come from $SOURCE_DATE_EPOCH when set (reproducible builds), else
// today.
func ManCommand(product, section string) *cobra.Command {
	return &cobra.Command{
		Use:     ManCommandName + " DIR",
		Short:   "Write the man pages of every command into DIR (for packaging)",
		Example: "  " + ManCommandName + " /tmp/man1 && man -l /tmp/man1/*.1",
		Hidden:  true,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return WriteMan(cmd.Root(), product, section, args[0])
		},
	}
}

// WriteMan writes the man pages of root's tree into dir (made if missing), in
// manual section section.
// product names the manual in each page's header.
func WriteMan(root *cobra.Command, product, section, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	// The tree's own help and completion commands are made lazily by
	// cobra when a command line is executed; make them now so their pages
	// exist too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	h := &doc.GenManHeader{Section: section, Source: product + " " + root.Version, Manual: product + " manual"}
	if err := doc.GenManTree(root, h, dir); err != nil {
		return fmt.Errorf("man pages in %s: %w", dir, err)
	}
	return nil
}

// Walk calls fn for cmd and every command below it, hidden ones included.
func Walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		Walk(c, fn)
	}
}

// MissingExamples lists the command paths in root's tree (hidden commands
// included, cobra's internal __complete ones excepted) whose help has no
// Examples section. Tests of each binary assert it is empty.
func MissingExamples(root *cobra.Command) []string {
	var missing []string
	Walk(root, func(c *cobra.Command) {
		if c.Name() == cobra.ShellCompRequestCmd || c.Name() == cobra.ShellCompNoDescRequestCmd {
			return
		}
		if !c.HasExample() {
			missing = append(missing, c.CommandPath())
		}
	})
	return missing
}

// EnableSuggestions makes every command of the tree suggest its nearest
// subcommand (Levenshtein distance 2, or a prefix) for a mistyped one.
func EnableSuggestions(root *cobra.Command) {
	Walk(root, func(c *cobra.Command) {
		c.DisableSuggestions = false
		c.SuggestionsMinimumDistance = 2
	})
}
