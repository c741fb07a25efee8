package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"excloud.dev/buckets/s3gw"
)

// Defaults of the bound on the S3 listener's open connections
// (Config.MaxConns, Config.MaxConnsPerSource).
const (
	defaultMaxConns          = 8192
	defaultMaxConnsPerSource = 1024
	// maxRefusing bounds the connections being refused at once: each is
	// kept until its first request is answered 503 SlowDown (or
	// ReadHeaderTimeout passes), so a flood cannot turn refusals into
	// the unbounded resource the limit exists to prevent. Past it, new
	// connections over the limit are closed without an answer.
	maxRefusing = 64
)

// connLimiter bounds the open connections of the S3 listener, in total and
// per source (an IPv4 address, or an IPv6 /64, which one client usually
// has whole). A connection over either bound is still accepted, but only
// to answer its first request 503 SlowDown and close; it does not count
// against the bounds, so one source's excess cannot crowd out the others.
type connLimiter struct {
	total, perSource int // 0: no bound

	mu       sync.Mutex
	open     int
	bySource map[string]int
	refusing int
}

func newConnLimiter(total, perSource int) *connLimiter {
	return &connLimiter{total: total, perSource: perSource, bySource: map[string]int{}}
}

// listener wraps ln so that every accepted connection is counted until it
// is closed.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

// admit counts a new connection from src, or says why it is refused
// (why != ""). answer=false means: refused, and so many refusals are under
// way that this one gets no answer, only a close.
func (l *connLimiter) admit(src string) (why string, answer bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.perSource > 0 && l.bySource[src] >= l.perSource:
		why = fmt.Sprintf("Too many connections from your address (%s): at most %d at once; close idle ones or retry later.", src, l.perSource)
	case l.total > 0 && l.open >= l.total:
		why = fmt.Sprintf("Too many connections to this server: at most %d at once; retry later.", l.total)
	default:
		l.open++
		l.bySource[src]++
		return "", true
	}
	if l.refusing >= maxRefusing {
		return why, false
	}
	l.refusing++
	return why, true
}

// release undoes admit for a connection that closed.
func (l *connLimiter) release(src string, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if refused {
		l.refusing--
		return
	}
	l.open--
	if l.bySource[src]--; l.bySource[src] == 0 {
		delete(l.bySource, src)
	}
}

// sourceOf is the key a connection's peer is counted under.
func sourceOf(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if v4 := ta.IP.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ta.IP.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

type limitListener struct {
	net.Listener
	l *connLimiter
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		why, answer := ll.l.admit(src)
		if !answer {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: ll.l, src: src, refusal: why}, nil
	}
}

// limitedConn is a counted connection; Close releases its place once.
type limitedConn struct {
	net.Conn
	l       *connLimiter
	src     string
	refusal string // why it is refused; "" when admitted
	once    sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.src, c.refusal != "") })
	return c.Conn.Close()
}

// connContext is the S3 server's ConnContext: a refused connection's
// requests are answered by the gateway with 503 SlowDown (s3gw.Refuse).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok && lc.refusal != "" {
		return s3gw.Refuse(ctx, lc.refusal)
	}
	return ctx
}

// connBound maps a Config value (0: default, < 0: none) to the limiter's
// (0: none).
func connBound(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
