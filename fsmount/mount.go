package fsmount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// Objects is what the mount needs of the object layer; *objects.Layer
// implements it.
type Objects interface {
	Bucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	ListBuckets(ctx context.Context, orgID string) ([]catalog.Bucket, error)
	CreateBucket(ctx context.Context, orgID, name string) (catalog.Bucket, error)
	DeleteBucket(ctx context.Context, orgID, name string) error
	Head(ctx context.Context, orgID, bucket, key string) (*catalog.Manifest, error)
	// Names answers, in one snapshot, what each key is: object, directory
	// (keys under key+"/") and its marker.
	Names(ctx context.Context, orgID, bucket string, keys ...string) ([]catalog.Name, error)
	List(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, error)
	ListManifests(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, map[string]*catalog.Manifest, error)
	Open(ctx context.Context, orgID, bucket, key string) (*objects.Object, error)
	OpenWriter(ctx context.Context, orgID, bucket, key string, truncate bool) (*objects.FileWriter, error)
	Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts objects.PutOptions) (*catalog.Manifest, error)
	Delete(ctx context.Context, orgID, bucket, key string) error
	Rename(ctx context.Context, orgID, bucket, from, to string) error
	RenamePrefix(ctx context.Context, orgID, bucket, fromPrefix, toPrefix string, limit int) (int, error)
	SetMeta(ctx context.Context, orgID, bucket, key string, meta map[string]string) (*catalog.Manifest, error)
	// UpdateMeta sets some metadata keys, keeping the others.
	UpdateMeta(ctx context.Context, orgID, bucket, key string, set map[string]string) (*catalog.Manifest, error)
	// Sync makes every change committed so far durable (fsync).
	Sync(ctx context.Context) error
}

// Feed is the catalog's change feed; *catalog.DB implements it.
type Feed interface {
	Subscribe(fn func(catalog.Event)) (cancel func())
}

// Options configure a mount.
type Options struct {
	// AllowOther lets users other than the mounting one use the mount;
	// the kernel then checks each access against the mode and owner the
	// mount shows (default_permissions). Off, only the user that mounted
	// (excd's) gets in.
	AllowOther bool
	// DataDir is where statfs reports capacity from (the daemon's data
	// directory). Empty: statfs reports the mount point's parent's.
	DataDir string
	// CacheTimeout is the kernel's entry, attribute and negative-entry
	// timeout for what the change feed invalidates: files, symlinks,
	// buckets, directories with a marker, names that do not exist. 0 means
	// an hour. Every change made elsewhere (over S3, by another mount, on
	// another node) reaches the kernel through the feed, so the timeout
	// only bounds staleness in the rare races described in the package doc.
	CacheTimeout time.Duration
	// ImpliedDirTimeout is the kernel's entry and attribute timeout for a
	// directory that exists only by the keys under it (no marker): the
	// deletion over S3 of its last key carries no event of its own, so the
	// kernel must ask again soon. 0 means 1 s.
	ImpliedDirTimeout time.Duration
	// ReadDirPlus makes the kernel ask for attributes with every page of
	// every directory listing (READDIRPLUS). Off, the default, it asks
	// adaptively (READDIRPLUS_AUTO): with the first page, and with later
	// pages when a program stats the entries it lists. See
	// docs/benchmarks.md ("FUSE mount").
	ReadDirPlus bool
	// UID and GID own objects whose attributes are not trusted (see
	// TrustS3Attrs), the buckets and the mount root.
	UID, GID uint32
	// Umask masks 0666 (files) and 0777 (directories) for the same
	// objects; nil means DefaultUmask (0600 files, 0700 directories).
	Umask *uint32
	// TrustS3Attrs honours x-amz-meta-mode, -uid and -gid whoever wrote
	// them. Off, only the ones a mount wrote (sealed with AttrKey) are.
	TrustS3Attrs bool
	// AttrKey keys the seal over attributes the mount writes; excd derives
	// it from the master key. Empty: a random key for this process, so
	// attributes written now are not trusted after a restart.
	AttrKey []byte
	// RenameLimit bounds a directory rename (0: catalog.DefaultRenameLimit).
	RenameLimit int
	// Debug logs every FUSE request.
	Debug  bool
	Logger *slog.Logger
	// Observer, if set, counts operations and failures (metrics).
	Observer Observer
	// InterruptGrace is how long an operation goes on after the calling
	// process is signalled before it is cancelled with EINTR (0:
	// DefaultInterruptGrace; see patientFS).
	InterruptGrace time.Duration
	// ServeOnly promises that the mounting process never opens a path
	// under the mount itself (excd). Mount then walks no path into the
	// mount from this process, not even go-fuse's mount-time poll probe:
	// a request from this process that a server thread has read when a
	// SIGKILL lands is waited for uninterruptibly by a thread that keeps
	// the process, and so the FUSE connection, alive: the process never
	// dies. Leave it off when this process reads its own mount (tests):
	// the probe keeps the Go runtime's poller off the mount.
	ServeOnly bool
}

