package pgtest

import (
	"context"
	"testing"
)

// A durable server syncs its commits (a benchmark against Badger's synced
// commits would mean nothing otherwise); the tests' server does not.
func TestDurableSettings(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts Options
		want string
	}{{Options{Durable: true}, "on"}, {Options{}, "off"}} {
		conn := connect(t, StartWith(t, tc.opts).NewDB(t))
		for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
			var got string
			if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Durable=%v: %s = %s, want %s", tc.opts.Durable, name, got, tc.want)
			}
		}
	}
}
