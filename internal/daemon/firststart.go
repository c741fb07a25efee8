package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"excloud.dev/buckets/catalog"
)

// DefaultOrg is the name of the org created at first start.
const DefaultOrg = "default"

// CredentialsFile is the name, in the data directory, of the file holding
// the first access key. It is in the AWS shared-credentials format so that
// AWS_SHARED_CREDENTIALS_FILE can point at it.
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
	orgs, err := d.db.ListOrgs(ctx)
	if err != nil {
		return err
	}
	if len(orgs) > 0 {
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
			d.log.Info("added the seeded root access key to the default org", "org", org.ID, "access_key_id", ak)
		}
		return err
	}
	org, err := d.db.CreateOrg(ctx, DefaultOrg)
	if err != nil {
		return err
	}
	key, err := d.db.CreateAccessKey(ctx, catalog.AccessKey{ID: ak, Secret: sk, OrgID: org.ID})
	if err != nil {
		return err
	}
	path := filepath.Join(d.cfg.DataDir, CredentialsFile)
	if err := writeCredentials(path, org, key); err != nil {
		return err
	}
	d.credPath = path
	d.log.Info("first start: created org and access key; the secret is in the credentials file",
		"org", org.ID, "access_key_id", key.ID, "credentials", path)
	return nil
}

func writeCredentials(path string, org catalog.Org, key catalog.AccessKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	_, err = fmt.Fprintf(f, "# excloud buckets: first access key of org %s (%s).\n"+
		"# Use with AWS_SHARED_CREDENTIALS_FILE=%s, or copy into ~/.aws/credentials.\n"+
		"[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		org.Name, org.ID, path, key.ID, key.Secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}
