// Package fsmount is the FUSE view of the object store: the mount root
// lists one org's buckets, each bucket is a directory, and directories
// inside a bucket are derived from "/" in keys plus zero-length "dir/"
// marker objects (the rclone/s3fs convention). It holds no object logic:
// reads, write sessions, renames and metadata changes go through the object
// layer (objects.Layer), and the catalog's change feed drives kernel cache
// invalidation, so a change made over S3 is visible in the mount when the
// S3 call returns.
//
// Node types follow go-fuse's idiom: rootNode (buckets), dirNode (a bucket
// or a prefix), fileNode (an object: regular file or symlink) and handle
// (an open file). A node's bucket and key are not stored in it; they are
// its path in go-fuse's tree, so renames move nodes with no bookkeeping.
//
// # Decisions
//
//   - Inode numbers: go-fuse's automatic numbers, unique for the mount's
//     life. A lookup of a name reuses the node already in the tree when its
//     type matches, so a path keeps its inode while the kernel knows it; a
//     number is never shared by two live paths (hashing keys would collide
//     after renames). Directory entries carry no inode number (d_ino is
//     FUSE_UNKNOWN_INO).
//   - Cache timeouts: entry, attribute and negative-entry timeouts are an
//     hour by default (Options.CacheTimeout): every change made elsewhere
//     (over S3, by another mount, on another node) reaches the kernel
//     through the feed, and the kernel knows of the changes made through
//     the mount, so the timeout only bounds staleness in the races below.
//     Long timeouts save a lookup whenever a program reaches a name again
//     (a rename's source, the directories of every path of find, du, git
//     status). The exception is a directory that exists only by the keys
//     under it (no marker, not a bucket): S3 deleting its last key sends no
//     event of the directory, so its entry and attributes keep a 1 s
//     timeout (Options.ImpliedDirTimeout).
//   - Invalidation: the feed subscriber runs inside each catalog commit. For
//     an event of another writer it asks the kernel to drop the deepest
//     cached directory entry on the key's path (NotifyEntry, NotifyDelete)
//     and the file's attributes and pages (NotifyContent), then returns, so
//     the S3 call returns after the kernel forgot. A directory on the path
//     where a name appeared or vanished, or whose marker changed, forgets
//     its attributes too (its link count and times); a directory whose
//     marker was deleted forgets its entry. Events this mount caused
//     are skipped: the kernel already knows, and notifying it from inside the
//     FUSE operation that holds the inode lock would deadlock. The mount
//     counts them: an operation causes at most one event of its key, so an
//     extra event while it runs is another writer's, committed in the same
//     instant, and it is invalidated once the operation has returned. If the kernel
//     does not take an invalidation within 200 ms (it may be waiting on a
//     lock held by a FUSE operation of this mount that itself waits for the
//     catalog), the delivery returns and the invalidation finishes in the
//     background; until it has, later deliveries queue their invalidations
//     behind it without waiting, so a held lock costs the S3 writers one
//     200 ms wait, not 200 ms each in turn. What can stay stale up to the
//     timeout: an S3 write racing a failed operation of this mount on the
//     same key (the failure caused no event, the write's is taken for the
//     mount's own), and an S3 write under a directory this mount is
//     renaming at that instant.
//   - Close-to-open: a read-only handle reads the version it opened, to the
//     end, even if the key is replaced or deleted meanwhile; a new open sees
//     the new version. The kernel's page cache is kept across opens
//     (FOPEN_KEEP_CACHE) only while the ETag is the one the cache was filled
//     from. While a file is open for writing in this mount, all its handles
//     share one write session and read its uncommitted state.
//   - Writes: a write session (objects.FileWriter) per file open for
//     writing, copy-on-write over extents with one ≤ 4 MiB buffer filling
//     and one full chunk being written in the background per file. Flush (every close) and fsync commit a new manifest in one
//     catalog transaction; a failed chunk write returns EIO/ENOSPC and the
//     previous version stays: from the failed close on, stat and new opens
//     see the last committed version (the kernel is told to drop the size
//     and pages the failed writes gave the file). Until the session ends
//     (the kernel's RELEASE, right after close), a new open for writing
//     joins the failed session and gets its error. A file created and not
//     yet closed exists only in this mount. Writes to a file unlinked while open are dropped at
//     close.
//   - Sessions and concurrent writers: an open for writing finds or starts
//     the file's session and joins it in one step under the node's lock,
//     and the last RELEASE commits and ends it under that lock, so a new
//     session starts from every commit made through this mount: processes
//     that each open, write and close one file lose nothing (O_APPEND
//     included). Writers in other mounts or over S3 replace versions whole;
//     the last commit wins.
//   - File size: at most 5 TiB (objects.MaxFileSize, S3's object limit).
//     truncate, ftruncate and fallocate past it answer EFBIG and change
//     nothing; a write at the limit EFBIG, one across it writes what fits.
//     A hole (growing truncate or fallocate, a write past the end) is one
//     zero-run extent whatever its size, read as zeros over S3 too.
//     fallocate: mode 0 grows with a hole and reserves no space,
//     KEEP_SIZE only checks the limit, other modes EOPNOTSUPP.
//   - ETags of written files: the quoted MD5 of the content when the file
//     was written in order from offset 0 (new, or opened with O_TRUNC), or
//     when it is small (≤ 8 KiB, inline); otherwise "<hex>-1", the multipart
//     form, which aws s3 sync and rclone do not compare with an MD5.
//   - Attributes: x-amz-meta-mode (decimal st_mode, s3fs; octal with a
//     leading 0, rclone, is read too), -uid, -gid (decimal), -mtime, -atime,
//     -ctime (seconds since the epoch with a fraction,
//     "1700000000.123456789": rclone's form, s3fs reads its integer part;
//     docs/format.md). They are reported exactly as stored: go-fuse's
//     filling in of 0644/0755 for mode 0 and of its UID for uid 0 is off
//     (NullPermissions, no fs.Options.UID/GID). chmod, chown and utimes are
//     committed when they return, except on a file with unwritten bytes,
//     where they go with its close.
//   - Times: mtime is -mtime, else the object's modification time; a write
//     or truncate drops -mtime, so the commit's time is the mtime again.
//     ctime is the later of -ctime, which every change that keeps the
//     content sets to now (chmod, chown, utimes, xattrs, rename, a
//     directory's entry changes), and the modification time, which every
//     content change moves: never the time utimensat asked for. atime is
//     -atime when utimensat set it, else mtime; reads do not move it (as
//     noatime: a read would otherwise be a catalog write).
//   - Directory times live on the "dir/" marker, which create, mkdir,
//     mknod, symlink, unlink, rmdir and rename update in the directories
//     they change (one more catalog write each). A directory without a
//     marker, and a bucket, report the bucket's creation time, the same in
//     every mount and after restarts, and do not move: the mount adds no
//     key S3 clients would see just to hold times. The root reports the
//     newest bucket's creation time.
//   - Link counts: a directory has 2 + subdirectories, counted by the
//     catalog in the snapshot its lookup reads anyway (catalog.Names, up to
//     catalog.SubdirScan keys stepped over; beyond, 1: "not counted", which
//     find and fts read as unknown rather than skip subdirectories). A
//     directory's count and marker are read again by the next getattr
//     after this mount changes the directory or the feed reports a change
//     under it. A file has 1, and 0 once unlinked (or replaced) while open.
//   - Owner model (owner.go; docs/service.md, "The mount's owner model"):
//     mode, uid and gid count only when a mount wrote them. A mount writes
//     all three with a seal, x-amz-meta-exc-attrs, an HMAC over the org and
//     the three values keyed with Options.AttrKey (excd derives it from the
//     master key), starting from what it showed, so it never seals values
//     an S3 client wrote. Objects without a valid seal (S3 uploads,
//     directories without a marker, buckets, the root) are owned by
//     Options.UID/GID with 0666/0777 less Options.Umask (default 077),
//     unless Options.TrustS3Attrs honours anyone's. The seal leaves out the
//     key, so renames and S3 copies keep attributes; a seal copied onto
//     other values does not match them. mtime and the symlink type bit are
//     honoured from anyone: they grant nothing. allow_other only with
//     Options.AllowOther; mounts are nosuid and nodev.
//   - xattrs: user.NAME is the user metadata NAME; the attribute keys above
//     and the seal are not xattrs (EPERM to set). Directories have none
//     (ENODATA). Other namespaces (security.*, system.posix_acl_*,
//     trusted.*): EOPNOTSUPP for every call, answered without a catalog
//     read; ls -l, told so for the first entry, stops asking for the
//     SELinux label and the ACL of the others.
//   - S3 object tags are not shown: tag keys and user metadata names share
//     no namespace in S3, and a user.* xattr for each would collide with
//     metadata of the same name. They are kept, though: writing a file in
//     place, renaming it and setting xattrs leave its tags as they were.
//   - Symlinks: an object whose content is the target and whose mode
//     metadata has S_IFLNK (as s3fs stores them). In directory listings they
//     appear as regular files until stat'ed.
//   - Hard links: EPERM. Special files (mknod of devices, fifos): EPERM.
//     renameat2's RENAME_EXCHANGE and RENAME_WHITEOUT: EINVAL. The full
//     list of what the mount does not give is in docs/design.md.
//   - Renames: a file rename is one catalog transaction replacing the target
//     (RenameObject). A directory rename moves every key under it in one
//     transaction (RenamePrefix), atomically for readers, up to 10 000 keys
//     (Options.RenameLimit); beyond, EXDEV, which makes mv(1) copy and
//     delete file by file (not atomic). Across buckets: EXDEV. Renaming a
//     bucket: EXDEV.
//   - Names: keys that do not map to a POSIX path are hidden (still
//     reachable over S3): components that are empty ("//", a leading "/"),
//     "." or "..", longer than 255 bytes, or hold NUL. The mount refuses to
//     create such a name (ENAMETOOLONG over 255 bytes, or for a key over
//     S3's 1024), and a lookup of one over 255 bytes is ENAMETOOLONG too. When a key "a" and
//     keys under "a/" both exist, the directory wins and the object "a" is
//     hidden. Nothing is renamed or deleted to resolve a clash.
//   - Empty directories: mkdir stores a "dir/" marker; removing the last
//     entry of a directory through the mount stores a marker so the
//     directory stays, as POSIX expects. Directories that exist only by the
//     keys under them vanish when those keys are deleted over S3.
//   - Listings: a directory streams one catalog page (1000 entries) at a
//     time (the next one read while the kernel takes it), keys and
//     manifests from one snapshot, and answers the lookups
//     that follow (ls -l, READDIRPLUS) from that page for up to 10 s after
//     the last page; a feed event in the directory clears it, and the
//     mount's own changes forget the names they touch. A page read while
//     an event under the directory came is not remembered.
//     READDIRPLUS is adaptive (READDIRPLUS_AUTO): the kernel asks for
//     attributes with a listing's first page, and with later pages only
//     when the program stat'ed entries since the page before, so ls -l
//     costs no lookup per entry while ls -f, find and rm -r list names
//     alone and go-fuse keeps no inode per entry they pass. Lookups that
//     miss read ahead: after a few misses in a row in one directory, a
//     lookup also lists the page after its name and remembers those files
//     the same way (a cold stat loop costs one listing per 1000 names).
//     The kernel caches listings (FOPEN_CACHE_DIR), so listing a directory
//     again costs an OPENDIR and a RELEASEDIR. It drops a listing itself on
//     every change made through this mount; for changes made elsewhere,
//     an open drops it first (NotifyContent) when the feed reported an
//     event under the directory since it was filled, when a page was read
//     while one came, when another handle was open at the time, or while
//     events wait behind an invalidation the kernel has not taken.
//   - Buckets: mkdir at the root creates a bucket (EINVAL for names S3
//     refuses), rmdir deletes an empty one (ENOTEMPTY).
//   - Reads: the mount's read-ahead window is 1 MiB (the largest FUSE
//     read), so a sequential read is one request per MiB. A handle reads
//     on with one streaming reader (objects.Object.NewReader) while reads
//     come in order; a read ahead of the stream by up to 4 MiB moves it on
//     and keeps the bytes passed over for the reads that come late (the
//     kernel's read-ahead requests arrive in any order); any other jump
//     reads just its range.
//   - Durability: as on a local filesystem, a change made through the
//     mount (create, close, rename, unlink, chmod, mkdir) is visible at once,
//     over S3 too, and durable at the next fsync(2) of any file or directory
//     of the mount, which waits for one catalog fsync covering every change
//     made before it; unsynced changes are synced in the background within
//     about a second. A chunk is durable before any commit references it,
//     so a crash of the machine can lose an unsynced change but never leave
//     a file pointing at missing data. A crash of excd alone loses nothing
//     committed: the catalog's log is a shared memory map. S3 writes, by
//     contrast, are acknowledged only once durable.
package fsmount
