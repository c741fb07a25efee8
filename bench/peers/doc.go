// Package peers measures excd side by side with the peers a user would
// pick instead: the FUSE mount against JuiceFS (Badger metadata, local file
// storage) and plain ext4, the S3 gateway against versitygw (posix
// backend). It builds nothing of the peers: it runs the binaries named by
// JUICEFS_BIN and VGW_BIN (docs/benchmarks.md, "Side by side with the
// peers", says how to build them), and excd built from this module.
//
// The targets take turns workload by workload, round after round (excd,
// peer, ext4, excd, ...), so a noisy minute on the shared machine lands on
// all of them; the table gives each target's median, the ratio of the
// medians and the range of the round-by-round ratios. Nothing asserts
// speed. Run, as root (FUSE, and the page cache is dropped before each cold
// measurement):
//
//	JUICEFS_BIN=$HOME/peers/juicefs VGW_BIN=$HOME/peers/versitygw \
//	  go test -run '^$' -bench SideBySide -benchtime 1x -timeout 60m ./bench/peers/
package peers
