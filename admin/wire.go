package admin

import "time"

// Org is an org as the API shows it.
type Org struct {
	ID      string    `json:"org_id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Default marks the default org (catalog.DB.DefaultOrg), the one exc
	// acts on without --org.
	Default bool `json:"default"`
}

// Bucket is a bucket as the API shows it.
type Bucket struct {
	OrgID    string    `json:"org_id"`
	Name     string    `json:"name"`
	IsPublic bool      `json:"is_public"`
	Created  time.Time `json:"created"`
	// PublicURL is where anyone can read the bucket's objects (append the
	// key), e.g. "http://<org-id>.objects.example.com:9000/photos/". Set
	// only while the bucket is public and the daemon has a public domain:
	// a public bucket without it is served nowhere.
	PublicURL string `json:"public_url,omitempty"`
}

// AccessKey is an access key without its secret: what every response except
// the creating one shows. Keeping the secret out of this type (rather than
// in an omitempty field) means no list or get handler can leak it by
// forgetting to blank a field.
type AccessKey struct {
	ID       string    `json:"access_key_id"`
	OrgID    string    `json:"org_id"`
	ReadOnly bool      `json:"read_only"`
	Buckets  []string  `json:"buckets"` // empty: every bucket of the org
	Created  time.Time `json:"created"`
}

// NewAccessKey is the response to key creation, the only place a secret
// appears.
type NewAccessKey struct {
	AccessKey
	Secret string `json:"secret_access_key"`
}

// Status describes the running daemon. Config.Status fills Version, Commit,
// UptimeSeconds and BytesAfterDedup (what only the daemon knows); the server
// adds everything it reads from the catalog.
type Status struct {
	Version         string     `json:"version"`
	Commit          string     `json:"commit"`
	UptimeSeconds   int64      `json:"uptime_seconds"`
	Orgs            int        `json:"orgs"`
	Buckets         int        `json:"buckets"`
	Objects         int64      `json:"objects"`
	Uploads         int64      `json:"uploads_in_progress"` // multipart
	BytesStored     int64      `json:"bytes_stored"`        // logical: the sum of object sizes
	BytesAfterDedup int64      `json:"bytes_after_dedup"`   // what the chunk store holds
	Chunks          int64      `json:"chunks"`              // chunks referenced by the catalog
	Usage           []OrgUsage `json:"usage"`               // per org, ordered by name
}

// OrgUsage is one org's share of Status.
type OrgUsage struct {
	OrgID       string `json:"org_id"`
	Name        string `json:"name"`
	Buckets     int    `json:"buckets"`
	Objects     int64  `json:"objects"`
	Uploads     int64  `json:"uploads_in_progress"`
	BytesStored int64  `json:"bytes_stored"`
}

// Request bodies.
type (
	// CreateOrgRequest is the body of POST /v1/orgs.
	CreateOrgRequest struct {
		Name string `json:"name"`
	}
	// CreateBucketRequest is the body of POST /v1/orgs/{org}/buckets.
	CreateBucketRequest struct {
		Name string `json:"name"`
	}
	// SetPublicRequest is the body of PUT /v1/orgs/{org}/buckets/{name}/public.
	SetPublicRequest struct {
		IsPublic bool `json:"is_public"`
	}
	// CreateKeyRequest is the body of POST /v1/orgs/{org}/keys.
	CreateKeyRequest struct {
		ReadOnly bool     `json:"read_only"`
		Buckets  []string `json:"buckets,omitempty"`
	}
)

// List responses wrap their array in an object so fields (paging, say) can
// be added later without breaking clients.
type (
	OrgList struct {
		Orgs []Org `json:"orgs"`
	}
	BucketList struct {
		Buckets []Bucket `json:"buckets"`
	}
	KeyList struct {
		Keys []AccessKey `json:"keys"`
	}
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
