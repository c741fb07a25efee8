package objects

import (
	"context"

	"excloud.dev/buckets/catalog"
)

// manifestLister is the optional part of Catalog that lists a page with its
// manifests; *catalog.DB implements it.
type manifestLister interface {
	ListManifests(ctx context.Context, bucketID uint64, o catalog.ListOptions) (catalog.ListResult, map[string]*catalog.Manifest, error)
}

// ListManifests returns one page of a bucket's keys with the manifest of
// each object on it, from one catalog snapshot. A catalog without the
// method falls back to List plus a lookup per object.
func (l *Layer) ListManifests(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, map[string]*catalog.Manifest, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return catalog.ListResult{}, nil, err
	}
	if ml, ok := l.meta.(manifestLister); ok {
		return ml.ListManifests(ctx, b.ID, opts)
	}
	res, err := l.meta.List(ctx, b.ID, opts)
	if err != nil {
		return res, nil, err
	}
	ms := make(map[string]*catalog.Manifest, len(res.Objects))
	for _, e := range res.Objects {
		if m, err := l.meta.Object(ctx, b.ID, e.Key); err == nil {
			ms[e.Key] = m
		}
	}
	return res, ms, nil
}
