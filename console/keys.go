package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"excloud.dev/buckets/admin/clientconf"
	"excloud.dev/buckets/catalog"
)

type keyJSON struct {
	ID       string    `json:"id"`
	ReadOnly bool      `json:"read_only"`
	Buckets  []string  `json:"buckets"`
	Admin    bool      `json:"admin"`
	Created  time.Time `json:"created"`
	Current  bool      `json:"current"` // the key this session signed in with
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	ks, err := s.cfg.Catalog.ListAccessKeys(r.Context(), c.org())
	if err != nil {
		return err
	}
	out := []keyJSON{}
	for _, k := range ks {
		out = append(out, keyJSON{ID: k.ID, ReadOnly: k.ReadOnly, Buckets: append([]string{}, k.Buckets...),
			Admin: isAdmin(k), Created: k.Created.UTC(), Current: k.ID == c.key.ID})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		ReadOnly bool     `json:"read_only"`
		Buckets  []string `json:"buckets"`
	}
	if err := readJSON(r, &in, 64<<10); err != nil {
		return err
	}
	for _, b := range in.Buckets {
		if err := catalog.ValidBucketName(b); err != nil {
			return apiErr(http.StatusBadRequest, "InvalidBucketName", "%q is not a valid bucket name.", b)
		}
	}
	slices.Sort(in.Buckets)
	k, err := s.cfg.Catalog.CreateAccessKey(r.Context(), catalog.AccessKey{OrgID: c.org(), ReadOnly: in.ReadOnly, Buckets: slices.Compact(in.Buckets)})
	if err != nil {
		return err
	}
	s.log.Info("console: access key created", "by", c.key.ID, "org", c.org(), "access_key", k.ID, "read_only", k.ReadOnly, "buckets", k.Buckets)
	out := map[string]any{"id": k.ID, "secret": k.Secret, "read_only": k.ReadOnly, "buckets": append([]string{}, k.Buckets...),
		"created": k.Created.UTC(), "snippets": snippets(k, s.cfg.S3URL(r))}
	return writeJSON(w, http.StatusCreated, out)
}

// snippets are the client configurations of exc buckets keys configure
// --format, for the new key on this server's S3 endpoint.
func snippets(k catalog.AccessKey, endpoint string) map[string]string {
	ck := clientconf.Key{Name: "excd", AccessKeyID: k.ID, SecretAccessKey: k.Secret, Endpoint: endpoint}
	if ck.Validate() != nil {
		return map[string]string{}
	}
	aws := "# ~/.aws/credentials\n[excd]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\n\n" +
		"# ~/.aws/config\n[profile excd]\nregion = auto\nendpoint_url = " + endpoint + "\ns3 =\n    addressing_style = path\n"
	unnamed := ck
	unnamed.Name = ""
	return map[string]string{
		"aws":    aws,
		"rclone": clientconf.Rclone(ck),
		"s3cmd":  clientconf.S3cmd(unnamed),
		"env":    clientconf.Env(unnamed),
		"boto3":  clientconf.Boto3(unnamed),
	}
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	k, err := s.cfg.Catalog.AccessKey(r.Context(), id)
	if err != nil {
		return err
	}
	// Another org's key is as absent as one that does not exist.
	if k.OrgID != c.org() {
		return apiErr(http.StatusNotFound, "NoSuchAccessKey", "There is no such access key in this org.")
	}
	if strings.EqualFold(id, c.key.ID) {
		return apiErr(http.StatusConflict, "KeyInUse", "This session signed in with that key; sign in with another administrator key to delete it.")
	}
	if err := s.cfg.Catalog.DeleteAccessKey(r.Context(), id); err != nil {
		return err
	}
	s.sessions.removeKey(id)
	s.log.Info("console: access key deleted", "by", c.key.ID, "org", c.org(), "access_key", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) store(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.cfg.Store == nil {
		return apiErr(http.StatusNotImplemented, "NotImplemented", "This server does not report its store's status.")
	}
	st, err := s.cfg.Store(r.Context())
	if err != nil {
		return err
	}
	if st.DedupSavedBytes == 0 && st.LogicalBytes > st.UsedBytes {
		st.DedupSavedBytes = st.LogicalBytes - st.UsedBytes
	}
	return writeJSON(w, http.StatusOK, st)
}
