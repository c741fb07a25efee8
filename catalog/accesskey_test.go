package catalog

import (
	"context"
	"testing"
)

// The rules others check seeded keys with accept exactly what the catalog
// generates.
func TestAccessKeyShape(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, "shape")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		k, err := db.CreateAccessKey(ctx, AccessKey{OrgID: org.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !ValidAccessKeyID(k.ID) || !ValidSecret(k.Secret) {
			t.Fatalf("generated key %s (secret of %d chars) fails the shape rules", k.ID, len(k.Secret))
		}
	}
	for _, bad := range []string{"", "EXC", "EXCabcdefghijklmnopq", "ABC12345678901234567", "EXC1234567890123456789"} {
		if ValidAccessKeyID(bad) {
			t.Errorf("ValidAccessKeyID(%q)", bad)
		}
	}
	for _, bad := range []string{"", "short", "0123456789012345678901234567890123456789!"[1:], "012345678901234567890123456789012345678-"} {
		if ValidSecret(bad) {
			t.Errorf("ValidSecret(%q)", bad)
		}
	}
}
