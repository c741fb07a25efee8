package fsmount

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
)

// readdirPage is how many keys and common prefixes one catalog listing call
// returns; a directory stream holds at most one page.
const readdirPage = 1000

// dirStream streams a directory from catalog listings with delimiter "/",
// one page at a time, so a directory of any size lists in bounded memory.
type dirStream struct {
	f      *fsys
	d      *dirNode
	bucket string
	prefix string

	page  []fuse.DirEntry
	next  string // ContinueAfter for the next page
	done  bool
	errno syscall.Errno
}

func (s *dirStream) HasNext() bool {
	for len(s.page) == 0 && !s.done && s.errno == 0 {
		s.fetch()
	}
	return len(s.page) > 0 || s.errno != 0
}

func (s *dirStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.errno != 0 {
		errno := s.errno
		s.errno = 0
		s.done = true
		return fuse.DirEntry{}, errno
	}
	e := s.page[0]
	s.page = s.page[1:]
	return e, 0
}

func (s *dirStream) Close() {}

// fetch loads the next page. Names that cannot be POSIX names are skipped,
// as is the directory's own marker; a file whose name is also a directory
// (key "a" next to keys under "a/") is skipped: the directory wins.
func (s *dirStream) fetch() {
	ctx := context.Background()
	gen := s.d.changes.Load()
	res, ms, err := s.f.objs.ListManifests(ctx, s.f.orgID, s.bucket, catalog.ListOptions{
		Prefix: s.prefix, Delimiter: "/", ContinueAfter: s.next, MaxKeys: readdirPage,
	})
	if err != nil {
		s.errno = toErrno(err)
		return
	}
	remembered := make(map[string]*catalog.Manifest, len(res.Objects)+len(res.CommonPrefixes))
	pageNames(s.prefix, res, func(name string) {
		s.page = append(s.page, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
		remembered[name] = nil
	}, func(key, name string, tail bool) {
		// The directory name/ sorts after name; it may be on a later page.
		if tail {
			more, err := s.f.objs.List(ctx, s.f.orgID, s.bucket, catalog.ListOptions{Prefix: key + "/", MaxKeys: 1})
			if err == nil && len(more.Objects) > 0 {
				return
			}
		}
		typ := uint32(syscall.S_IFREG)
		if m := ms[key]; m != nil {
			typ = typeOf(m)
			remembered[name] = m
		}
		s.page = append(s.page, fuse.DirEntry{Name: name, Mode: typ})
	})
	s.d.rememberPage(s.next == "", gen, remembered)
	s.next = res.Next
	s.done = !res.IsTruncated
}
