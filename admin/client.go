package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"excloud.dev/buckets/internal/fsutil"
)

// Client calls the admin API over a unix socket. Its methods return *Error
// for an error response and *UnreachableError when the daemon cannot be
// reached at all.
type Client struct {
	socket string
	hc     *http.Client
}

// Dial returns a client for the socket at socketPath. It does not connect
// yet: each call dials the socket (idle connections are reused). It talks
// only to a socket made by root or by the user it runs as, and only to a
// listener running as one of them: requests carry secrets both ways (new
// keys, backups), and a socket path in a directory another user can write
// (./excd-data of someone else's checkout, a missing /run/excd) could be
// theirs.
func Dial(socketPath string) *Client {
	d := net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialTrusted(ctx, &d, socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socketPath, hc: &http.Client{Transport: tr}}
}

// dialTrusted connects to the socket at path if root, this user or the
// service account (ServiceUser) owns it, and keeps the connection if one of
// them is listening on it. The second check (SO_PEERCRED, the listener's
// credentials) closes the window between the lstat and the connect.
func dialTrusted(ctx context.Context, d *net.Dialer, path string) (net.Conn, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s is not a socket", path)
		}
		if err := checkServerSocketOwner(path, fi); err != nil {
			return nil, err
		}
	} // else the dial reports the missing socket
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	uid, pid, err := peerCred(c.(*net.UnixConn))
	if err == nil && !trustedServer(uint32(uid)) {
		err = &fsutil.UntrustedError{What: "admin socket", Path: path,
			Reason: fmt.Sprintf("the process listening on it (pid %d) runs as uid %d, neither root, this user (uid %d) nor the service user %s: it is not excd", pid, uid, os.Geteuid(), ServiceUser)}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Socket returns the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// UnreachableError: the request never got an answer from excd (no socket,
// permission denied, nobody listening, connection dropped, e.g. by the peer
// check).
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach excd at %s: %v", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// do sends a request with an optional JSON body and decodes a JSON response
// into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	// The host is a placeholder: the transport dials the socket whatever
	// the URL says.
	req, err := http.NewRequestWithContext(ctx, method, "http://excd"+path, body)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("admin: %s %s: %w", method, path, ctx.Err())
		}
		// Strip the wrappers that repeat the socket path or name the
		// made-up URL: "connect: permission denied" is what matters.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			err = oe.Err
		}
		return &UnreachableError{Socket: c.socket, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &UnreachableError{Socket: c.socket, Err: fmt.Errorf("reading response: %w", err)}
	}
	if resp.StatusCode >= 400 {
		return decodeError(method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("admin: %s %s: decoding response: %w", method, path, err)
		}
	}
	return nil
}

// decodeError turns an error response into an *Error.
func decodeError(method, path string, status int, data []byte) error {
	var eb errorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return &Error{Code: CodeInternal, Status: status,
			Message: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, status, strings.TrimSpace(string(data)))}
	}
	return &Error{Code: eb.Error.Code, Message: eb.Error.Message, Status: status}
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Orgs lists every org, ordered by name.
func (c *Client) Orgs(ctx context.Context) ([]Org, error) {
	var l OrgList
	return l.Orgs, c.do(ctx, http.MethodGet, "/v1/orgs", nil, &l)
}

// CreateOrg creates an org.
func (c *Client) CreateOrg(ctx context.Context, name string) (Org, error) {
	var o Org
	return o, c.do(ctx, http.MethodPost, "/v1/orgs", CreateOrgRequest{Name: name}, &o)
}

// Org returns the org with this id or name.
func (c *Client) Org(ctx context.Context, org string) (Org, error) {
	var o Org
	return o, c.do(ctx, http.MethodGet, "/v1/orgs/"+seg(org), nil, &o)
}

// DeleteOrg deletes an org (by id or name) that has no buckets, with its
// access keys.
func (c *Client) DeleteOrg(ctx context.Context, org string) error {
	return c.do(ctx, http.MethodDelete, "/v1/orgs/"+seg(org), nil, nil)
}

// Buckets lists the org's buckets.
func (c *Client) Buckets(ctx context.Context, org string) ([]Bucket, error) {
	var l BucketList
	return l.Buckets, c.do(ctx, http.MethodGet, "/v1/orgs/"+seg(org)+"/buckets", nil, &l)
}

// CreateBucket creates a bucket in the org.
func (c *Client) CreateBucket(ctx context.Context, org, name string) (Bucket, error) {
	var b Bucket
	return b, c.do(ctx, http.MethodPost, "/v1/orgs/"+seg(org)+"/buckets", CreateBucketRequest{Name: name}, &b)
}

// Bucket returns one bucket of the org.
func (c *Client) Bucket(ctx context.Context, org, name string) (Bucket, error) {
	var b Bucket
	return b, c.do(ctx, http.MethodGet, "/v1/orgs/"+seg(org)+"/buckets/"+seg(name), nil, &b)
}

// DeleteBucket deletes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, org, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/orgs/"+seg(org)+"/buckets/"+seg(name), nil, nil)
}

// SetBucketPublic makes a bucket readable without credentials, or not, and
// returns it as changed.
func (c *Client) SetBucketPublic(ctx context.Context, org, name string, public bool) (Bucket, error) {
	var b Bucket
	return b, c.do(ctx, http.MethodPut, "/v1/orgs/"+seg(org)+"/buckets/"+seg(name)+"/public", SetPublicRequest{IsPublic: public}, &b)
}

// Keys lists the org's access keys, without secrets.
func (c *Client) Keys(ctx context.Context, org string) ([]AccessKey, error) {
	var l KeyList
	return l.Keys, c.do(ctx, http.MethodGet, "/v1/orgs/"+seg(org)+"/keys", nil, &l)
}

// CreateKey creates an access key in the org. The result holds the secret;
// no later call returns it again.
func (c *Client) CreateKey(ctx context.Context, org string, req CreateKeyRequest) (NewAccessKey, error) {
	var k NewAccessKey
	return k, c.do(ctx, http.MethodPost, "/v1/orgs/"+seg(org)+"/keys", req, &k)
}

// Key returns an access key (without secret). With org "" it is looked up
// by id alone; otherwise it must belong to that org.
func (c *Client) Key(ctx context.Context, org, id string) (AccessKey, error) {
	var k AccessKey
	return k, c.do(ctx, http.MethodGet, keyPath(org, id), nil, &k)
}

// DeleteKey deletes an access key. With org "" it is addressed by id alone;
// otherwise it must belong to that org.
func (c *Client) DeleteKey(ctx context.Context, org, id string) error {
	return c.do(ctx, http.MethodDelete, keyPath(org, id), nil, nil)
}

func keyPath(org, id string) string {
	if org == "" {
		return "/v1/keys/" + seg(id)
	}
	return "/v1/orgs/" + seg(org) + "/keys/" + seg(id)
}
