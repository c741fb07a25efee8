package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/catalog"
)

// cookieName is the session cookie. Its value is the session id: 32 random
// bytes, the only thing that identifies a session.
const cookieName = "exc_console"

// session is one sign-in. key holds the secret: share links are presigned
// with it. It is never logged and never sent to the browser.
type session struct {
	id      string
	csrf    string
	key     catalog.AccessKey
	org     catalog.Org
	created time.Time

	mu       sync.Mutex
	lastSeen time.Time
	// done is closed when the session ends (sign-out, expiry noticed, key
	// deleted): its change feeds stop.
	done     chan struct{}
	doneOnce sync.Once
	streams  atomic.Int32 // change feeds open
}

func (s *session) end() { s.doneOnce.Do(func() { close(s.done) }) }

type sessions struct {
	idle, maxAge time.Duration
	now          func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, now: now, byID: map[string]*session{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session under a fresh id; any session the browser had is
// ended by the caller first, so an id planted before sign-in is worth
// nothing after it (fixation).
func (ss *sessions) create(k catalog.AccessKey, org catalog.Org) *session {
	now := ss.now()
	s := &session{id: randomToken(), csrf: randomToken(), key: k, org: org,
		created: now, lastSeen: now, done: make(chan struct{})}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweepLocked(now)
	ss.byID[s.id] = s
	return s
}

// sweepLocked drops expired sessions, so abandoned ones do not pile up.
func (ss *sessions) sweepLocked(now time.Time) {
	for id, s := range ss.byID {
		if ss.expired(s, now) {
			delete(ss.byID, id)
			s.end()
		}
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	s.mu.Lock()
	last := s.lastSeen
	s.mu.Unlock()
	return now.Sub(last) >= ss.idle || now.Sub(s.created) >= ss.maxAge
}

// get returns the live session with id; touch counts the request as
// activity (a change feed's stream does not keep a session alive).
func (ss *sessions) get(id string, touch bool) (*session, bool) {
	if id == "" {
		return nil, false
	}
	ss.mu.Lock()
	s, ok := ss.byID[id]
	if ok && ss.expired(s, ss.now()) {
		delete(ss.byID, id)
		s.end()
		ok = false
	}
	ss.mu.Unlock()
	if !ok {
		return nil, false
	}
	if touch {
		s.mu.Lock()
		s.lastSeen = ss.now()
		s.mu.Unlock()
	}
	return s, true
}

// alive reports whether s still stands: a change feed asks this on every
// ping.
func (ss *sessions) alive(s *session) bool {
	_, ok := ss.get(s.id, false)
	return ok
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	s, ok := ss.byID[id]
	delete(ss.byID, id)
	ss.mu.Unlock()
	if ok {
		s.end()
	}
}

// removeKey ends every session of an access key (the key was deleted).
func (ss *sessions) removeKey(keyID string) {
	ss.mu.Lock()
	var gone []*session
	for id, s := range ss.byID {
		if s.key.ID == keyID {
			delete(ss.byID, id)
			gone = append(gone, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range gone {
		s.end()
	}
}

// closeAll ends every session (the server stops).
func (ss *sessions) closeAll() {
	ss.mu.Lock()
	all := ss.byID
	ss.byID = map[string]*session{}
	ss.mu.Unlock()
	for _, s := range all {
		s.end()
	}
}

// setCookie sets the session cookie, Secure when the browser reached the
// console over HTTPS: this listener's TLS, or a proxy in front that
// terminated it and says so (X-Forwarded-Proto). A client that claims
// https falsely only gets a cookie its browser will not send back over
// http.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	secure := s.cfg.TLS || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	})
}

func cookieValue(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// errCSRF is the one answer to a request that may have come from another
// site.
var errCSRF = apiErr(http.StatusForbidden, "CSRFRejected", "The request did not come from the console's own page; reload it and try again.")

// checkOrigin refuses a request another site's page made the browser send:
// Origin, when present, must name the console's own host and port, and
// Sec-Fetch-Site, when present, be same-origin or none (typed,
// bookmarked). The scheme is not compared: behind a proxy that terminates
// TLS the browser's origin is https while this listener sees http.
func checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return errCSRF
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return errCSRF
}

// checkCSRF is checkOrigin plus the session's token, which only the
// console's own page can read (it is in a response body, never a cookie).
func checkCSRF(r *http.Request, sess *session) error {
	if err := checkOrigin(r); err != nil {
		return err
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// sessionBody is the answer to sign-in and GET /api/session.
type sessionBody struct {
	Org struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"org"`
	Key struct {
		ID       string   `json:"id"`
		ReadOnly bool     `json:"read_only"`
		Buckets  []string `json:"buckets"`
		Admin    bool     `json:"admin"`
	} `json:"key"`
	CSRF            string    `json:"csrf"`
	Expires         time.Time `json:"expires"`
	IdleTimeoutSecs int64     `json:"idle_timeout_seconds"`
}

func (s *Server) sessionBody(sess *session, k catalog.AccessKey) sessionBody {
	var b sessionBody
	b.Org.ID, b.Org.Name = sess.org.ID, sess.org.Name
	b.Key.ID, b.Key.ReadOnly, b.Key.Admin = k.ID, k.ReadOnly, isAdmin(k)
	b.Key.Buckets = append([]string{}, k.Buckets...)
	b.CSRF = sess.csrf
	b.Expires = sess.created.Add(s.cfg.MaxAge).UTC()
	b.IdleTimeoutSecs = int64(s.cfg.IdleTimeout / time.Second)
	return b
}

// isAdmin: an org administrator is a key with full access.
func isAdmin(k catalog.AccessKey) bool { return !k.ReadOnly && len(k.Buckets) == 0 }

var errBadCredentials = apiErr(http.StatusUnauthorized, "InvalidCredentials", "The access key id or the secret is wrong.")

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	// Login CSRF: another site must not sign the browser in as itself.
	if err := checkOrigin(r); err != nil {
		return err
	}
	var in struct {
		AccessKeyID string `json:"access_key_id"`
		Secret      string `json:"secret"`
	}
	if err := readJSON(r, &in, 4<<10); err != nil {
		return err
	}
	// Whatever the browser had is over: sign-in always makes a new id.
	if old := cookieValue(r); old != "" {
		s.sessions.remove(old)
	}
	k, err := s.cfg.Catalog.AccessKey(r.Context(), in.AccessKeyID)
	known := err == nil
	if err != nil && !errors.Is(err, catalog.ErrNoSuchKey) {
		return err
	}
	match := subtle.ConstantTimeCompare([]byte(in.Secret), []byte(k.Secret)) == 1
	if !known || !match || in.Secret == "" {
		s.log.Info("console sign-in refused", "access_key", logKeyID(in.AccessKeyID), "remote", r.RemoteAddr)
		return errBadCredentials
	}
	org, err := s.cfg.Catalog.Org(r.Context(), k.OrgID)
	if err != nil {
		return err
	}
	sess := s.sessions.create(k, org)
	if rw, ok := w.(*respWriter); ok {
		rw.keyID = k.ID
	}
	s.setCookie(w, r, sess.id, 0)
	s.log.Info("console sign-in", "access_key", k.ID, "org", org.ID, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, s.sessionBody(sess, k))
}

// logKeyID keeps whatever was typed as a key id out of the log unless it
// has the shape of one: people paste secrets into the wrong field.
func logKeyID(id string) string {
	if catalog.ValidAccessKeyID(id) {
		return id
	}
	return "(malformed)"
}

func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request, c *call) error {
	return writeJSON(w, http.StatusOK, s.sessionBody(c.sess, c.key))
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, c *call) error {
	s.sessions.remove(c.sess.id)
	s.setCookie(w, r, "", -1)
	s.log.Info("console sign-out", "access_key", c.key.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// authenticate finds the request's session and the key it stands for, read
// again from the catalog: a key deleted since sign-in ends its sessions.
func (s *Server) authenticate(ctx context.Context, r *http.Request, touch bool) (*session, catalog.AccessKey, error) {
	sess, ok := s.sessions.get(cookieValue(r), touch)
	if !ok {
		return nil, catalog.AccessKey{}, errUnauthenticated
	}
	k, err := s.cfg.Catalog.AccessKey(ctx, sess.key.ID)
	if err != nil {
		if errors.Is(err, catalog.ErrNoSuchKey) {
			s.sessions.removeKey(sess.key.ID)
			return nil, catalog.AccessKey{}, errUnauthenticated
		}
		return nil, catalog.AccessKey{}, err
	}
	if subtle.ConstantTimeCompare([]byte(k.Secret), []byte(sess.key.Secret)) != 1 || k.OrgID != sess.key.OrgID {
		s.sessions.removeKey(sess.key.ID)
		return nil, catalog.AccessKey{}, errUnauthenticated
	}
	return sess, k, nil
}

var errUnauthenticated = apiErr(http.StatusUnauthorized, "Unauthenticated", "Sign in first; the session has ended or never began.")
