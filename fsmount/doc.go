// Package fsmount will own the FUSE view of the object store: one directory
// per bucket, directories derived from "/" in keys, kernel cache invalidation
// driven by the catalog's change feed. It holds no object logic of its own;
// reads and writes go through the object layer. Not built yet (issue 4).
package fsmount
