package s3gw

import (
	"os"
	"strings"
	"testing"
)

// docs/s3-compatibility.md's "Refused features" section is the one list of
// what the gateway refuses: every subresource the router refuses must be
// in it, so the list cannot fall behind the code.
func TestRefusedFeaturesDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/s3-compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## Refused features")
	if start < 0 {
		t.Fatal(`docs/s3-compatibility.md has no "## Refused features" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	for name := range unsupported {
		if !strings.Contains(section, "`?"+name+"`") && !strings.Contains(section, "?"+name+"`") {
			t.Errorf("the router refuses ?%s (%s), but the Refused features list does not name it", name, unsupported[name])
		}
	}
}