// DefaultCacheTimeout is Options.CacheTimeout's default. Long timeouts
// save a lookup round trip (and the catalog read behind it) whenever a
// program reaches a name it reached before: a rename's source, the
// directories of every path in find, du, git status and make.
const DefaultCacheTimeout = time.Hour

// Server is a mounted org, serving FUSE requests until Unmount.
type Server struct {
	dir    string
	fsys   *fsys
	server *fuse.Server
	byFD   bool // mounted by mountFD: go-fuse cannot unmount it
	cancel func()
	once   sync.Once
	err    error
}

// Mount mounts the buckets of orgID at dir, which must exist. It mounts
// with the mount(2) syscall directly when it can (root: no fusermount
// needed) and falls back to fusermount otherwise.
func Mount(ctx context.Context, dir string, objs Objects, feed Feed, orgID string, opts Options) (*Server, error) {
	if opts.CacheTimeout <= 0 {
		opts.CacheTimeout = DefaultCacheTimeout
	}
	if opts.ImpliedDirTimeout <= 0 {
		opts.ImpliedDirTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DataDir == "" {
		opts.DataDir = dir + "/.."
	}
	f := newFsys(lazyObjects{objs}, orgID, opts)
	root := &rootNode{fsys: f}
	f.root = root
	t := opts.CacheTimeout
	fopts := &fs.Options{
		EntryTimeout:    &t,
		AttrTimeout:     &t,
		NegativeTimeout: &t,
		// go-fuse would otherwise report mode 0 as 0644/0755 and uid 0 as
		// its UID option: the mount reports exactly what it stores.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			AllowOther:    opts.AllowOther,
			Options:       []string{"default_permissions"},
			FsName:        "excloud:" + orgID,
			Name:          "excloud",
			MaxWrite:      1 << 20,
			MaxBackground: 64,
			DirectMount:   true,
			// READDIRPLUS, adaptive unless always asked for: the kernel
			// asks for attributes with a listing's first page, and with a
			// later page only when a program stat'ed entries of the
			// directory since the page before (ls -l, du), so ls -l needs
			// no lookup per entry while ls -f, find and rm -r list names
			// alone and go-fuse keeps no inode per entry they pass.
			ExtraCapabilities:        readdirplusAuto(opts.ReadDirPlus),
			Debug:                    opts.Debug,
			ExplicitDataCacheControl: false,
		},
	}
	// fs.Mount, with the node filesystem wrapped: interrupts wait
	// (patientFS), and operations are observed when asked for (go-fuse
	// has no per-operation hook of its own).
	var raw fuse.RawFileSystem = fs.NewNodeFS(root, fopts)
	if opts.InterruptGrace <= 0 {
		opts.InterruptGrace = DefaultInterruptGrace
	}
	raw = &patientFS{RawFileSystem: raw, grace: opts.InterruptGrace, log: opts.Logger}
	if opts.Observer != nil {
		raw = &observedFS{RawFileSystem: raw, obs: opts.Observer}
	}
	srv, byFD, err := newServer(raw, dir, &fopts.MountOptions, opts.ServeOnly)
	if err != nil {
		return nil, fmt.Errorf("fsmount: mount %s: %w", dir, err)
	}
	f.server = srv
	if err := setReadAhead(dir, readAheadKB); err != nil {
		// Not root, or no sysfs: the kernel's 128 KiB default stays.
		opts.Logger.Debug("fsmount: read-ahead window left at the kernel's default", "dir", dir, "err", err)
	}
	m := &Server{dir: dir, fsys: f, server: srv, byFD: byFD}
	m.cancel = feed.Subscribe(f.onEvent)
	return m, nil
}

