package clidoc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func sample() *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "A tool", Example: "  tool run", Version: "1.2"}
	run := &cobra.Command{Use: "run", Short: "Run it", Example: "  tool run --fast", RunE: func(*cobra.Command, []string) error { return nil }}
	run.Flags().Bool("fast", false, "go fast")
	bare := &cobra.Command{Use: "bare", Short: "No example", RunE: func(*cobra.Command, []string) error { return nil }}
	hidden := &cobra.Command{Use: "secret", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
	root.AddCommand(run, bare, hidden, ManCommand("tool", "1"))
	return root
}

func TestMissingExamples(t *testing.T) {
	got := MissingExamples(sample())
	want := []string{"tool bare", "tool secret"}
	if !slices.Equal(got, want) {
		t.Fatalf("missing examples: %v, want %v", got, want)
	}
}

func TestManCommandWritesPages(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	dir := filepath.Join(t.TempDir(), "man1")
	root := sample()
	root.SetArgs([]string{ManCommandName, dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	// Visible commands only: no page for the hidden one nor for gen-man.
	want := []string{"tool-bare.1", "tool-completion-bash.1", "tool-completion-fish.1", "tool-completion-powershell.1",
		"tool-completion-zsh.1", "tool-completion.1", "tool-run.1", "tool.1"}
	if !slices.Equal(names, want) {
		t.Fatalf("pages %v, want %v", names, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tool-run.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`.TH "TOOL-RUN" "1" "Jan 2026" "tool 1.2" "tool manual"`, ".SH EXAMPLE", "tool run --fast", `\fB--fast\fP`} {
		if !strings.Contains(string(b), s) {
			t.Fatalf("tool-run.1 lacks %q:\n%s", s, b)
		}
	}
	if strings.Contains(string(b), "Auto generated") {
		t.Fatalf("tool-run.1 has cobra's generator tag:\n%s", b)
	}
}

func TestEnableSuggestions(t *testing.T) {
	root := sample()
	EnableSuggestions(root)
	if got := root.SuggestionsFor("rnu"); !slices.Equal(got, []string{"run"}) {
		t.Fatalf("suggestions for rnu: %v", got)
	}
}
