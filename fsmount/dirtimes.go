package fsmount

import (
	"context"
	"errors"
	"maps"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// A change of a directory's entries (create, unlink, rename, mkdir, rmdir)
// moves the directory's mtime and ctime, stored on its "dir/" marker, and a
// rename moves the renamed entry's ctime. These follow-ups travel in the
// change's own catalog transaction (catalog.Touch): one commit per
// operation instead of two or three, and another mount, or S3, sees the
// entry and the times change together. A follow-up the transaction could
// not carry (the marker's stripe was busy) is made after it, in a
// transaction of its own, as it always was before; a change that fails
// makes none.

// entryChange collects the follow-ups of one change.
type entryChange struct {
	f      *fsys
	bucket string
	touch  catalog.Touch
	dirs   []*dirNode           // per key: the directory whose marker it is, nil for the renamed entry
	ends   []func(changed bool) // per key: the end of its mine registration, nil for the renamed entry
}

func (f *fsys) entryChange(bucket string) *entryChange {
	return &entryChange{f: f, bucket: bucket, touch: catalog.Touch{OrgID: f.orgID, Bucket: bucket}}
}

// dir adds the times of d (at prefix) on its marker. A directory without
// one (a bucket, or one that exists by its keys) keeps its times: the mount
// does not add keys that S3 clients would see for it.
func (c *entryChange) dir(d *dirNode, prefix string, now time.Time) {
	if prefix == "" || d.marker.Load() == nil {
		return
	}
	t := formatMtime(now)
	c.add(prefix, map[string]string{metaMtime: t, metaCtime: t}, d)
}

// entry adds the ctime of a renamed entry, under its new key (a
// directory's is its marker's): the operation writes that key itself and
// has registered it.
func (c *entryChange) entry(key string, now time.Time) {
	c.add(key, map[string]string{metaCtime: formatMtime(now)}, nil)
}

func (c *entryChange) add(key string, meta map[string]string, d *dirNode) {
	c.touch.Keys = append(c.touch.Keys, catalog.TouchKey{Key: key, Meta: meta})
	c.dirs = append(c.dirs, d)
	c.ends = append(c.ends, nil)
}

// ctx is the context of the change's catalog write, made right after:
// from here to done, the markers count as this mount's changes.
func (c *entryChange) ctx(ctx context.Context) context.Context {
	if len(c.touch.Keys) == 0 {
		return ctx
	}
	for i, d := range c.dirs {
		if d != nil {
			c.ends[i] = c.f.mineMaybe(c.bucket, c.touch.Keys[i].Key)
		}
	}
	return catalog.WithTouch(ctx, &c.touch)
}

// done ends the change: ok says whether its write committed. The
// directories' markers take what the transaction stored; follow-ups it did
// not carry are made now (ok), or not at all (!ok: nothing changed). It
// returns the renamed entry's new manifest, if the transaction stored one.
func (c *entryChange) done(ctx context.Context, ok bool) (entry *catalog.Manifest) {
	var late []int
	for i, k := range c.touch.Keys {
		if c.ends[i] != nil {
			c.ends[i](k.Done)
			c.ends[i] = nil
		}
		switch {
		case !ok:
		case !k.Done:
			late = append(late, i)
		case c.dirs[i] != nil:
			if k.Manifest != nil {
				c.dirs[i].marker.Store(k.Manifest)
			}
		default:
			entry = k.Manifest
		}
	}
	if len(late) == 0 {
		return entry
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	for _, i := range late {
		k := c.touch.Keys[i]
		m := c.f.updateMeta(ctx, c.bucket, k.Key, k.Meta)
		if c.dirs[i] != nil {
			if m != nil {
				c.dirs[i].marker.Store(m)
			}
		} else {
			entry = m
		}
	}
	return entry
}

// carry hands the change to a file's write session, whose first commit,
// the moment the file becomes visible beyond this mount, makes it: a
// create's directory times. Until then this mount shows the new times from
// the directory's node, and the commit stores what it shows: the create's
// time, or the directory's later one if an entry change since moved it (a
// file created before another but closed after it must not set the times
// back).
func (c *entryChange) carry(w *objects.FileWriter, created time.Time) {
	if len(c.touch.Keys) == 0 {
		return
	}
	for i, d := range c.dirs {
		if d == nil {
			continue
		}
		if mk := d.marker.Load(); mk != nil {
			m := *mk
			m.Meta = maps.Clone(mk.Meta)
			maps.Copy(m.Meta, c.touch.Keys[i].Meta)
			d.marker.Store(&m)
		}
	}
	w.CarryOnCommit(func(ctx context.Context) (context.Context, func(bool)) {
		for i, d := range c.dirs {
			if d == nil {
				continue
			}
			t := created
			if a := d.attrs(); a.mtime.After(t) {
				t = a.mtime
			}
			c.touch.Keys[i].Meta = map[string]string{metaMtime: formatMtime(t), metaCtime: formatMtime(t)}
		}
		cctx := c.ctx(ctx)
		return cctx, func(ok bool) { c.done(ctx, ok) }
	})
}

// updateMeta sets metadata keys on key in a transaction of its own, for a
// change already made: a failure is logged, and a missing key (a directory
// without marker) is nothing to do. It returns the stored manifest, nil if
// none.
func (f *fsys) updateMeta(ctx context.Context, bucket, key string, set map[string]string) *catalog.Manifest {
	defer f.mine(bucket, key, false)()
	m, err := f.objs.UpdateMeta(ctx, f.orgID, bucket, key, set)
	switch {
	case err == nil:
		return m
	case errors.Is(err, catalog.ErrNotFound):
	default:
		f.log.Warn("fsmount: times after an entry change", "bucket", bucket, "key", key, "err", err)
	}
	return nil
}

// touch records that an entry of the directory at prefix was created,
// removed or renamed, in a transaction of its own (a change that carries
// it uses entryChange instead): its mtime and ctime become now, on its
// marker. The change it records has been made, so a failure here is
// logged, not returned, and it does not follow the request's
// cancellation: an interrupted caller (a signal to the writer) has still
// made the change.
func (d *dirNode) touch(ctx context.Context, bucket, prefix string) {
	if prefix == "" || d.marker.Load() == nil {
		// No marker as of the last lookup (one that keepDir just stored
		// has the time of its creation).
		return
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	now := formatMtime(time.Now())
	if m := d.fsys.updateMeta(ctx, bucket, prefix, map[string]string{metaMtime: now, metaCtime: now}); m != nil {
		d.marker.Store(m)
	}
}

// detached is the context of the follow-up to a change already made (a
// directory's times, an emptied directory's marker): it does not end when
// the caller is interrupted, since the change it completes stands, but a
// stuck catalog still cannot hold a FUSE thread for good.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), followUpTimeout)
}

const followUpTimeout = 30 * time.Second