// readAheadKB is the kernel's read-ahead window for the mount: the
// largest FUSE read (MaxWrite, which sets max_pages), so a sequential read
// is one request per MiB. With the default 128 KiB a cold 1 GiB read was
// 8192 requests, and the daemon spent 1.7–2.0 CPU seconds on it instead of
// 1.2–1.4 (docs/benchmarks.md).
const readAheadKB = 1 << 10

// setReadAhead sets the read-ahead window of the mount at dir, in KiB,
// through its backing device's sysfs entry (root only). The device comes
// from /proc/self/mountinfo, not a stat of dir: that would be a request to
// this very server, which a ServeOnly mount must not make.
func setReadAhead(dir string, kb int) error {
	dev, err := mountDevice(dir)
	if err != nil {
		return err
	}
	return os.WriteFile("/sys/class/bdi/"+dev+"/read_ahead_kb", []byte(strconv.Itoa(kb)), 0)
}

// mountDevice returns the "major:minor" of the newest mount at dir.
func mountDevice(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	// mountinfo names the mount point with symlinks resolved; only the
	// parent is resolved here, which lies outside the mount.
	if parent, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(parent, filepath.Base(abs))
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	dev := ""
	for l := range strings.Lines(string(b)) {
		// id parent major:minor root mountpoint ...; spaces and other
		// special bytes in paths are octal escapes ("\040").
		f := strings.Fields(l)
		if len(f) >= 5 && unescapeMountinfo(f[4]) == abs {
			dev = f[2]
		}
	}
	if dev == "" {
		return "", fmt.Errorf("fsmount: %s not in /proc/self/mountinfo", abs)
	}
	return dev, nil
}

// unescapeMountinfo undoes the kernel's octal escapes of a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readdirplusAuto is the capability that makes the kernel choose when to
// ask for READDIRPLUS, unless always is set.
func readdirplusAuto(always bool) uint64 {
	if always {
		return 0
	}
	return fuse.CAP_READDIRPLUS_AUTO
}

// Dir is the mount point.
func (m *Server) Dir() string { return m.dir }

// Unmount commits pending writes, stops invalidation and unmounts. If the
// mount is busy (a process has a file or directory open in it), it is
// detached lazily (MNT_DETACH): it disappears from the namespace now and
// goes away when the last user leaves. Safe to call more than once.
func (m *Server) Unmount() error {
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		syncErr := m.fsys.syncAll(ctx)
		m.cancel()
		var err error
		if m.byFD {
			err = unmountFD(m.dir)
		} else {
			err = m.server.Unmount()
		}
		if err != nil {
			if derr := syscall.Unmount(m.dir, syscall.MNT_DETACH); derr != nil {
				m.err = fmt.Errorf("fsmount: unmount %s: %w (lazy: %v)", m.dir, err, derr)
				return
			}
			err = nil
		} else {
			m.server.Wait()
		}
		m.err = errors.Join(syncErr, err)
	})
	return m.err
}
