package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genManCmd writes excd's man page (excd.8) from the command tree, so the
// page lists exactly the flags this binary has. Hidden: it is a build step
// (packaging/build-deb.sh), not something an operator runs.
func genManCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write excd's man page (excd.8) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeManPage(root, args[0])
		},
	}
}

// writeManPage writes DIR/excd.8. Section 8: excd is a daemon run by the
// administrator (exc's pages are section 1).
func writeManPage(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen-man: %w", err)
	}
	// No "auto generated" footer; the date is $SOURCE_DATE_EPOCH when set
	// (reproducible builds), else today.
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "EXCD", Section: "8", Source: "excloud buckets " + version, Manual: "excloud buckets"}
	f, err := os.Create(dir + "/excd.8")
	if err != nil {
		return fmt.Errorf("gen-man: %w", err)
	}
	if err := doc.GenMan(root, hdr, f); err != nil {
		f.Close()
		return fmt.Errorf("gen-man: %w", err)
	}
	return f.Close()
}
