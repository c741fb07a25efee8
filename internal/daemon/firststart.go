package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/fsutil"
)

// DefaultOrg is the name of the org created at first start.
const DefaultOrg = "default"

// CredentialsFile is the name, in the data directory, of the file holding
// the first access key when first start generated it. It is in the AWS
// shared-credentials format so that AWS_SHARED_CREDENTIALS_FILE can point at
// it. It is the only secret excd ever writes into the data directory, and
// only until the operator moves it (docs/service.md, "First start").
const CredentialsFile = "credentials"

// firstStart creates the default org and the first access key when the
// catalog has no org yet, and makes sure a seeded root key exists.
func (d *Daemon) firstStart(ctx context.Context) error {
	ak, sk := d.cfg.RootAccessKey, d.cfg.RootSecretKey
	if (ak == "") != (sk == "") {
		return errors.New("EXC_ROOT_ACCESS_KEY and EXC_ROOT_SECRET_KEY must be set together")
	}
	if ak != "" && !catalog.ValidAccessKeyID(ak) {
		return fmt.Errorf("root access key %q: want EXC followed by 17 uppercase letters or digits", ak)
	}
	if sk != "" && !catalog.ValidSecret(sk) {
		return errors.New("root secret key: want 40 characters of A-Z, a-z, 0-9, + or /")
	}
	path := filepath.Join(d.cfg.DataDir, CredentialsFile)
	orgs, err := d.db.ListOrgs(ctx)
	if err != nil {
		return err
	}
	if len(orgs) > 0 {
		d.warnCredentials(path)
		if ak == "" {
			return nil
		}
		// A seeded key that is missing (first start of an older data
		// directory) is added to the default org; an existing one is kept.
		if _, err := d.db.AccessKey(ctx, ak); err == nil {
			return nil
		} else if !errors.Is(err, catalog.ErrNoSuchKey) {
			return err
		}
		org, err := d.db.DefaultOrg(ctx)
		if errors.Is(err, catalog.ErrNoDefaultOrg) {
			return fmt.Errorf("root access key %s is not in the catalog, and the catalog has no default org to add it to; create a key with exc in the org it belongs to, and unset EXC_ROOT_ACCESS_KEY", ak)
		}
		if err != nil {
			return err
		}
		_, err = d.db.CreateAccessKey(ctx, catalog.AccessKey{ID: ak, Secret: sk, OrgID: org.ID})
		if err == nil {
			d.log.Info("added the seeded root access key to the default org", "org", org.Name, "org_id", org.ID, "access_key_id", ak)
		}
		return err
	}
	// A seeded secret is the operator's already: it is never written to
	// disk outside the (encrypted) catalog. A generated one must reach the
	// operator, so it goes into a new file, created before the key so
	// that a start which cannot write it creates nothing.
	var f *os.File
	if ak == "" {
		if f, err = createCredentials(path); err != nil {
			return err
		}
		defer func() {
			if f != nil {
				f.Close()
				os.Remove(path)
			}
		}()
	}
	org, err := d.db.CreateOrg(ctx, DefaultOrg)
	if err != nil {
		return err
	}
	key, err := d.db.CreateAccessKey(ctx, catalog.AccessKey{ID: ak, Secret: sk, OrgID: org.ID})
	if err != nil {
		return err
	}
	if f == nil {
		d.log.Info("first start: created the default org with the seeded root access key",
			"org", org.Name, "org_id", org.ID, "access_key_id", key.ID)
		return nil
	}
	err = writeCredentials(f, path, org, key)
	f = nil
	if err != nil {
		os.Remove(path) // half a file; exc can make another key
		return err
	}
	d.credPath = path
	d.log.Warn("first start: created the default org and an access key; its secret is in the credentials file. "+
		"Move that file out of the data directory (or copy the key and delete it): until then a copy of the data directory carries a working secret",
		"org", org.Name, "org_id", org.ID, "access_key_id", key.ID, "credentials", path)
	return nil
}

// warnCredentials reminds the operator, at every start, of a credentials
// file still in the data directory.
func (d *Daemon) warnCredentials(path string) {
	if _, err := os.Lstat(path); err == nil {
		d.log.Warn("the data directory still holds the first access key's secret; move the credentials file elsewhere (or delete it once copied)",
			"credentials", path)
	}
}

// createCredentials creates the credentials file. O_EXCL|O_NOFOLLOW: a file
// or symlink already there (left by someone else in a data directory they
// could write) is never written through.
func createCredentials(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write credentials: %s already exists, but the catalog has no org: it is not this catalog's; move it away and start again", path)
	}
	if err != nil {
		return nil, fmt.Errorf("write credentials: %w", err)
	}
	return f, nil
}

func writeCredentials(f *os.File, path string, org catalog.Org, key catalog.AccessKey) error {
	_, err := fmt.Fprintf(f, "# excloud buckets: first access key of org %s (%s).\n"+
		"# Move this file out of the data directory, e.g. to ~/.aws/credentials,\n"+
		"# or use it with AWS_SHARED_CREDENTIALS_FILE=<its new path>.\n"+
		"[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		org.Name, org.ID, key.ID, key.Secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("write credentials %s: %w", path, err)
	}
	return nil
}
