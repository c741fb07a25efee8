package config

import (
	"bytes"
	"strings"
	"testing"
)

// The catalog setting comes from the flag, the environment or the file, and
// takes any connection string pgx parses; empty keeps Badger.
func TestCatalogSetting(t *testing.T) {
	c, err := load(t, "", nil)
	if err != nil || c.Catalog != "" {
		t.Fatalf("default catalog = %q, %v; want empty (Badger)", c.Catalog, err)
	}
	sock := "postgres:///excd?host=/run/postgresql"
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{"file", `catalog = "` + sock + `"`, nil, nil, sock},
		{"env", "", map[string]string{"EXC_CATALOG": "host=db dbname=excd sslmode=require"}, nil, "host=db dbname=excd sslmode=require"},
		{"flag over env", "", map[string]string{"EXC_CATALOG": sock}, []string{"--catalog", "postgresql://u@db:5433/x?sslmode=verify-full"}, "postgresql://u@db:5433/x?sslmode=verify-full"},
	} {
		c, err := load(t, tc.file, tc.env, tc.args...)
		if err != nil || c.Catalog != tc.want {
			t.Errorf("%s: catalog = %q, %v; want %q", tc.name, c.Catalog, err, tc.want)
		}
	}
	for _, bad := range []string{"mysql://x/y", "just-a-name", "postgres://u:pw@db:notaport/x"} {
		_, err := load(t, "", map[string]string{"EXC_CATALOG": bad})
		if err == nil || !strings.Contains(err.Error(), "EXC_CATALOG") {
			t.Errorf("catalog %q: err = %v; want a refusal naming EXC_CATALOG", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") && strings.Contains(bad, ":pw@") {
			t.Errorf("catalog %q: the error shows the password: %v", bad, err)
		}
	}
}

// --print-config masks a password in every form a connection string may
// carry it, and keeps the rest readable.
func TestCatalogPasswordMasked(t *testing.T) {
	for _, tc := range []struct{ in, keep string }{
		{"postgres://excd:Hunter2pw@db.example.com:5432/excd?sslmode=verify-full", "db.example.com:5432/excd"},
		{"postgresql://excd@db/excd?password=Hunter2pw&sslmode=require", "sslmode=require"},
		{"host=db user=excd password=Hunter2pw dbname=excd", "dbname=excd"},
		{"host=db password = 'Hunter2pw with space\\' quote' dbname=excd", "dbname=excd"},
		{"host=db PASSWORD=Hunter2pw", "host=db"},
	} {
		c, err := load(t, "", map[string]string{"EXC_CATALOG": tc.in})
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		var b bytes.Buffer
		if err := c.WriteTOML(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, "Hunter2") || strings.Contains(out, "quote") {
			t.Errorf("%q: password shown:\n%s", tc.in, out)
		}
		if !strings.Contains(out, "catalog = ") || !strings.Contains(out, tc.keep) || !strings.Contains(out, masked) {
			t.Errorf("%q: want the catalog line with %q and the mask:\n%s", tc.in, tc.keep, out)
		}
	}
	// Without a password nothing changes.
	if got := RedactCatalog("postgres://excd@db/excd?sslmode=require"); got != "postgres://excd@db/excd?sslmode=require" {
		t.Errorf("no password: %q", got)
	}
}
